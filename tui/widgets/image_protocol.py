"""Which way textual-image draws previews here: Kitty graphics (TGP), Sixel, or Unicode half-blocks.

Only a terminal nobody reads yet can be asked what it supports, so `detect_before_start()` runs before the app
(tui/commands/ui.py). It asks the cheap way (the DA1 device-attributes answer, where "4" means Sixel, and the
cell size in pixels where the window size does not say it; keys typed meanwhile are kept for the app) instead of
importing textual-image's renderers, which pull in numpy (~0.2 s) — the app's start must not pay for a preview nobody may open. The renderers are imported later, in
the preview's worker thread; their own import-time terminal queries are skipped then (they would read the keys
Textual is reading), since the answer is known already.
"""

from __future__ import annotations

import os
import re
import select
import sys
import termios
import threading
import time
import tty
from dataclasses import dataclass
from typing import Any, TextIO, cast

KITTY = "tgp"
SIXEL = "sixel"
HALF_BLOCKS = "halfcell"

_protocol: str | None = None
_import_lock = threading.Lock()


# The device-attributes answer (DA1): every terminal sends one, after the answers to what was asked before it.
_DA1_ANSWER = re.compile(rb"\x1b\[\?([0-9;]*)c")
_CELL_PIXELS_ANSWER = re.compile(rb"\x1b\[6;([0-9]+);([0-9]+)t")
_ANSWER_SECONDS = 0.1

_typed_ahead = b""


@dataclass(frozen=True)
class TerminalAnswers:
    attributes: tuple[str, ...] | None  # DA1's figures ("4": Sixel); None when the terminal did not answer in time
    cell_pixels: tuple[int, int] | None  # a cell's width and height in pixels, when asked and answered
    typed_ahead: bytes  # what else was read meanwhile: keys the user typed before the app started


def ask_terminal(fd: int, *, cell_size: bool, timeout: float = _ANSWER_SECONDS) -> TerminalAnswers:
    """Ask the terminal on `fd` (a tty nobody reads yet) for its device attributes, and a cell's size in pixels if
    `cell_size`; keep every other byte read meanwhile — keys typed before the app started — for the app.

    textual-image's own reader took a key typed ahead for a wrong answer: the key was lost and the terminal's
    late answer (ESC [ ? 1 ; 2 c) reached the app as keys — `q` pressed during start-up opened the help screen.
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


def take_typed_ahead() -> bytes:
    """The keys read while the terminal was asked, once (the terminal driver parses them before reading stdin)."""
    global _typed_ahead
    typed, _typed_ahead = _typed_ahead, b""
    return typed


def detect_before_start() -> str:
    """Ask the terminal (before Textual owns it); remember and return the protocol."""
    global _protocol, _typed_ahead
    _protocol = HALF_BLOCKS
    if not (sys.__stdout__ and sys.__stdout__.isatty() and sys.stdin.isatty()):
        return _protocol
    try:
        from textual_image._terminal import CellSize, get_cell_size, get_tiocgwinsz

        rows, columns, width, height = get_tiocgwinsz()
        kitty = bool(os.environ.get("KITTY_WINDOW_ID") or os.environ.get("TERM") == "xterm-kitty")
        pixels_known = bool(width and height and rows and columns)
        answers = ask_terminal(sys.stdin.fileno(), cell_size=not pixels_known)
        _typed_ahead += answers.typed_ahead
        if pixels_known:
            get_cell_size()  # from the window size; cached by textual-image for its widgets
        else:
            # Into textual-image's cache, so it never asks itself (its reader loses keys typed ahead); VT340's
            # cell where the terminal did not say, as textual-image assumes.
            setattr(get_cell_size, "_result", CellSize(*(answers.cell_pixels or (10, 20))))
        if kitty:
            # textual-image's Kitty placement (Unicode placeholders) works in Kitty itself; wezterm/Konsole claim
            # the protocol but draw Sixel better, which the DA1 answer finds.
            _protocol = KITTY
        elif answers.attributes is not None and "4" in answers.attributes:
            _protocol = SIXEL
    except Exception:  # noqa: BLE001 - a terminal that does not answer gets half-blocks
        pass
    return _protocol


def protocol() -> str:
    return _protocol or HALF_BLOCKS


class _NotATerminal:
    """Stands in for sys.__stdout__ while textual-image is imported, so it asks the terminal nothing."""

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


def image_widget_class() -> type:
    """The textual-image widget class for the protocol found (imports textual-image: call it off the UI thread)."""
    with _import_lock:
        if "textual_image.widget" not in sys.modules:
            real = sys.__stdout__
            # sys.__stdout__ is typed as a TextIO; the stand-in answers what textual-image asks of it.
            sys.__stdout__ = cast(TextIO, _NotATerminal())
            try:
                import textual_image.widget  # noqa: F401
            finally:
                sys.__stdout__ = real
        from textual_image.widget import HalfcellImage, SixelImage, TGPImage

    return {KITTY: TGPImage, SIXEL: SixelImage}.get(protocol(), HalfcellImage)
