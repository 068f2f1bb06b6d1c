"""How the engine's news reaches its subscribers: changes published from any thread, delivered on the event loop.

Sources may publish from their own threads (the EAS sink watcher does). Crossing threads costs: rather than one
`call_soon_threadsafe` per change, the latest version of each changed job (and the latest status of each profile)
is kept in a dict and one scheduled callback drains it (design.md §2 rule 8), so a burst of changes to one job is
delivered once, coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence

from tui.core.backends.base import SourceStatus
from tui.core.events import Event
from tui.core.jobs import Job, JobState

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
# Called on the loop thread with what was published since the last drain: (statuses, jobs).
Deliver = Callable[[list[SourceStatus], list[Job]], None]


def _rank(state: JobState) -> int:
    if state.is_terminal:
        return 3
    return {JobState.SUBMITTING: 0, JobState.QUEUED: 1, JobState.RUNNING: 2}[state]


class EventHub:
    """Subscribers, the cross-thread hand-over of changes, and the loop they are delivered on."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._subscribers: list[Subscriber] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._statuses: dict[str, SourceStatus] = {}
        self._drain_scheduled = False

    # ----- subscribers

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event, on the event loop thread. Returns an unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the others or the engine
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)

    # ----- the loop

    def bind(self) -> bool:
        """Deliver on the running loop from now on. True when that is a new loop (the caller resets its own
        loop-bound state)."""
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return False
        self.loop = loop
        self._loop_thread = threading.get_ident()
        return True

    # ----- publishing (any thread)

    def publish(self, jobs: Sequence[Job]) -> None:
        """Keep the most advanced version of each job, schedule a drain."""
        with self._lock:
            for job in jobs:
                previous = self._jobs.get(job.id)
                # Two threads may publish the same job out of order; never let an older state win.
                if previous is None or _rank(job.state) >= _rank(previous.state):
                    self._jobs[job.id] = job
            self._schedule_drain_locked()

    def report_status(self, status: SourceStatus) -> None:
        with self._lock:
            self._statuses[status.profile] = status
            self._schedule_drain_locked()

    def _schedule_drain_locked(self) -> None:
        if self._drain_scheduled:
            return
        loop = self.loop
        if loop is None or loop.is_closed():
            return  # nothing to deliver to yet; the next drain (or stop) picks these up
        self._drain_scheduled = True
        try:
            if threading.get_ident() == self._loop_thread:
                loop.call_soon(self.drain)
            else:
                loop.call_soon_threadsafe(self.drain)
        except RuntimeError:  # the loop closed between the check and the call
            self._drain_scheduled = False

    def drain(self) -> None:
        """On the loop thread: deliver everything published since the last drain."""
        with self._lock:
            jobs = list(self._jobs.values())
            statuses = list(self._statuses.values())
            self._jobs.clear()
            self._statuses.clear()
            self._drain_scheduled = False
        self._deliver(statuses, jobs)
