"""Hooks into Textual's paint path, so "on screen" is measured where Textual paints, not guessed.

Textual paints every frame in `Screen._compositor_refresh` (the compositor asks each dirty widget for its lines —
`render_line(y)` — and hands the update to the driver). Periodic updates (after `refresh()` / `refresh_line()`) run
in `Screen._on_timer_update`, which also does any layout. These are private methods: the probes patch them on the
class for the duration of one measurement and restore them afterwards. The benchmarks run the apps headless
(`App.run_test`), where the driver drops the bytes but the compositor still renders every line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from textual.screen import Screen


@contextlib.contextmanager
def patched(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    """Replace `owner.name` with `make(original)` for the duration of the block."""
    had_own = name in owner.__dict__
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        if had_own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


class FrameProbe:
    """Records every painted frame (end time) and every periodic update's duration (layout + paint)."""

    def __init__(self) -> None:
        self.paint_ends: list[float] = []
        self.update_durations: list[float] = []  # seconds, one per Screen._on_timer_update
        self.update_ends: list[float] = []
        self.on_paint: Callable[[float], None] | None = None
        self.on_update: Callable[[float], None] | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[FrameProbe]:
        probe = self

        def wrap_refresh(original: Callable[..., Any]) -> Callable[..., Any]:
            def _compositor_refresh(screen: Screen[Any]) -> None:
                original(screen)
                now = time.perf_counter()
                probe.paint_ends.append(now)
                if probe.on_paint is not None:
                    probe.on_paint(now)

            return _compositor_refresh

        def wrap_timer(original: Callable[..., Any]) -> Callable[..., Any]:
            def _on_timer_update(screen: Screen[Any]) -> None:
                start = time.perf_counter()
                original(screen)
                end = time.perf_counter()
                probe.update_durations.append(end - start)
                probe.update_ends.append(end)
                if probe.on_update is not None:
                    probe.on_update(end - start)

            return _on_timer_update

        with patched(Screen, "_compositor_refresh", wrap_refresh), patched(Screen, "_on_timer_update", wrap_timer):
            yield self


class FirstPaint:
    """The end of the first frame in which a widget class rendered a line."""

    def __init__(self, widget_class: type) -> None:
        self.widget_class = widget_class
        self.rendered = False
        self.painted_at: float | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[FirstPaint]:
        probe = self
        frames = FrameProbe()

        def wrap_render_line(original: Callable[..., Any]) -> Callable[..., Any]:
            def render_line(widget: Any, y: int) -> Any:
                probe.rendered = True
                return original(widget, y)

            return render_line

        def on_paint(now: float) -> None:
            if probe.rendered and probe.painted_at is None:
                probe.painted_at = now

        frames.on_paint = on_paint
        with frames.installed(), patched(self.widget_class, "render_line", wrap_render_line):
            yield self
