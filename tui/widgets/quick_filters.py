"""The quick filters above the job table: All / Active / Failed / Done, each with its live count.

One line drawn by one widget (not Textual's Tabs: a Tabs is eight widgets, and changing a tab label asks for a
layout pass of the whole screen — at several count updates a second that cost more than the job table itself).
A count change only repaints this line. Keys 1–4 (the screen's bindings) or a click pick a filter.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from tui.widgets.choice_row import ChoiceRow


class QuickFilterBar(ChoiceRow):
    """Filter keys with their labels; `set_counts` puts a number beside each; `active` is the chosen key."""

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

    class Chosen(ChoiceRow.Chosen):
        """The user clicked a filter."""

    def __init__(self, filters: Mapping[str, str], *, active: str, id: str | None = None) -> None:
        super().__init__(filters, active=active, id=id)
        self._counts: dict[str, int] = {}
        self._drawn: list[tuple[int, int, str]] = []  # where render() put each label

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """New counts; repaints only when one changed."""
        if dict(counts) != self._counts:
            self._counts = dict(counts)
            self.refresh()

    def labels(self) -> list[str]:
        """What each filter shows, e.g. ["All 12", "Active 3", ...] (tests and the palette read these)."""
        return [self._label(key) for key in self._labels]

    def _label(self, key: str) -> str:
        count = self._counts.get(key)
        return self._labels[key] if count is None else f"{self._labels[key]} {count}"

    def _spans(self) -> list[tuple[int, int, str]]:
        return self._drawn

    def render(self) -> Text:
        active_style = self.get_component_rich_style("quick-filters--active")
        key_style = self.get_component_rich_style("quick-filters--key", partial=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        spans: list[tuple[int, int, str]] = []
        for number, key in enumerate(self._labels, 1):
            start = len(text)
            text.append(f" {number}", style=key_style)  # the key that picks it
            label = f" {self._label(key)} "
            text.append(label, style=active_style if key == self._active else "")
            spans.append((start, len(text), key))
            text.append(" ")
        self._drawn = spans
        return text
