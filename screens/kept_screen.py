"""Screens made once and shown again (installed: the job detail, the help, the profile form) skip the restyle
Textual does on every return when nothing their styles depend on has changed.

On each push, Textual re-applies the CSS to every widget of the screen pushed (ScreenResume.refresh_styles), in
case the theme or the terminal changed while it was away: for the profile form (≈ 40 widgets) that was a fifth of
what `n` / `E` cost. This mixin lets the restyle happen the first time and whenever the theme or the terminal's
size (its breakpoint classes) differ from the last time the screen was shown, and skips it otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events

if TYPE_CHECKING:
    from textual.app import App


class KeptScreen:
    """Mixin for an installed screen: restyle on resume only when the theme or the terminal size changed.

    A plain mixin, not a Screen subclass: a Screen base of its own would put Screen's default CSS after
    ModalScreen's and make a modal's backdrop opaque."""

    app: App[object]
    _styled_for: tuple[object, ...] | None = None

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual calls each class's handler along the MRO: this one before Screen's, which restyles if asked.
        styled_for = (self.app.theme, self.app.size)
        if event.refresh_styles and styled_for == self._styled_for:
            event.refresh_styles = False
        self._styled_for = styled_for
