"""JSON as text: member spans and positions, and control characters escaped without changing the JSON."""

from __future__ import annotations

import json

from tui.core.json_text import (
    escape_unsafe_characters,
    has_unsafe_characters,
    input_member,
    line_column,
    object_members,
    offset_to_location,
)


def test_members_give_key_and_value_spans_and_stop_at_broken_json() -> None:
    text = '\ufeff{ "a" : 1, "b": {"c": [1, 2]}, "d": oops }'
    members = object_members(text)
    assert [(key, text[start:end]) for key, _, start, end in members] == [("a", "1"), ("b", '{"c": [1, 2]}')]
    assert text[members[1][1]] == '"'  # the key's own offset
    assert object_members("[1, 2]") == [] and object_members("") == []


def test_input_member_finds_the_last_duplicate_and_positions_count_from_zero_or_one() -> None:
    text = '{\n "3": {"inputs": {"s": 1}},\n "3": {"inputs": {"s": 2}}\n}'
    member = input_member(text, "3", "s")
    assert member is not None and text[member[2] : member[3]] == "2"
    assert offset_to_location(text, member[2]) == (2, 23) and line_column(text, member[2]) == (3, 24)
    assert input_member(text, "9") is None and input_member(text, "3", "nope") is None


def test_escaping_keeps_the_meaning_of_every_string_and_leaves_layout_alone() -> None:
    raw = '{\n\t"k": "a\x1b]52;c;eA==\x07 \x9b31m \u202e \x7f \r x",\r\n "n": 1\n}'
    escaped = escape_unsafe_characters(raw)
    assert has_unsafe_characters(raw) and not has_unsafe_characters(escaped)
    assert json.loads(escaped) == json.loads(raw, strict=False)
    assert "\\u001b]52" in escaped and "\\u009b31m" in escaped and "\\u202e" in escaped and "\\u000d x" in escaped
    assert escaped.startswith('{\n\t"k"') and '",\r\n "n"' in escaped  # tabs, line feeds and CRLF stay as they are
    assert escape_unsafe_characters("plain ✔ text") == "plain ✔ text"
