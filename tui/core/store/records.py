"""What the job store gives and takes besides a Job: its errors, a sink result to store, an active job's summary.

Kept apart from the store so a backend (the EAS sink watcher builds SinkResults) or a command (catching
JobNotFound) needs only these small types. No Textual here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.core.jobs import Failure, JobState, JobUpdate, Output


class StoreError(RuntimeError):
    """The job store cannot be opened or written (not a database, newer schema, locked, disk full ...)."""


class JobNotFound(LookupError):
    """No stored job has this id (or prefix, task_id, prompt_id)."""


class AmbiguousJobId(LookupError):
    """A prefix (or remote id) that matches more than one job; the message lists the candidates."""

    def __init__(self, query: str, candidates: Sequence[str], more: bool = False) -> None:
        self.query = query
        self.candidates = tuple(candidates)
        width = _distinguishing_width(self.candidates)
        shown = ", ".join(c[:width] for c in self.candidates)
        tail = ", …" if more else ""
        super().__init__(f"job id {query!r} is ambiguous: it matches {shown}{tail} (type more characters)")


def _distinguishing_width(ids: Sequence[str]) -> int:
    """Shortest length (at least 8, the usual short id) at which the ids all differ."""
    width = 8
    while width < max((len(i) for i in ids), default=0) and len({i[:width] for i in ids}) < len(ids):
        width += 1
    return width


@dataclass(frozen=True)
class ActiveJob:
    """What a queue monitor needs of an active job (JobStore.active_summaries)."""

    id: str
    profile: str
    state: JobState
    task_id: str | None
    queue_index: int | None
    queue_position: int | None


@dataclass(frozen=True)
class SinkResult:
    """One parsed sink frame (API edition), ready to store."""

    profile: str
    sink_index: int
    task_id: str | None
    request_id: str | None
    state: JobState
    outputs: tuple[Output, ...] = ()
    failure: Failure | None = None
    raw_result: str | None = None
    prompt_id: str | None = None
    warning: str | None = None
    at: float | None = None

    def as_update(self, job_id: str) -> JobUpdate:
        return JobUpdate(
            job_id,
            state=self.state,
            at=self.at,
            # An empty tuple means "none reported", never "clear what is known".
            outputs=tuple(self.outputs) if self.outputs else None,
            failure=self.failure,
            warning=self.warning,
            raw_result=self.raw_result,
            prompt_id=self.prompt_id,
            request_id=self.request_id,
            sink_index=self.sink_index,
        )
