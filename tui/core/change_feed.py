"""Every change to every job, once and in order, from any comfyq process on one store (`comfyq watch`).

A change reaches a watcher two ways: its own engine's events (what its own sources stored), and the store, for what
other processes on the same data dir wrote (`comfyq submit --wait` in another terminal, the TUI). Two processes
following the same server store the same facts: whichever writes first changes the row, the other's write changes
nothing and emits no event. So the watcher also reads the store whenever another connection committed
(`PRAGMA data_version`, JobStore.changed_elsewhere) — and then sees versions it may already have printed from its own
events. The feed prints each distinct version of a job once, never goes back to an older state, and when the store
shows a job a few states further on than last seen (the other process moved it twice between two looks), it first
gives the states passed through, from the job's own per-state timestamps.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable

from tui.core.jobs import Job, JobState, is_legal_move

# Jobs remembered (their last printed version); the oldest are forgotten first.
REMEMBERED_JOBS = 50_000
# States in lifecycle order, for the ones a job may pass through between two looks.
_LIFECYCLE = (JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING)


class ChangeFeed:
    """Turns job versions (from events or the store, in any mix) into the changes to print, deduplicated."""

    def __init__(self, key: Callable[[Job], object], *, since: float) -> None:
        """`key`: what makes two versions different to a reader (e.g. the printed JSON line). `since`: when watching
        began; states a job entered before it are not replayed."""
        self._key = key
        self._since = since
        self._printed: OrderedDict[str, tuple[JobState, object]] = OrderedDict()

    def changes(self, jobs: Iterable[Job]) -> list[Job]:
        """The versions to print for these (newest known) versions of jobs, in order."""
        out: list[Job] = []
        for job in jobs:
            out.extend(self._changes_of(job))
        return out

    def _changes_of(self, job: Job) -> list[Job]:
        last = self._printed.get(job.id)
        if last is not None and not is_legal_move(last[0], job.state):
            return []  # an older version than one printed already (events and store reads interleave)
        key = self._key(job)
        if last is not None and last[1] == key:
            return []
        out = [*self._passed_through(job, last[0] if last is not None else None), job]
        self._printed[job.id] = (job.state, key)
        self._printed.move_to_end(job.id)
        while len(self._printed) > REMEMBERED_JOBS:
            self._printed.popitem(last=False)
        return out

    def _passed_through(self, job: Job, last_state: JobState | None) -> list[Job]:
        """The in-flight states between the last printed one and now, as the job was when it entered each."""
        passed: list[Job] = []
        start = _LIFECYCLE.index(last_state) + 1 if last_state in _LIFECYCLE else 0
        if last_state is not None and last_state not in _LIFECYCLE:
            return []  # it was finished (lost / unknown) and a real result settled it: nothing in between
        for state in _LIFECYCLE[start:]:
            if state is job.state:
                break
            entered = job.timestamps.get(state.value)
            if entered is None or entered < self._since:
                continue
            stamps = {name: at for name, at in job.timestamps.items() if at <= entered}
            passed.append(
                dataclasses.replace(
                    job, state=state, timestamps=stamps, progress=None, queue_position=None, outputs=(),
                    failure=None, warning=None, raw_result=None,
                )
            )
        return passed
