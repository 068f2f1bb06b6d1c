"""The sanitizing boundary: nothing a service sends can steer the terminal, and what it sent stays readable."""

from __future__ import annotations

import pytest

from tui.core.safe_text import visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("ComfyUI_00001_.png", "ComfyUI_00001_.png"),
        ("\x1b]52;c;ZWNobyBQV05FRAo=\x1b\\\x1b[2K\rinnocent.png",
         "\\x1b]52;c;ZWNobyBQV05FRAo=\\x1b\\\\x1b[2K\\x0dinnocent.png"),
        ("bell\x07", "bell\\x07"),
        ("c1\x9b31m", "c1\\x9b31m"),
        ("del\x7f", "del\\x7f"),
        ("abc\u202egnp.exe", "abc\\u202egnp.exe"),
        ("lone\ud800", "lone\\ud800"),
        ("two\nlines\tand tab", "two\\x0alines\\x09and tab"),
        ("画像_ü.png", "画像_ü.png"),
        (42, "42"),
    ],
)
def test_control_characters_are_shown_not_sent(raw: object, shown: str) -> None:
    assert visible(raw) == shown


def test_blocks_keep_their_lines_but_not_cursor_moves() -> None:
    assert visible("Traceback:\n\tline\r\x1b[1A", keep_newlines=True) == "Traceback:\n\tline\\x0d\\x1b[1A"


def test_the_result_is_always_encodable() -> None:
    visible("x\udcff\ud800y").encode("utf-8")
