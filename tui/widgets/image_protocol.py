"""Which way textual-image draws previews here: Kitty graphics (TGP), Sixel, or Unicode half-blocks.

Only a terminal nobody reads yet can be asked what it supports, so `detect_before_start()` runs before the app
(tui/commands/ui.py). It asks the cheap way (textual-image's own terminal helper: the cell size, and the DA1
device-attributes answer, where "4" means Sixel) instead of importing textual-image's renderers, which pull in
numpy (~0.2 s) — the app's start must not pay for a preview nobody may open. The renderers are imported later, in
the preview's worker thread; their own import-time terminal queries are skipped then (they would read the keys
Textual is reading), since the answer is known already.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, TextIO, cast

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
        from textual_image._terminal import capture_terminal_response, get_cell_size

        get_cell_size()  # cached by textual-image for its widgets
        if os.environ.get("KITTY_WINDOW_ID") or os.environ.get("TERM") == "xterm-kitty":
            # textual-image's Kitty placement (Unicode placeholders) works in Kitty itself; wezterm/Konsole claim
            # the protocol but draw Sixel better, which the DA1 answer below finds.
            _protocol = KITTY
            return _protocol
        with capture_terminal_response(start_marker="\x1b[?", end_marker="c", timeout=0.1) as response:
            sys.__stdout__.write("\x1b[c")
            sys.__stdout__.flush()
        attributes = response.sequence[len("\x1b[?") : -len("c")].split(";")
        if "4" in attributes:
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
