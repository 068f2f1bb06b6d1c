"""Text fields that apply what a user types in the order it was typed (Textualize/textual#6605).

Why: Textual's Input and TextArea insert a printable key in their own `_on_key`, but a bound key (backspace,
delete, arrows, home/end, ctrl+a/e/k/u/w, enter, tab completion…) does nothing there: its Key event bubbles up the
DOM, one message queue per ancestor, and only the app (`App._check_bindings`) runs the binding's action. Keys that
arrive together — fast typing, keystrokes a terminal hands over in one read, an app busy repainting a live table —
are forwarded to the field one after another, so a later character is inserted while an earlier backspace is still
bubbling: backspace then `copy.json` turned `night.json` into `nigcopy.j`.

The fix (the approach of the proposed upstream fix, textual PR #6631): once the stock handlers have had the key,
the field runs its OWN non-priority bindings for it right there — the same bindings, resolved the way the app
resolves them (the app's keymap applied, `check_action` honoured, through `App.run_action`) — and stops the event.
Nothing else changes: priority bindings ran before the key reached the field (the app checks them first), keys the
field has no binding for (tab to move focus, escape, ctrl+s, the screen's enter) still bubble to the screen and the
app, and keys the stock handler consumes (printable characters) never get here. Keys bound on ancestors can still
be overtaken by typing (as in stock Textual); the field's own editing keys cannot.

When to drop this: `test_stock_textual_still_reorders_a_burst` in tests/tui/test_typed_key_order.py runs the same
burst on a stock Input and asserts it still comes out wrong; once a Textual release fixes #6605 that test fails —
then delete this module and put `Input`/`TextArea` back at the constructors (grep OrderedInput, OrderedTextArea).
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Input, TextArea


async def run_own_bindings(widget: Widget, key: str) -> bool:
    """Run `widget`'s own non-priority binding for `key` as `App._check_bindings` would (keymap overrides
    included); True when one ran. The app's chain starts with the focused widget's own bindings, unfiltered."""
    app = widget.app
    bindings = widget._bindings.copy()  # apply_keymap rewrites the map: never touch the class's own
    if app._keymap:
        clashes = bindings.apply_keymap(app._keymap).clashed_bindings
        if clashes:
            app.handle_bindings_clash(clashes, widget)
    for binding in bindings.key_to_bindings.get(key, ()):
        if not binding.priority and await app.run_action(binding.action, widget):
            return True
    return False


class OrderedKeys:
    """Runs the widget's own key bindings inline, after its stock key handlers (see the module docstring).

    Put it AFTER the Textual widget class: ``class OrderedInput(Input, OrderedKeys)``. Textual calls the `_on_key`
    of every class in the MRO in turn (a base class's handler runs unless an earlier one called
    `prevent_default()`), so placed last this handler runs after Input's/TextArea's own and Widget's — only for a
    key they did not consume, exactly where the stock event would have started bubbling to the app.
    """

    async def _on_key(self, event: events.Key) -> None:
        assert isinstance(self, Widget), "OrderedKeys goes on a Widget"
        if await run_own_bindings(self, event.key):
            event.stop()  # done here: nothing left for the screen or the app to do with it
            event.prevent_default()


class OrderedInput(Input, OrderedKeys):
    """Textual's Input, its editing keys applied in the order typed."""


class OrderedTextArea(TextArea, OrderedKeys):
    """Textual's TextArea, its editing keys applied in the order typed."""
