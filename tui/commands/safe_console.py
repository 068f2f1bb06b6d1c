"""The CLI's consoles and plain prints, with every text they write passed through `safe_text.visible`.

The CLI prints job fields (file names, node ids, error text) that a service sent. Each printing site escapes them
itself, but a site forgotten (or added later) must not let an OSC 52 or a cursor move through: `SafeConsole` also
escapes the text of every segment it renders (rich's own styles and cursor controls are segments' styles and
control codes, which are left alone), and `say` does the same for plain prints.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

from rich.console import Console
from rich.segment import Segment

from tui.core.safe_text import visible


class SafeConsole(Console):
    """A rich Console whose text cannot steer the terminal: control characters in text are shown as escapes.

    `trim_line_ends`: no line ends in spaces. For a pipe or a file, which has no width: rich pads each cell of a
    grid to its column's width, so one long value made every line of `comfyq show` as long, in spaces."""

    def __init__(self, *args: Any, trim_line_ends: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trim_line_ends = trim_line_ends

    # Console.print names its fifteen keyword arguments; they are passed on untouched, so the override takes them as
    # **kwargs rather than repeating the list (hence the ignore).
    def print(self, *objects: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Plain strings are escaped before rich makes Text of them (rich would silently drop a carriage return
        # or a backspace, hiding what the service sent).
        super().print(*(visible(item, keep_newlines=True) if isinstance(item, str) else item for item in objects),
                      **kwargs)

    def on_broken_pipe(self) -> None:
        # rich exits 1 here; a reader that went away (`comfyq show ID | head`) ends the command quietly with 141,
        # as `jobs` does: tui.cli handles the BrokenPipeError.
        self.quiet = True
        raise BrokenPipeError

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # The one hook every print, Live refresh and table passes through. Control segments (cursor moves of a
        # Live display) are rich's own; only text segments come from data.
        safe = (
            segment if segment.control or segment.text.isprintable() else
            Segment(visible(segment.text, keep_newlines=True), segment.style, segment.control)
            for segment in buffer
        )
        text = super()._render_buffer(safe)
        if self.trim_line_ends:
            text = "\n".join(line.rstrip(" ") for line in text.split("\n"))
        return text


def say(*parts: Any, file: IO[str] | None = None, end: str = "\n") -> None:
    """`print` for messages that may quote outside text: each part is made visible (line breaks kept)."""
    stream = file if file is not None else sys.stdout
    stream.write(" ".join(visible(part, keep_newlines=True) for part in parts) + end)
    stream.flush()
