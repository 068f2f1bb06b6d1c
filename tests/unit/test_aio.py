"""wait_event must never swallow a cancellation (Ctrl+C on `comfyq submit --wait` depends on it)."""

from __future__ import annotations

import asyncio

import pytest

from tui.core.aio import wait_event


async def test_a_cancel_arriving_with_the_event_still_cancels() -> None:
    event = asyncio.Event()
    rounds = 0

    async def follow_changes() -> None:
        nonlocal rounds
        while True:  # like Engine.wait: clear, wait, look again
            event.clear()
            await wait_event(event, 10)
            rounds += 1

    task = asyncio.create_task(follow_changes())
    await asyncio.sleep(0)
    event.set()
    task.cancel()  # the same instant: a progress event and Ctrl+C
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert task.cancelled()


async def test_returns_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True  # already set: no wait
