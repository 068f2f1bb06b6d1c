"""Which way textual-image draws previews here: Kitty graphics (TGP), Sixel, or Unicode half-blocks.

Only a terminal nobody reads yet can be asked what it supports, so `detect_before_start()` runs before the app
(tui/commands/ui.py). It asks the cheap way (the DA1 device-attributes answer, where "4" means Sixel, and the
cell size in pixels where the window size does not say it, through tui/terminal_answers.py, which keeps the keys
typed meanwhile for the app) instead of importing textual-image's renderers, which pull in numpy (~0.2 s) — the
app's start must not pay for a preview nobody may open. The renderers are imported later, in the preview's worker
thread; their own import-time terminal queries are skipped then (they would read the keys
Textual is reading), since the answer is known already.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, TextIO, cast

from tui.terminal_answers import ask_terminal, keep_typed_ahead

KITTY = "tgp"
SIXEL = "sixel"
HALF_BLOCKS = "halfcell"

_protocol: str | None = None
_import_lock = threading.Lock()


def detect_before_start() -> str:
    """Ask the terminal (before Textual owns it); remember and return the protocol."""
    global _protocol
    _protocol = HALF_BLOCKS
    if not (sys.__stdout__ and sys.__stdout__.isatty() and sys.stdin.isatty()):
        return _protocol
    try:
        from textual_image._terminal import CellSize, get_cell_size, get_tiocgwinsz

        rows, columns, width, height = get_tiocgwinsz()
        kitty = bool(os.environ.get("KITTY_WINDOW_ID") or os.environ.get("TERM") == "xterm-kitty")
        pixels_known = bool(width and height and rows and columns)
        answers = ask_terminal(sys.stdin.fileno(), cell_size=not pixels_known)
        keep_typed_ahead(answers.typed_ahead)
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
