"""Asking the terminal what it can draw, before the app starts, keeps the keys the user typed meanwhile.

textual-image's reader took a typed-ahead key for a wrong answer: the key was lost, and the terminal's answer
(ESC [ ? 1 ; 2 c) then reached the app as the keys `[ ? 1 ; 2 c` — `q` typed during start-up opened the help."""

from __future__ import annotations

import os
import pty
import threading
import time

from tui.terminal_answers import ask_terminal


def _answering_terminal(master: int, answer: bytes, typed_during: bytes = b"") -> threading.Thread:
    """A terminal on `master`: reads the questions, then answers (with keys typed in between)."""

    def run() -> None:
        asked = b""
        while not asked.endswith(b"\x1b[c"):
            asked += os.read(master, 64)
        os.write(master, typed_during + answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_keys_typed_before_and_during_the_question_are_kept_and_the_answer_is_not_a_key() -> None:
    master, slave = pty.openpty()
    try:
        os.write(master, b"q")  # typed before the app started
        time.sleep(0.05)
        terminal = _answering_terminal(master, b"\x1b[6;18;9t\x1b[?62;4;22c", typed_during=b"x")
        answers = ask_terminal(slave, cell_size=True, timeout=2.0)
        terminal.join(2)
        assert answers.attributes == ("62", "4", "22")  # Sixel ("4")
        assert answers.cell_pixels == (9, 18)
        assert answers.typed_ahead == b"qx"
    finally:
        os.close(master)
        os.close(slave)


def test_a_terminal_that_does_not_answer_loses_no_key() -> None:
    master, slave = pty.openpty()
    try:
        os.write(master, b"\x1b[Aq")  # ↑ then q, typed ahead
        time.sleep(0.05)
        answers = ask_terminal(slave, cell_size=False, timeout=0.1)
        assert answers.attributes is None and answers.cell_pixels is None
        assert answers.typed_ahead == b"\x1b[Aq"
    finally:
        os.close(master)
        os.close(slave)
