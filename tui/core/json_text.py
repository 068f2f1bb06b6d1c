"""JSON as text: where a member's value sits, offsets as lines and columns, control characters made visible.

The workflow model reads JSON as data; the editor and the error messages also need the *text*: the line and
column of a node for a message, the exact span of one input's literal so a form edit replaces only that literal
(the user's layout, cursor and undo history survive), and a text that is safe to put on a terminal.
"""

from __future__ import annotations

import json
import re

_WHITESPACE = " \t\n\r\ufeff"  # JSON's whitespace, and a byte-order mark some editors leave at the start

# What must not reach a terminal raw (see tui/core/safe_text.py): C0 controls but tab and line feed, DEL, C1
# controls, bidirectional overrides and isolates. A carriage return is kept only as part of a CRLF line end.
_UNSAFE_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")

Member = tuple[str, int, int, int]  # (key, key offset, value start, value end)


def _skip_whitespace(text: str, position: int) -> int:
    length = len(text)
    while position < length and text[position] in _WHITESPACE:
        position += 1
    return position


def object_members(text: str, start: int = 0) -> list[Member]:
    """``(key, key_offset, value_start, value_end)`` of each member of the JSON object at ``start``.

    Stops at the first thing that is not JSON (the members before it are returned); [] when ``start`` is not at
    an object. Positions are a courtesy to the user, so a scan never raises.
    """
    decoder = json.JSONDecoder()
    members: list[Member] = []
    try:
        position = _skip_whitespace(text, start)
        if text[position] != "{":
            return members
        position = _skip_whitespace(text, position + 1)
        while text[position] == '"':
            key_offset = position
            key, position = decoder.raw_decode(text, position)
            position = _skip_whitespace(text, position)
            if text[position] != ":":
                break
            value_start = _skip_whitespace(text, position + 1)
            _, value_end = decoder.raw_decode(text, value_start)
            members.append((str(key), key_offset, value_start, value_end))
            position = _skip_whitespace(text, value_end)
            if text[position] != ",":
                break
            position = _skip_whitespace(text, position + 1)
    except (ValueError, IndexError, RecursionError):
        pass
    return members


def last_member(members: list[Member], key: str) -> Member | None:
    """The member named ``key``; the last one when the key repeats (JSON keeps the last of duplicate keys)."""
    found = None
    for member in members:
        if member[0] == key:
            found = member
    return found


def input_member(text: str, node_id: str, input_name: str | None = None) -> Member | None:
    """The member of node ``node_id`` in a workflow's JSON text, or of its input ``input_name`` when given."""
    node = last_member(object_members(text), node_id)
    if node is None or input_name is None:
        return node
    inputs = last_member(object_members(text, node[2]), "inputs")
    if inputs is None:
        return None
    return last_member(object_members(text, inputs[2]), input_name)


def find_input_value_span(text: str, node_id: str, input_name: str) -> tuple[int, int] | None:
    """Offsets ``(start, end)`` of the literal of ``node_id.inputs.input_name`` in the JSON ``text``, or None."""
    member = input_member(text, node_id, input_name)
    return (member[2], member[3]) if member is not None else None


def offset_to_location(text: str, offset: int) -> tuple[int, int]:
    """A character offset in ``text`` as ``(row, column)``, both from 0 (a TextArea location)."""
    row = text.count("\n", 0, offset)
    return row, offset - (text.rfind("\n", 0, offset) + 1)


def line_column(text: str, offset: int) -> tuple[int, int]:
    """A character offset in ``text`` as ``(line, column)``, both from 1 (what messages say)."""
    row, column = offset_to_location(text, offset)
    return row + 1, column + 1


def has_unsafe_characters(text: str) -> bool:
    return _UNSAFE_IN_TEXT.search(text) is not None


def escape_unsafe_characters(text: str) -> str:
    """``text`` with every character that could steer a terminal written as a JSON escape (ESC as ``\\u001b``).

    Inside a JSON string the escape means the same character, so the parsed JSON is unchanged (and a raw control
    character, which strict JSON refuses, becomes the escape it should have been); outside a string such a
    character was not JSON before and is not after. Line breaks and tabs are kept: they are the text's layout.
    """
    return _UNSAFE_IN_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
