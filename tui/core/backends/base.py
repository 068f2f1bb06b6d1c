"""The one interface every backend implements (design.md §2 rule 7), and what the engine hands a backend.

A backend knows one profile's service: how to submit a stored job, how to follow jobs until they end (its
"sources": a poller + websocket, or a sink watcher thread), how to cancel, and how to reconcile rows a crash left
behind. It never owns job state: it writes facts into the JobStore through the context and publishes the jobs that
changed, and the engine turns those into events.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from tui.core.checkpoints import CheckpointChoices
from tui.core.jobs import Failure, Job, JobUpdate

if TYPE_CHECKING:
    from tui.core.config import Profile
    from tui.core.store import JobStore


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; the UI hides what it cannot."""

    can_cancel: bool
    has_progress: bool
    has_queue_position: bool
    # Whether a job that already runs can be cancelled too (interrupted), or only one still waiting in a queue.
    can_cancel_running: bool = True


@dataclass(frozen=True)
class SubmitResult:
    """What the service said to one submission."""

    accepted: bool
    prompt_id: str | None = None
    queue_index: int | None = None
    request_id: str | None = None
    failure: Failure | None = None  # set when not accepted
    warning: str | None = None  # accepted, but something is worth telling (e.g. part of the prompt was invalid)
    # True when the answer is a network-level failure (the request may or may not have reached the server);
    # the engine may retry these when the profile's retry policy says so.
    transport_error: bool = False


class SourceState(str, Enum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DEGRADED = "degraded"  # the service is there, but its answers time out or are too large (the reason says which)
    ERROR = "error"  # e.g. unauthorized: the source keeps trying, slowly

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SourceStatus:
    """Health of one profile's sources, shown in the profiles pane and the status bar."""

    profile: str
    state: SourceState
    last_seen: float | None = None  # last time the service answered
    error: str | None = None  # last error, already free of secrets
    queue_length: int | None = None  # API edition: input queue length
    consumers: int | None = None  # API edition: input queue consumers (service instances)
    in_flight: int | None = None
    at: float = field(default_factory=time.time)


class BackendContext:
    """What the engine gives a backend: the store, and thread-safe ways to publish changes and status."""

    def __init__(
        self,
        store: JobStore,
        publish: Callable[[Sequence[Job]], None],
        report_status: Callable[[SourceStatus], None],
    ) -> None:
        self.store = store
        self._publish = publish
        self._report_status = report_status

    def publish(self, jobs: Sequence[Job]) -> None:
        """Tell the engine these jobs changed (already stored). Safe to call from any thread."""
        if jobs:
            self._publish(jobs)

    def report_status(self, status: SourceStatus) -> None:
        """Safe to call from any thread."""
        self._report_status(status)

    def apply(self, updates: Sequence[JobUpdate]) -> list[Job]:
        """Store updates in one transaction and publish what changed."""
        changed = self.store.apply_many(updates)
        self.publish(changed)
        return changed


class Backend(abc.ABC):
    """One profile's service. Subclasses: DedicatedBackend (ComfyUI HTTP), EasQueueBackend (API edition)."""

    capabilities: ClassVar[Capabilities]

    def __init__(self, profile: Profile, context: BackendContext) -> None:
        self.profile = profile
        self.context = context

    @abc.abstractmethod
    async def submit(self, job: Job) -> SubmitResult:
        """Send a job that is already stored (write-ahead) with its ids set: prompt_id (dedicated) or task_id (API)."""

    @abc.abstractmethod
    async def cancel(self, job: Job) -> None:
        """Ask the service to drop or interrupt the job (only when `capabilities.can_cancel`)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start following this profile's jobs (pollers, websockets, sink watcher)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop every source; returns when they have stopped (bounded, about a second)."""

    @abc.abstractmethod
    async def reconcile(self, jobs: Sequence[Job]) -> list[JobUpdate]:
        """Look up jobs a crash left `submitting` or in flight, without ever submitting anything twice."""

    @abc.abstractmethod
    async def check_connection(self) -> tuple[bool, str]:
        """One cheap request: (reachable and authorized, a human message)."""

    def job_submitted(self, job: Job) -> None:
        """Hint that a job was just accepted (pollers speed up). Optional."""

    async def checkpoint_choices(self) -> CheckpointChoices:
        """The checkpoint names the service has (the parameters form offers them), or no list and why; never raises.
        A backend whose service cannot list them says so (not available: nothing to warn about)."""
        return CheckpointChoices.unavailable(f"profile {self.profile.name!r} cannot list its checkpoints")
