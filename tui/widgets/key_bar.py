"""The bottom line of keys: what the focused pane and the screen offer right now, the palette key on the right.

It shows what Textual's Footer shows (the screen's active bindings with `show=True`, one per action, disabled ones
dimmed, a click runs the key) but is one widget drawing one line. The Footer is a widget per key and rebuilds them
all whenever the focus or the bindings change — a dozen widgets styled again on every cursor move between panes,
and a twelfth of the app's start-up.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .key-bar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .key-bar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .key-bar--disabled {
        text-style: dim;
    }
    KeyBar > .key-bar--separator {
        color: $foreground 20%;
    }
    """

    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled", "key-bar--separator"}
    ALLOW_SELECT = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, Binding, bool]] = []  # (start x, end x, binding, enabled) for clicks

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()  # one line, same height: a repaint, never a layout pass

    def shown_bindings(self) -> tuple[list[tuple[Binding, bool]], tuple[Binding, bool] | None]:
        """(the keys on the left, in order, each with whether it is enabled now; the command palette key)."""
        active = self.screen.active_bindings
        palette: tuple[Binding, bool] | None = None
        if self.app.ENABLE_COMMAND_PALETTE and self.app.COMMAND_PALETTE_BINDING in active:
            _, binding, enabled, _ = active[self.app.COMMAND_PALETTE_BINDING]
            palette = (binding, enabled)
        seen: set[str] = set()
        shown: list[tuple[Binding, bool]] = []
        for _, binding, enabled, _ in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            shown.append((binding, enabled))
        return shown, palette

    def _item(self, binding: Binding, enabled: bool) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")
        item = Text.assemble(
            (f" {self.app.get_key_display(binding)} ", key_style),
            (f"{binding.description} " if binding.description else "", description_style),
        )
        if not enabled:
            item.stylize(self.get_component_rich_style("key-bar--disabled", partial=True))
        return item

    def render(self) -> Text:
        width = self.size.width
        shown, palette = self.shown_bindings()
        right = Text()
        if palette is not None:
            right.append("▏", style=self.get_component_rich_style("key-bar--separator", partial=True))
            right.append_text(self._item(*palette))
        room = max(0, width - right.cell_len)
        line = Text(no_wrap=True, overflow="crop")
        spans: list[tuple[int, int, Binding, bool]] = []
        for binding, enabled in shown:
            item = self._item(binding, enabled)
            if line.cell_len + item.cell_len > room:
                break  # keys that do not fit are left out whole, never cut in the middle
            start = line.cell_len
            line.append_text(item)
            spans.append((start, line.cell_len, binding, enabled))
        line.truncate(room, pad=True)
        if palette is not None:
            start = line.cell_len + 1
            spans.append((start, start + right.cell_len - 1, *palette))
            line.append_text(right)
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, binding, enabled in self._spans:
            if start <= event.x < end:
                event.stop()
                if enabled:
                    self.app.simulate_key(binding.key.split(",")[0])
                else:
                    self.app.bell()
                return
