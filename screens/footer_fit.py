"""The stock Footer, fitted to the terminal: every key it shows is whole, at 80 columns as at 200.

Textual's Footer lays out one FooterKey per shown binding and scrolls the rest out of sight, so at 80 columns the
last key on screen is drawn cut under the docked `^p Commands` key. A screen with this mixin hands the Footer only
the keys that fit: its `active_bindings` (which the Footer reads, and nothing that dispatches keys does) marks the
others `show=False` — they still work, and help (`?`) and the command palette list them all. Below `COMPACT_BELOW`
columns the Footer is made compact (its own reactive: one space less around each key).

Which keys stay when not all fit: the screen's `FOOTER_FIRST` ids (e.g. help, which lists everything else, and
cancel while a job can be cancelled), then the others in the Footer's order (the focused widget's first) while
they fit. The order on screen stays the Footer's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, TypeVar

from rich.cells import cell_len
from textual import events
from textual.binding import ActiveBinding, Binding
from textual.screen import Screen
from textual.widgets import Footer

ResultT = TypeVar("ResultT")

COMPACT_BELOW = 100  # columns; the app's "-narrow" breakpoint


def key_width(key_display: str, description: str, *, compact: bool) -> int:
    """Cells one FooterKey takes, margin included (the stock Footer's CSS: ` key desc ` wide, `key desc` + a
    margin of 1 compact)."""
    return cell_len(key_display) + cell_len(description) + (2 if compact else 3)


def palette_width(key_display: str, description: str, *, compact: bool) -> int:
    """Cells the docked command-palette key takes: its border, the key, and a right padding when not compact."""
    return 1 + key_width(key_display, description, compact=compact) + (0 if compact else 1)


class FittedFooterScreen(Screen[ResultT]):
    """A screen whose Footer shows only keys that fit whole (mix in before the screen's own base)."""

    FOOTER_FIRST: ClassVar[tuple[str, ...]] = ("app.help",)
    """Binding ids kept before any other when the Footer is short of room (in this order)."""

    _footer_width = -1  # the width the Footer's keys were last fitted to

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        bindings = super().active_bindings
        width = self.size.width or self.app.size.width
        return fit_bindings(self, bindings, width, compact=width < COMPACT_BELOW)

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if width == self._footer_width:
            return
        self._footer_width = width
        for footer in self.query(Footer):
            footer.compact = width < COMPACT_BELOW
        self.refresh_bindings()  # the Footer recomposes from `active_bindings` for the new width


def fit_bindings(
    screen: FittedFooterScreen[object], bindings: dict[str, ActiveBinding], width: int, *, compact: bool
) -> dict[str, ActiveBinding]:
    """`bindings` with `show=False` on every shown binding that does not fit in `width` columns of Footer."""
    app = screen.app
    room = width
    palette = bindings.get(app.COMMAND_PALETTE_BINDING) if app.ENABLE_COMMAND_PALETTE else None
    if palette is not None:
        room -= palette_width(app.get_key_display(palette.binding), palette.binding.description, compact=compact)
    # The Footer shows one key per action (the first binding of it, in its order): measure those.
    shown: dict[str, Binding] = {}
    for active in bindings.values():
        if active.binding.show and active.binding.action not in shown:
            shown[active.binding.action] = active.binding
    first = {binding_id: rank for rank, binding_id in enumerate(screen.FOOTER_FIRST)}
    candidates = sorted(shown.values(), key=lambda binding: first.get(binding.id or "", len(first)))
    kept: set[str] = set()
    for binding in candidates:  # sorted() is stable: after the FOOTER_FIRST ones, the Footer's order
        width_needed = key_width(app.get_key_display(binding), binding.description, compact=compact)
        if width_needed <= room:
            room -= width_needed
            kept.add(binding.action)
    if len(kept) == len(shown):
        return bindings
    return {
        key: active
        if not active.binding.show or active.binding.action in kept
        else active._replace(binding=replace(active.binding, show=False))
        for key, active in bindings.items()
    }
