"""Thread plumbing of the sink watcher: a restartable background thread, and the committer threads.

The EAS SDK's calls block and cannot be interrupted from another thread; every wait on them here is bounded, and a
call stuck past its deadline is abandoned (its daemon thread ends whenever the SDK returns, or with the process)
with a message that says so, never waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class ThreadedWatcher:
    """A background thread with its own exit event (the shape of toolong's watcher).

    Each start gets a fresh event and thread, so a thread that is slow to notice a stop can never be revived by
    the next start.
    """

    name = "watcher"

    def __init__(self) -> None:
        self._exit = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._exit = threading.Event()
        exit_event = self._exit
        self._thread = threading.Thread(target=self._main, args=(exit_event,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to end and wait (bounded); True when it has ended. A thread still inside a blocking call
        is left to end on its own (it is a daemon: it never holds the process up)."""
        self._exit.set()
        self.interrupt()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _main(self, exit_event: threading.Event) -> None:
        try:
            self.run(exit_event)
        except Exception:  # pragma: no cover - run() handles its own errors; this is the last net
            log.exception("%s crashed", self.name)

    def run(self, exit_event: threading.Event) -> None:
        raise NotImplementedError

    def interrupt(self) -> None:
        """Unblock the thread if it waits on I/O (called from the stopping thread). Optional."""


class CommitTimeout(Exception):
    """A commit call did not return within its deadline; its thread was abandoned."""


class Committer:
    """Commits stored sink indexes on threads of their own, so the watcher keeps receiving and storing while commits
    travel to the queue service and back (on a real network, a round trip each).

    Only indexes whose results are already stored durably are handed in (design.md §2 rule 3). Up to `workers`
    calls run at once, each taking everything handed in by then: the server sends more only as commits land, so a
    result should wait for one round trip, not for the one before it to finish too. After a failed commit — or one
    still running `deadline` seconds after it began — nothing more is committed: the watcher sees the error
    (`check`), drops the connection, and the queue hands the uncommitted items back (the store ignores the
    duplicates).
    """

    def __init__(self, commit: Callable[[list[int]], None], name: str, workers: int, deadline: float) -> None:
        self._commit = commit
        self.name = name
        self.deadline = deadline
        self._pending: list[int] = []
        self._started: dict[int, float] = {}  # call number -> monotonic start, for the calls in flight
        self._calls = 0
        self._closed = False
        self.error: Exception | None = None
        self.abandoned = 0  # threads left inside a commit call past its deadline
        self._condition = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name} {number}", daemon=True) for number in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, indexes: list[int]) -> None:
        with self._condition:
            if self.error is None:
                self._pending.extend(indexes)
                self._condition.notify()

    def check(self) -> None:
        """Raise the error of a failed (or overdue) commit, if any."""
        with self._condition:
            self._check_overdue_locked()
        if self.error is not None:
            raise self.error

    def close(self, timeout: float) -> bool:
        """Commit what is pending (bounded wait), then end the threads. True when everything handed in was
        committed."""
        deadline = time.monotonic() + timeout
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            while (self._pending or self._started) and self.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._check_overdue_locked():
                    break
                # Wake at the latest when the oldest call in flight becomes overdue.
                self._condition.wait(min(remaining, self._until_overdue_locked()))
            done = not self._pending and not self._started and self.error is None
            stuck = len(self._started)
        if not stuck:  # (idle threads end at once; a thread inside the SDK is not waited for)
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        if stuck:
            self.abandoned = stuck
            log.warning(
                "%s: %d commit call(s) still inside the EAS SDK; their threads are abandoned (daemon threads: they "
                "end when the SDK gives up, or with comfyq)", self.name, stuck,
            )
        return done

    def _until_overdue_locked(self) -> float:
        if not self._started:
            return self.deadline
        return max(0.01, min(self._started.values()) + self.deadline - time.monotonic())

    def _check_overdue_locked(self) -> bool:
        """Mark the committer failed if a call has run past its deadline; True if one has."""
        if self.error is not None or not self._started:
            return False
        oldest = min(self._started.values())
        if time.monotonic() - oldest < self.deadline:
            return False
        self.error = CommitTimeout(
            f"a sink commit did not return within {self.deadline:g} s (the queue service is not answering); "
            "its thread is abandoned and the connection is dropped so the queue redelivers"
        )
        self._pending = []
        self._condition.notify_all()
        return True

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._closed and self.error is None:
                    self._condition.wait()
                if not self._pending or self.error is not None:
                    return
                indexes, self._pending = self._pending, []
                self._calls += 1
                call = self._calls
                self._started[call] = time.monotonic()
            try:
                self._commit(indexes)
            except Exception as exc:  # noqa: BLE001 - handed to the watcher, which reconnects
                with self._condition:
                    self.error = self.error or exc
                    self._pending = []
                    self._started.pop(call, None)
                    self._condition.notify_all()
                return
            with self._condition:
                self._started.pop(call, None)
                self._condition.notify_all()
