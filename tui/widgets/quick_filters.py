"""The quick filters above the job table: All / Active / Failed / Done, each with its live count.

One line drawn by one widget (not Textual's Tabs: a Tabs is eight widgets, and changing a tab label asks for a
layout pass of the whole screen — at several count updates a second that cost more than the job table itself).
A count change only repaints this line. Keys 1–4 (the screen's bindings) or a click pick a filter.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget


class QuickFilterBar(Widget):
    """`filters` maps a key to its label; `set_counts` puts a number beside each; `active` is the chosen key."""

    DEFAULT_CSS = """
    QuickFilterBar {
        height: 1;
        width: 1fr;
        color: $text-muted;
    }
    QuickFilterBar > .quick-filters--active {
        color: $text;
        background: $accent 30%;
        text-style: bold;
    }
    QuickFilterBar > .quick-filters--key {
        color: $text-muted;
        text-style: dim;
    }
    """

    COMPONENT_CLASSES = {"quick-filters--active", "quick-filters--key"}

    class Chosen(Message):
        """The user clicked a filter."""

        def __init__(self, bar: QuickFilterBar, key: str) -> None:
            super().__init__()
            self.bar = bar
            self.key = key

        @property
        def control(self) -> QuickFilterBar:
            return self.bar

    def __init__(self, filters: Mapping[str, str], *, active: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self._filters = dict(filters)
        self._counts: dict[str, int] = {}
        self._active = active
        self._spans: list[tuple[int, int, str]] = []  # (start x, end x, key) of each label, for clicks

    @property
    def active(self) -> str:
        return self._active

    @active.setter
    def active(self, key: str) -> None:
        if key not in self._filters:
            raise ValueError(f"no quick filter {key!r}")
        if key != self._active:
            self._active = key
            self.refresh()

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """New counts; repaints only when one changed."""
        if dict(counts) != self._counts:
            self._counts = dict(counts)
            self.refresh()

    def labels(self) -> list[str]:
        """What each filter shows, e.g. ["All 12", "Active 3", ...] (tests and the palette read these)."""
        return [self._label(key) for key in self._filters]

    def _label(self, key: str) -> str:
        count = self._counts.get(key)
        return self._filters[key] if count is None else f"{self._filters[key]} {count}"

    def render(self) -> Text:
        active_style = self.get_component_rich_style("quick-filters--active")
        key_style = self.get_component_rich_style("quick-filters--key", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        spans: list[tuple[int, int, str]] = []
        for number, key in enumerate(self._filters, 1):
            start = len(text)
            text.append(f" {number}", style=key_style)  # the key that picks it
            label = f" {self._label(key)} "
            text.append(label, style=active_style if key == self._active else "")
            spans.append((start, len(text), key))
            text.append(" ")
        self._spans = spans
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.post_message(self.Chosen(self, key))
                return
