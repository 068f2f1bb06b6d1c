"""Screens made once and shown again (installed: the job detail, the help, the profile form) skip the restyle
Textual does on every return when nothing their styles depend on has changed.

On each push, Textual re-applies the CSS to every widget of the screen pushed (ScreenResume.refresh_styles), in
case the theme or the terminal changed while it was away: for the profile form (≈ 40 widgets) that was a fifth of
what `n` / `E` cost. This mixin lets the restyle happen the first time and whenever the theme or the terminal's
size (its breakpoint classes) differ from the last time the screen was shown, and skips it otherwise.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import events

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


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


def read_screens_css(app: App[object], screens: list[Screen[object]]) -> bool:
    """Read these screens' CSS files into the app's stylesheet now, at once: one re-parse and one restyle of the
    app's widgets for them all, where a push re-parses and restyles everything for each screen's first show.
    False: this Textual lacks the (private) `_load_screen_css` that a push calls; a push reads them then."""
    load_css = getattr(app, "_load_screen_css", None)
    if load_css is None:
        return False
    stylesheet = app.stylesheet
    new = False
    for screen in screens:
        for path in screen.css_path:
            if not stylesheet.has_source(str(path), ""):
                stylesheet.read(path)
                new = True
    if new:
        stylesheet.reparse()
        stylesheet.update(app)
    for screen in screens:
        load_css(screen)  # what else a push does with a screen's CSS (a CSS class variable, the dev-mode watcher)
    return True


async def compose_unshown(app: App[object], name: str) -> bool:
    """Compose the installed screen `name` without showing it: its CSS read, its widgets made and mounted, so its
    first push is a switch like every later one.

    Textual composes a screen on its first push (`App._get_screen` registers it with the app, which starts it and
    mounts what its compose yields); this does that part ahead. Private methods: a Textual without them leaves the
    screen to be composed on its first push (False), as before.
    """
    screen = app.get_screen(name)
    if screen.is_running:
        return True
    get_screen = getattr(app, "_get_screen", None)
    if get_screen is None or not read_screens_css(app, [screen]):
        return False
    _screen, mounted = get_screen(name)
    await mounted
    return True


async def lay_out_unshown(app: App[object], name: str, settle: float = 0.02, rounds: int = 3) -> bool:
    """Lay the composed, unshown screen `name` out at the terminal's size until its widgets stop asking for another
    layout (their resize handlers run between rounds), then draw their lines once (into their caches; nothing
    reaches the terminal): its first push then paints like a later one, without a restyle (see KeptScreen).

    Private parts (`Screen._refresh_layout`, `_layout_required`, the compositor): a Textual without them does all
    this on the first push (False)."""
    screen = app.get_screen(name)
    refresh_layout = getattr(screen, "_refresh_layout", None)
    compositor = getattr(screen, "_compositor", None)
    if refresh_layout is None or compositor is None or not hasattr(screen, "_layout_required"):
        return False
    for round_number in range(rounds):
        if screen.is_current or not screen.is_mounted:
            return False  # opened meanwhile: the push lays it out
        if round_number and not screen._layout_required:
            break
        screen._layout_required = False
        refresh_layout(app.size)  # draws only when the screen is current, which it is not
        await asyncio.sleep(settle)
    if screen.is_current:
        return False
    compositor.render_update(full=True)  # its widgets' lines, cached; the update itself is dropped
    if isinstance(screen, KeptScreen):
        screen._styled_for = (app.theme, app.size)  # styled when composed, laid out at this size
    return True
