"""What the Engine tells its subscribers (the TUI, the CLI): small frozen dataclasses, delivered on the loop thread.

A subscriber matches on the type:

    def on_event(event: Event) -> None:
        if isinstance(event, JobChanged): ...

`JobChanged` is coalesced: when a job changes many times between two deliveries, only its latest version is
delivered (design.md §2 rule 8), so a subscriber must treat each event as "this is the job now", never as a delta.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Union

from tui.core.backends.base import SourceStatus
from tui.core.jobs import Job


@dataclass(frozen=True)
class JobChanged:
    """A job was stored with new facts; `job` is its latest stored version."""

    job: Job


@dataclass(frozen=True)
class SourceStatusChanged:
    """The health of one profile's sources changed (connected, reconnecting, unauthorized, ...)."""

    status: SourceStatus

    @property
    def profile(self) -> str:
        return self.status.profile


@dataclass(frozen=True)
class EngineError:
    """Something went wrong that the user should see (already logged). `profile` is None for engine-wide errors."""

    profile: str | None
    message: str
    at: float = field(default_factory=time.time)


Event = Union[JobChanged, SourceStatusChanged, EngineError]
