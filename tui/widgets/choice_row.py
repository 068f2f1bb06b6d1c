"""A row of labels drawn by one widget, one of them chosen: what the quick filters and the editor's tabs share.

Subclasses draw the row (`render`) and say where each label sits (`_spans`); this class keeps the labels and the
chosen key, turns a click into a choice, and posts the subclass's `Chosen` when the user picks one (setting
`active` from code posts nothing). One widget instead of Textual's Tabs: a widget per label, and a relabel asked for
a layout pass of the whole screen.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.events import Click
from textual.message import Message
from textual.widget import Widget


class ChoiceRow(Widget):
    """`labels` maps a key to the text shown for it; `active` is the chosen key."""

    ALLOW_SELECT = False

    class Chosen(Message):
        """The user picked `key`. Each subclass declares its own (so handlers tell the rows apart)."""

        def __init__(self, row: ChoiceRow, key: str) -> None:
            super().__init__()
            self.row = row
            self.key = key

        @property
        def control(self) -> ChoiceRow:
            return self.row

    def __init__(self, labels: Mapping[str, str], *, active: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels = dict(labels)  # key -> label
        self._active = active

    @property
    def active(self) -> str:
        return self._active

    @active.setter
    def active(self, key: str) -> None:
        if key not in self._labels:
            raise ValueError(f"no choice {key!r}")
        if key != self._active:
            self._active = key
            self.refresh()

    def _spans(self) -> list[tuple[int, int, str]]:
        """(first column, end column, key) of each label as drawn."""
        raise NotImplementedError

    def choice_at(self, x: int) -> str | None:
        for start, end, key in self._spans():
            if start <= x < end:
                return key
        return None

    def _choose(self, key: str) -> None:
        self.active = key
        self.post_message(self.Chosen(self, key))

    def on_click(self, event: Click) -> None:
        key = self.choice_at(event.x)
        if key is not None:
            event.stop()
            self._choose(key)
