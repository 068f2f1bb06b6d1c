"""Text fields (and the key-driven lists) that apply what a user types in the order typed, where it was typed
(Textualize/textual#6605).

Why: Textual's Input and TextArea insert a printable key in their own `_on_key`, but a bound key (backspace,
delete, arrows, home/end, ctrl+a/e/k/u/w, enter, tab completion…) does nothing there: its Key event bubbles up the
DOM, one message queue per ancestor, and only the app (`App._check_bindings`) runs the binding's action. Keys that
arrive together — fast typing, keystrokes a terminal hands over in one read, an app busy repainting a live table —
are forwarded to the focused widget one after another, so a later character is inserted while an earlier backspace
is still bubbling: backspace then `copy.json` turned `night.json` into `nigcopy.j`. The same race sent keys to the
wrong place when the earlier key moved the focus: `ab⇥cd` put `abcd` in the first field, `/cat` typed fast on the
job table ran the screen's `c` (copy ids) instead of filtering, ctrl+o then a path typed the path into the JSON.

The fix, in two parts around the stock handlers:
- `OrderedKeys` (last in the MRO, so it runs after the stock `_on_key`s, only for a key they did not consume):
  the widget runs the key's non-priority binding right there — its own first, then its ancestors', the screen's
  and the app's, resolved exactly as `App._check_bindings` resolves them (keymap applied, `check_action` honoured)
  — and stops the event. When that binding may have moved the focus or opened a screen (anything but the widget's
  own editing keys), the widget waits, its later keys still queued behind, until the app and the screens have
  handled what the binding set off (bounded: `SETTLE_LIMIT`).
- `KeysFollowFocus` (first in the MRO): a key that reaches the widget after the focus has moved away from it is
  passed on, in order, to the widget that has the focus now (or the screen, when nothing has); `KeyRelay` makes a
  key the app takes while earlier ones are still queued at a widget wait behind them there (`RelayKeys` on the app),
  and an Input's `Submitted` is handled before the key typed after enter.
Priority bindings ran before the key reached the widget (the app checks them first) and keys nothing binds still
bubble as before.

When to drop this: `test_stock_textual_still_reorders_a_burst` in tests/tui/test_typed_key_order.py runs the same
burst on a stock Input and asserts it still comes out wrong; once a Textual release fixes #6605 (focus moves
included: tests/tui/test_keys_follow_focus.py) that test fails — then delete this module and put the stock classes
back (grep OrderedInput, OrderedTextArea, KeysFollowFocus, OrderedKeys).
"""

from __future__ import annotations

import asyncio
import time
import weakref

from textual import events
from textual.app import App
from textual.message_pump import MessagePump
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


# How long a widget holds its later keys while what a binding set off (a pushed screen mounting, a message that
# moves the focus) is handled elsewhere. Long enough for a screen to mount on a loaded machine, short enough that
# a key is never held past a frame or two if something never settles (a live table's steady updates).
SETTLE_LIMIT = 0.25


def _pending_elsewhere(widget: Widget) -> bool:
    """True while the app, a screen on the stack or one of `widget`'s ancestors has a message waiting. The widget's
    own queue does not count: its later keys wait there, behind the one being handled."""
    app = widget.app
    nodes: list[MessagePump] = [app, *app.screen_stack, *widget.ancestors]
    return any(not node._message_queue.empty() for node in nodes if node is not widget)


async def settle(widget: Widget, limit: float = SETTLE_LIMIT) -> None:
    """Let the rest of the app handle what a binding run in `widget` set off before `widget` takes its next key."""
    deadline = time.monotonic() + limit
    await asyncio.sleep(0)  # a message the binding posted is on its way: let the loop hand it over first
    while _pending_elsewhere(widget) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)


async def run_bindings_inline(widget: Widget, key: str) -> bool:
    """Run `key`'s non-priority binding for the focused `widget` as the app would once the key had bubbled up (the
    widget's own, its ancestors', the screen's, the app's); True when one ran. Waits for what a binding that is
    not the widget's own set off (a focus move, a screen) before returning, so the widget's next key finds it."""
    if await run_own_bindings(widget, key):
        return True
    if widget.app.focused is not widget:
        return False  # not in the focus chain (a test posting to it): let the key bubble as stock does
    # Bubbled, the key would reach the screen and the app behind what they have queued already (a field's Changed
    # that clears its error, say): let that go first, so the binding sees what stock Textual would show it.
    await settle(widget)
    if not await widget.app._check_bindings(key):
        return False
    await settle(widget)
    return True


class KeyRelay:
    """The keys of one app still on their way in a widget's queue, so a later key never overtakes them.

    Textual forwards a key to the widget focused when the app takes the key off its queue. Keys typed together are
    all forwarded to the widget focused then; while it handles the first (`/` opens the filter), the app forwards
    the next ones that arrive to the new focus directly — ahead of the ones still queued at the old widget (`/fail`,
    enter, `j`: the enter reached the filter before its `fail`, moved the focus back, and the table then took `i`
    as "open the stats"). The relay counts the keys queued at each widget; while the widget the newest keys went to
    still has some, a new key is queued behind them there (`RelayKeys`, on the app) and follows the focus from
    there.
    """

    def __init__(self) -> None:
        self.queued: dict[Widget, int] = {}
        self.newest: Widget | None = None  # where the newest key was queued

    def behind_keys_in_flight(self) -> Widget | None:
        """The widget a new key must queue behind, or None when no key is on its way."""
        newest = self.newest
        if newest is not None and self.queued.get(newest, 0) > 0 and newest.is_attached:
            return newest
        return None

    def queue_at(self, widget: Widget, key: events.Key) -> None:
        """Post `key` (forwarded) to `widget`, counted when the widget takes part in the relay."""
        key._set_forwarded()
        if widget.post_message(key) and isinstance(widget, KeysFollowFocus):  # False: closing, it never takes it
            self.queued[widget] = self.queued.get(widget, 0) + 1
            self.newest = widget

    def taken(self, widget: Widget) -> None:
        """`widget` took a key off its queue."""
        left = self.queued.get(widget, 0) - 1
        if left > 0:
            self.queued[widget] = left
        else:
            self.queued.pop(widget, None)


def key_relay(app: App[object]) -> KeyRelay:
    relay = _relays.get(app)
    if relay is None:
        relay = _relays[app] = KeyRelay()
    return relay


_relays: weakref.WeakKeyDictionary[App[object], KeyRelay] = weakref.WeakKeyDictionary()


class RelayKeys:
    """On the App: a key the app takes while earlier keys are still queued at a widget is queued behind them there
    (`KeyRelay`), after the priority bindings as stock. Everything else, and escape un-zooming a maximized pane, is
    stock `App.on_event`. Put it before `App`: ``class ComfyqApp(RelayKeys, App[int])``."""

    async def on_event(self, event: events.Event) -> None:
        assert isinstance(self, App), "RelayKeys goes on an App"
        if isinstance(event, events.Key) and not event.is_forwarded and self.screen.maximized is None:
            relay = key_relay(self)
            behind = relay.behind_keys_in_flight()
            if behind is not None:
                self.app_focus = True
                if not await self._check_bindings(event.key, priority=True):
                    relay.queue_at(behind, event)
                return
        await super().on_event(event)  # type: ignore[misc]  # App's own on_event (the mixin precedes it)


class KeysFollowFocus:
    """Passes a key that reached the widget after the focus left it to the widget focused now (module docstring).

    Put it FIRST: ``class OrderedInput(KeysFollowFocus, Input, OrderedKeys)`` — it must see the key before the
    stock handlers insert it.
    """

    def _forward_event(self, event: events.Event) -> None:
        assert isinstance(self, Widget), "KeysFollowFocus goes on a Widget"
        if isinstance(event, events.Key):
            key_relay(self.app).queue_at(self, event)  # counted: later keys queue behind it
            return
        super()._forward_event(event)  # type: ignore[misc]

    async def on_event(self, event: events.Event) -> None:
        assert isinstance(self, Widget), "KeysFollowFocus goes on a Widget"
        if isinstance(event, events.Key) and event.is_forwarded:
            relay = key_relay(self.app)
            relay.taken(self)
            focused = self.app.focused
            if self.is_attached and focused is not self:
                target: Widget = focused if focused is not None else self.app.screen
                relay.queue_at(target, events.Key(event.key, event.character))
                return
        await super().on_event(event)  # type: ignore[misc]  # the widget's own on_event (the mixin precedes it)


class OrderedKeys:
    """Runs the key's bindings inline, after the widget's stock key handlers (see the module docstring).

    Put it AFTER the Textual widget class: ``class OrderedInput(Input, OrderedKeys)``. Textual calls the `_on_key`
    of every class in the MRO in turn (a base class's handler runs unless an earlier one called
    `prevent_default()`), so placed last this handler runs after Input's/TextArea's own and Widget's — only for a
    key they did not consume, exactly where the stock event would have started bubbling to the app.
    """

    async def _on_key(self, event: events.Key) -> None:
        assert isinstance(self, Widget), "OrderedKeys goes on a Widget"
        if await run_bindings_inline(self, event.key):
            event.stop()  # done here: nothing left for the screen or the app to do with it
            event.prevent_default()


class OrderedInput(KeysFollowFocus, Input, OrderedKeys):
    """Textual's Input, its editing keys applied in the order typed."""

    async def action_submit(self) -> None:
        """Stock `Input.action_submit`, but `Submitted` is handled before the next key: posted, it waited in the
        field's queue behind the keys typed after enter, so `/fail⏎j` put `failj` in the filter instead of moving
        the cursor. Handed over at once, its handlers (which often move the focus) run first."""
        validation_result = self.validate(self.value) if "submitted" in self.validate_on else None
        await self._dispatch_message(self.Submitted(self, self.value, validation_result))
        await settle(self)


class OrderedTextArea(KeysFollowFocus, TextArea, OrderedKeys):
    """Textual's TextArea, its editing keys applied in the order typed."""
