"""The tests' one way to wait: poll a condition until it holds, or fail after a deadline naming what was awaited.

Tests never sleep a fixed time and never assert on timing: they wait for a state (a store row, a screen, a
counter) with a generous deadline that a passing run never reaches. Two variants of the same loop:
`wait_until` for async tests (an emulator on the same loop, or a Textual app: pass its `pilot` so the app keeps
running while the test waits) and `wait_until_sync` for threads, subprocesses, tmux and browsers.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # Textual is imported by the UI tests only
    from textual.pilot import Pilot

T = TypeVar("T")

# The default deadline (generous: CI machines are slow, and a pass never waits this long).
WAIT_SECONDS = 30.0
INTERVAL_SECONDS = 0.02

# What was awaited, for the failure message; a function is called on failure, to show the state at that moment.
What = str | Callable[[], str]


def _timed_out(timeout: float, what: What) -> AssertionError:
    described = what() if callable(what) else what
    return AssertionError(f"timed out after {timeout:g}s waiting for {described}")


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = WAIT_SECONDS,
    what: What = "condition",
    *,
    pilot: Pilot[Any] | None = None,
    interval: float = INTERVAL_SECONDS,
) -> T:
    """Poll `predicate()` until it returns something truthy (returned); fail naming `what` after `timeout` s.

    The predicate may return an awaitable (an HTTP call to an emulator on this loop). With a `pilot` the wait
    pauses through it, so the app under test processes its messages between polls.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        value: T = await result if inspect.isawaitable(result) else result
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what)
        if pilot is not None:
            await pilot.pause(interval)
        else:
            await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], T],
    timeout: float = WAIT_SECONDS,
    what: What = "condition",
    *,
    interval: float = INTERVAL_SECONDS,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Poll `predicate()` until it returns something truthy (returned); fail naming `what` after `timeout` s.

    `pause(seconds)` waits between polls (a browser page's own wait, for instance); `time.sleep` by default.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(timeout, what)
        pause(interval)
