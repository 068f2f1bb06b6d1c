"""The job model (design.md §3): states, failures, outputs, and the one transition function.

Every change to a job goes through :func:`apply_update`. It refuses illegal moves (a finished job never becomes
running again) and makes duplicate or late events harmless, so the store can apply whatever the sources report
in whatever order it arrives.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class JobState(str, Enum):
    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_active(self) -> bool:
        return not self.is_terminal

    def __str__(self) -> str:
        return self.value


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST, JobState.UNKNOWN}
)
ACTIVE_STATES = frozenset({JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING})
# Ended badly without the user asking (cancelled is a choice): what "Failed", `R` and `resubmit --failed` are about.
FAILING_STATES = frozenset({JobState.FAILED, JobState.LOST, JobState.UNKNOWN})

# How far along a job is; a job never moves to a lower rank.
_RANK = {JobState.SUBMITTING: 0, JobState.QUEUED: 1, JobState.RUNNING: 2}
_TERMINAL_RANK = 3


class FailureCategory(str, Enum):
    REJECTED = "rejected"  # validation / 4xx, with node errors
    EXECUTION = "execution"  # ComfyUI raised while running a node
    INTERRUPTED = "interrupted"  # interrupted / cancelled on the server
    TRANSPORT = "transport"  # network, 5xx, timeout, unparseable answer from the server
    AUTH = "auth"  # 401 / 403

    def __str__(self) -> str:
        return self.value


class Edition(str, Enum):
    API = "api"  # PAI-EAS asynchronous queue (ArtLab "API edition")
    DEDICATED = "dedicated"  # plain ComfyUI HTTP (ArtLab "dedicated edition", or a local ComfyUI)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Output:
    """One file a job produced, as ComfyUI reports it."""

    node_id: str
    type: str  # "output" | "temp" | anything else ComfyUI reports
    subfolder: str
    filename: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Output:
        return cls(
            node_id=str(data.get("node_id", "")),
            type=str(data.get("type", "output")),
            subfolder=str(data.get("subfolder", "")),
            filename=str(data.get("filename", "")),
        )


@dataclass(frozen=True)
class NodeError:
    """One validation error of one node (from ComfyUI's `node_errors`)."""

    node_id: str
    class_type: str
    type: str  # e.g. value_not_in_list
    message: str
    details: str = ""
    input_name: str = ""

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeError:
        return cls(**{f.name: str(data.get(f.name, "")) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Failure:
    """Why a job failed, in words a user can act on."""

    category: FailureCategory
    message: str
    node_id: str | None = None
    class_type: str | None = None
    exception_type: str | None = None
    traceback: tuple[str, ...] = ()
    node_errors: tuple[NodeError, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "message": self.message,
            "node_id": self.node_id,
            "class_type": self.class_type,
            "exception_type": self.exception_type,
            "traceback": list(self.traceback),
            "node_errors": [e.to_dict() for e in self.node_errors],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        return cls(
            category=FailureCategory(data["category"]),
            message=str(data.get("message", "")),
            node_id=data.get("node_id"),
            class_type=data.get("class_type"),
            exception_type=data.get("exception_type"),
            traceback=tuple(data.get("traceback") or ()),
            node_errors=tuple(NodeError.from_dict(e) for e in data.get("node_errors") or ()),
        )


@dataclass(frozen=True)
class Progress:
    """Live progress of a running job: the node that runs and its step counter (if it reports one)."""

    node_id: str | None = None
    class_type: str | None = None
    value: float = 0
    max: float = 0

    @property
    def fraction(self) -> float | None:
        return (self.value / self.max) if self.max else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(
            node_id=data.get("node_id"),
            class_type=data.get("class_type"),
            value=data.get("value", 0) or 0,
            max=data.get("max", 0) or 0,
        )


def new_job_id() -> str:
    """Our own job id: a uuid4 hex (32 chars); users may type any unique prefix."""
    return uuid.uuid4().hex


@dataclass
class Job:
    """Everything comfyq knows about one submission (or one external sink result)."""

    id: str
    profile: str
    edition: Edition
    workflow: dict[str, Any] | None
    state: JobState = JobState.SUBMITTING
    # Correlation ids. Dedicated: prompt_id is ours (client-chosen) and client_id is the profile's.
    # API edition: task_id is ours; queue_index / request_id come back from the input queue put.
    task_id: str | None = None
    prompt_id: str | None = None
    client_id: str | None = None
    queue_index: int | None = None
    request_id: str | None = None
    sink_index: int | None = None
    # state -> unix time it was entered (submitting is the submission time)
    timestamps: dict[str, float] = field(default_factory=dict)
    progress: Progress | None = None
    queue_position: int | None = None  # items ahead of this one, when the backend knows
    outputs: tuple[Output, ...] = ()
    failure: Failure | None = None
    warning: str | None = None  # e.g. "succeeded but no outputs appeared in /history"
    raw_result: str | None = None  # the raw result text (history entry / sink data), kept for the detail view
    parent_id: str | None = None
    attempt: int = 1
    external: bool = False  # a sink result for a task_id we never submitted
    params: dict[str, Any] = field(default_factory=dict)  # the --set overrides used, for display
    # The submission this job belongs to (one `submit` / ctrl+s, a sweep, a resubmit of many): a short name the
    # user can set, shared by every job sent together. None for external jobs and rows from before batches.
    batch: str | None = None

    @property
    def submitted_at(self) -> float | None:
        return self.timestamps.get(JobState.SUBMITTING.value)

    @property
    def started_at(self) -> float | None:
        return self.timestamps.get(JobState.RUNNING.value)

    @property
    def finished_at(self) -> float | None:
        if not self.state.is_terminal:
            return None
        return self.timestamps.get(self.state.value)

    def duration(self, now: float | None = None) -> float | None:
        """Seconds from submission to the end (or to now while the job is active)."""
        start = self.submitted_at
        if start is None:
            return None
        end = self.finished_at if self.state.is_terminal else (now if now is not None else time.time())
        return None if end is None else max(0.0, end - start)

    @property
    def remote_id(self) -> str | None:
        """The id the server knows the job by (task_id on the API edition, prompt_id on dedicated)."""
        return self.task_id if self.edition is Edition.API else self.prompt_id

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` gives back an equal Job (the store keeps jobs this way)."""
        return {
            "id": self.id,
            "profile": self.profile,
            "edition": self.edition.value,
            "workflow": self.workflow,
            "state": self.state.value,
            "task_id": self.task_id,
            "prompt_id": self.prompt_id,
            "client_id": self.client_id,
            "queue_index": self.queue_index,
            "request_id": self.request_id,
            "sink_index": self.sink_index,
            "timestamps": dict(self.timestamps),
            "progress": self.progress.to_dict() if self.progress is not None else None,
            "queue_position": self.queue_position,
            "outputs": [output.to_dict() for output in self.outputs],
            "failure": self.failure.to_dict() if self.failure is not None else None,
            "warning": self.warning,
            "raw_result": self.raw_result,
            "parent_id": self.parent_id,
            "attempt": self.attempt,
            "external": self.external,
            "params": dict(self.params),
            "batch": self.batch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """The inverse of :meth:`to_dict`; keys a newer or older version did not write get their defaults."""
        progress = data.get("progress")
        failure = data.get("failure")
        return cls(
            id=str(data["id"]),
            profile=str(data["profile"]),
            edition=Edition(data["edition"]),
            workflow=data.get("workflow"),
            state=JobState(data.get("state", JobState.SUBMITTING.value)),
            task_id=data.get("task_id"),
            prompt_id=data.get("prompt_id"),
            client_id=data.get("client_id"),
            queue_index=data.get("queue_index"),
            request_id=data.get("request_id"),
            sink_index=data.get("sink_index"),
            timestamps=dict(data.get("timestamps") or {}),
            progress=Progress.from_dict(progress) if progress is not None else None,
            queue_position=data.get("queue_position"),
            outputs=tuple(Output.from_dict(o) for o in data.get("outputs") or ()),
            failure=Failure.from_dict(failure) if failure is not None else None,
            warning=data.get("warning"),
            raw_result=data.get("raw_result"),
            parent_id=data.get("parent_id"),
            attempt=int(data.get("attempt", 1)),
            external=bool(data.get("external", False)),
            params=dict(data.get("params") or {}),
            batch=data.get("batch"),
        )


@dataclass(frozen=True)
class JobUpdate:
    """A fact a source learned about a job. Fields left at None are "not known by this update".

    `state=None` updates only the other fields (e.g. progress or queue position) without a state change.
    """

    job_id: str
    state: JobState | None = None
    at: float | None = None  # when it happened; defaults to the time it is applied
    progress: Progress | None = None
    queue_position: int | None = None
    outputs: tuple[Output, ...] | None = None
    failure: Failure | None = None
    warning: str | None = None
    raw_result: str | None = None
    prompt_id: str | None = None
    queue_index: int | None = None
    request_id: str | None = None
    sink_index: int | None = None


def is_legal_move(current: JobState, new: JobState) -> bool:
    """Can a job in `current` move to `new`?

    Forward moves only. Terminal states are final, with two exceptions a real result earns: a job we marked
    `lost` (nothing heard for too long) or `unknown` may still be settled by a late, parseable result.
    """
    if current is new:
        return True
    if current.is_terminal:
        return current in (JobState.LOST, JobState.UNKNOWN) and new in (
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        )
    if new.is_terminal:
        return True
    return _RANK[new] > _RANK[current]


def apply_update(job: Job, update: JobUpdate, now: float | None = None) -> Job | None:
    """Return the job with `update` applied, or None when nothing changes (illegal, duplicate or stale).

    Rules:
    - an illegal state move is refused whole (none of its fields are applied);
    - once terminal, progress / queue position no longer change; outputs may still be filled in on a succeeded
      job (the /history race: the entry can appear before its outputs), a warning may be added or cleared;
    - leaving a state clears what only made sense in it (queue position once running, progress once finished,
      an earlier failure once a real result says succeeded).
    """
    at = update.at if update.at is not None else (now if now is not None else time.time())
    changes: dict[str, Any] = {}
    new_state = update.state
    if new_state is not None and new_state is not job.state:
        if not is_legal_move(job.state, new_state):
            return None
        changes["state"] = new_state
        stamps = dict(job.timestamps)
        stamps.setdefault(new_state.value, at)
        changes["timestamps"] = stamps
        if new_state is not JobState.QUEUED:
            changes["queue_position"] = None
        if new_state.is_terminal:
            changes["progress"] = None
        if new_state is JobState.SUCCEEDED and job.failure is not None and update.failure is None:
            # A late real result settling a `lost` / `unknown` job: the old "why it failed" no longer holds.
            changes["failure"] = None
    effective = changes.get("state", job.state)
    terminal_before = job.state.is_terminal and "state" not in changes

    if not effective.is_terminal and not terminal_before:
        if update.progress is not None and update.progress != job.progress:
            changes["progress"] = update.progress
        if (
            update.queue_position is not None
            and effective is JobState.QUEUED
            and update.queue_position != job.queue_position
        ):
            changes["queue_position"] = update.queue_position
    if update.outputs is not None and update.outputs != job.outputs:
        # Outputs of a finished job are only ever completed, never replaced by an empty late duplicate.
        if not (terminal_before and not update.outputs):
            changes["outputs"] = tuple(update.outputs)
    if update.failure is not None and not terminal_before and update.failure != job.failure:
        changes["failure"] = update.failure
    if update.warning is not None and (update.warning or None) != job.warning:
        # "" clears the warning; clearing an absent one is no change.
        changes["warning"] = update.warning or None
    if update.raw_result is not None and update.raw_result != job.raw_result:
        if not terminal_before or job.raw_result is None or "outputs" in changes:
            changes["raw_result"] = update.raw_result
    for name in ("prompt_id", "queue_index", "request_id", "sink_index"):
        value = getattr(update, name)
        if value is not None and getattr(job, name) is None:
            changes[name] = value
    if not changes:
        return None
    return dataclasses.replace(job, **changes)
