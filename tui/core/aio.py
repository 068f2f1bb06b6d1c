"""Small asyncio helpers."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until `event` is set or `timeout` passes; True when it was set.

    Why not `asyncio.wait_for(event.wait(), timeout)`: on Python < 3.12 it can swallow a cancellation that arrives
    just as the event is set (seen here: Ctrl+C on `comfyq submit --wait` ignored while progress events streamed in,
    the job ran to the end and the command exited 0 instead of 130). `asyncio.wait` never swallows one.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()
