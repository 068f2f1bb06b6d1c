"""The key bar: Textual's Footer, rebuilt only when the keys it would show have changed.

The stock Footer recomposes — removes and mounts a widget per key — whenever its screen's bindings are refreshed:
on every focus change and every return to the screen, also when the keys it shows are the very same. Leaving the
job detail, the help or the profile form thus rebuilt the main screen's dozen keys each time (≈ 15 % of what
those keys cost, bench/keys.py). This Footer notes what it composed and skips a rebuild that would change nothing.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

KeysShown = tuple[tuple[object, ...], ...]


class KeyFooter(Footer):
    """Footer that recomposes only when the shown keys (key, label, action, enabled, tooltip) differ."""

    _keys_shown: KeysShown | None = None  # what the last compose showed (None: nothing composed yet)

    def _keys(self) -> KeysShown:
        app = self.app
        active = self.screen.active_bindings
        keys = tuple(
            (binding.key, app.get_key_display(binding), binding.description, binding.action, enabled, tooltip,
             binding.group)
            for (_node, binding, enabled, tooltip) in active.values()
            if binding.show
        )
        palette = active.get(app.COMMAND_PALETTE_BINDING)
        palette_shown = (self.show_command_palette and app.ENABLE_COMMAND_PALETTE,
                         None if palette is None else (palette[1].key, palette[2], palette[3]))
        return keys + ((palette_shown, self.compact),)

    def bindings_changed(self, screen: Screen) -> None:
        if (
            self._keys_shown is not None
            and screen.app.app_focus
            and self.is_attached
            and screen is self.screen
            and self._keys() == self._keys_shown
        ):
            return  # the same keys: nothing to rebuild
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        # What is composed is read now (the stock Footer composes nothing until its bindings are ready).
        self._keys_shown = self._keys() if getattr(self, "_bindings_ready", True) else None
        yield from super().compose()
