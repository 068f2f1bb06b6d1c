"""Asking the terminal a question before the app owns it, without losing the keys the user types meanwhile.

Only a terminal nobody reads yet can be asked what it supports (tui/widgets/image_protocol.py asks for the preview's
drawing protocol before the app starts). A key typed during the question arrives mixed with the answer: it must not
be taken for a wrong answer and dropped — textual-image's own reader did, and the terminal's late answer
(ESC [ ? 1 ; 2 c) then reached the app as keys: `q` pressed during start-up opened the help. `ask_terminal` keeps
every byte that is not the answer; the terminal driver (tui/terminal_driver.py) parses them before reading stdin.

No Textual here: this runs before the app, and the driver imports it.
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
import tty
from dataclasses import dataclass

# The device-attributes answer (DA1): every terminal sends one, after the answers to what was asked before it.
_DA1_ANSWER = re.compile(rb"\x1b\[\?([0-9;]*)c")
_CELL_PIXELS_ANSWER = re.compile(rb"\x1b\[6;([0-9]+);([0-9]+)t")
ANSWER_SECONDS = 0.1

_typed_ahead = b""


@dataclass(frozen=True)
class TerminalAnswers:
    attributes: tuple[str, ...] | None  # DA1's figures ("4": Sixel); None when the terminal did not answer in time
    cell_pixels: tuple[int, int] | None  # a cell's width and height in pixels, when asked and answered
    typed_ahead: bytes  # what else was read meanwhile: keys the user typed before the app started


def ask_terminal(fd: int, *, cell_size: bool, timeout: float = ANSWER_SECONDS) -> TerminalAnswers:
    """Ask the terminal on `fd` (a tty nobody reads yet) for its device attributes, and a cell's size in pixels if
    `cell_size`; keep every other byte read meanwhile — keys typed before the app started — for the app.

    DA1 is asked last: terminals answer in order, so its answer says every answer is in."""
    old = termios.tcgetattr(fd)
    data = b""
    da1 = None
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # no echo, no line editing: the answers and keys are read as they come
        os.write(fd, (b"\x1b[16t" if cell_size else b"") + b"\x1b[c")
        deadline = time.monotonic() + timeout
        while (da1 := _DA1_ANSWER.search(data)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                break
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            data += chunk
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)  # TCSANOW: what is still unread stays for the app
    attributes = None
    if da1 is not None:
        attributes = tuple(da1.group(1).decode().split(";"))
        data = data[: da1.start()] + data[da1.end() :]
    pixels = _CELL_PIXELS_ANSWER.search(data)
    cell = None
    if pixels is not None:
        cell = (int(pixels.group(2)), int(pixels.group(1)))
        data = data[: pixels.start()] + data[pixels.end() :]
    return TerminalAnswers(attributes, cell, data)


def keep_typed_ahead(typed: bytes) -> None:
    """Hold keys read while the terminal was asked, for the terminal driver."""
    global _typed_ahead
    _typed_ahead += typed


def take_typed_ahead() -> bytes:
    """The keys read while the terminal was asked, once (the terminal driver parses them before reading stdin)."""
    global _typed_ahead
    typed, _typed_ahead = _typed_ahead, b""
    return typed
