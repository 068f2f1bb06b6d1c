"""Which batches the main screen follows, and when to count them again (no Textual here: plain bookkeeping).

A batch submitted from the screen is followed until it ends (a toast and a desktop notification then); the status
bar shows the batch named in the filter (`batch:NAME`), else the newest followed one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from tui.core.batch import BatchProgress, batch_progress
from tui.core.jobs import Job
from tui.core.store import JobStore

COUNT_EVERY_SECONDS = 0.25  # each followed batch is a query: at most four rounds a second


class BatchFollower:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._running: list[str] = []  # followed batches that have not ended yet (oldest first)
        self._last: str | None = None  # the newest of them: the status bar keeps its final count
        self._changed = False  # a job of a followed batch changed since they were last counted
        self._due = 0.0

    def follow(self, name: str) -> None:
        self._running.append(name)
        self._last = name

    def jobs_changed(self, jobs: Sequence[Job], typed: str | None) -> None:
        """Note whether `jobs` touch a followed batch or the one typed in the filter (maybe sent by `comfyq submit`)."""
        if any(job.batch and (job.batch in self._running or (typed and job.batch.startswith(typed))) for job in jobs):
            self._changed = True

    def finished(self) -> list[BatchProgress] | None:
        """The followed batches that ended since the last call; None when nothing was counted (no change, or
        counted less than COUNT_EVERY_SECONDS ago — the caller's tick asks again)."""
        now = time.monotonic()
        if not self._changed or now < self._due:
            return None
        self._changed = False
        self._due = now + COUNT_EVERY_SECONDS
        ended = []
        for name in list(self._running):
            progress = batch_progress(self.store, name)
            if progress.done:
                self._running.remove(name)
                ended.append(progress)
        return ended

    def summary(self, typed: str | None) -> str | None:
        """The status bar's batch: the one in the filter (`batch:NAME`, or the only batch starting so), else the
        newest followed one."""
        name = None
        if typed:
            names = self.store.batch_names(typed, limit=2)
            name = typed if typed in names else (names[0] if len(names) == 1 else None)
        if name is None:
            name = self._last
        return batch_progress(self.store, name).summary() if name else None
