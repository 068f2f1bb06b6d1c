"""What the dedicated poller's looks mean for a job: settled by its `/history` entry, or — absent from both `/queue`
and `/history` — waiting, `lost`, or forgotten in a server restart.

The server answers only "have it" or "not": whether "not" means "deleted", "forgotten in a restart" or "not yet
written" depends on what happened before. This keeps that memory per job (when it was first missing, how many
looks in a row, which outage came after it was last seen, the /history race's empty looks, a cancel asked for,
an unanswered submit still looked for) and turns one answer into the updates it means.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from tui.core import payloads
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate

# After a success entry without outputs, look again this many times (the /history race) before accepting it.
HISTORY_RACE_POLLS = 4
HISTORY_RACE_DELAY = 0.25  # seconds between those looks
# After an outage (the poller could not reach the server, or the websocket dropped), a job the server had before it
# and now has in neither /queue nor /history in this many consecutive looks (one per poll cycle) was forgotten in a
# restart: `lost` at once, not after `lost_after`. Two looks, because one could meet a server still starting up.
FORGOTTEN_AFTER_LOOKS = 2


def _clock(timestamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


class Settler:
    """One dedicated profile's memory of its jobs' whereabouts, and the updates each look means."""

    def __init__(self, base_url: str, lost_after: float) -> None:
        self.base_url = base_url
        self.lost_after = lost_after
        self._missing_since: dict[str, float] = {}  # job id -> when it was first in neither /queue nor /history
        self._missing_looks: dict[str, int] = {}  # consecutive poll cycles a job was in neither
        # Outages (poller failures, websocket drops) seen so far, and per job the count when it was last seen on the
        # server: a job last seen before an outage and absent since may have been forgotten in a restart.
        self.outages = 0
        self._seen_at_outage: dict[str, int] = {}
        self.down_since: float | None = None  # when the poller first failed to reach the server; None while it answers
        self.last_outage = ""  # how the last outage showed, for the `lost` message
        self._empty_looks: dict[str, int] = {}  # success entries without outputs seen so far (the /history race)
        self.race_pending = False  # a job waits for another look at its empty success entry: poll again soon
        # Jobs the user asked to cancel: an interrupted history entry then means "cancelled", not "failed".
        self.cancel_requested: set[str] = set()
        # Jobs marked `unknown` because a submit went unanswered and the server could not be asked, looked for until
        # found or long absent: job id -> when the server (answering again) was first seen without it, or None.
        self.unconfirmed: dict[str, float | None] = {}

    def seen(self, job_id: str) -> None:
        """The server has this job now (in /queue)."""
        self._missing_since.pop(job_id, None)
        self._missing_looks.pop(job_id, None)
        self._seen_at_outage[job_id] = self.outages

    def server_unreachable(self, now: float) -> float:
        """The poller could not reach the server: count the outage once. Returns when it went down."""
        if self.down_since is None:
            self.down_since = now
            self.outages += 1
            self.last_outage = f"{self.base_url} was unreachable from {_clock(now)}"
        return self.down_since

    def connection_dropped(self, now: float) -> None:
        """The websocket, once open, was closed or broke: the server may have restarted."""
        if self.down_since is None:
            self.outages += 1
            self.last_outage = f"the connection to {self.base_url} dropped at {_clock(now)}"

    def server_answered(self) -> None:
        self.down_since = None

    def settle_unconfirmed(self, job: Job, outcome: payloads.Outcome | None, now: float) -> list[JobUpdate]:
        """An `unknown` job (unanswered submit) not in the queue: its history entry, once there, settles it.

        Absent for `lost_after` while the server answers, it most likely never arrived; but the server may have
        lost it in a restart after running it, so it stays `unknown` (never retried automatically), with a warning
        that says so, and is no longer looked for.
        """
        if outcome is not None:
            settled = self.settle(job, outcome, now)
            if settled:  # (none yet while the /history race gets its looks)
                self.unconfirmed.pop(job.id, None)
            # The "outcome unknown" warning no longer holds once the real outcome is known.
            return [dataclasses.replace(update, warning=update.warning or "") for update in settled]
        first = self.unconfirmed.get(job.id) or now
        self.unconfirmed[job.id] = first
        if now - first < self.lost_after:
            return []
        self.unconfirmed.pop(job.id, None)
        warning = (
            f"outcome unknown: POST /prompt went unanswered, and {self.base_url}, answering again, has not had it "
            f"for {now - first:.0f} s (not in /queue nor /history). It most likely never arrived, but a server "
            f"restart would also forget it, so it is not retried automatically: resubmit it if its outputs are missing"
        )
        return [JobUpdate(job.id, warning=warning)]

    def settle(self, job: Job, outcome: payloads.Outcome | None, now: float) -> list[JobUpdate]:
        """What one history answer means for a job that is no longer in the queue."""
        if outcome is None:
            if job.id in self.cancel_requested and job.state is JobState.QUEUED:
                return [self.cancelled_update(job, now, "cancelled at your request before it started")]
            first = self._missing_since.setdefault(job.id, now)
            looks = self._missing_looks[job.id] = self._missing_looks.get(job.id, 0) + 1
            seen_at = self._seen_at_outage.get(job.id)
            # Forgotten in a restart: absent in consecutive looks, and an outage came after we last saw it there (or
            # this process never saw it there: it was in flight when comfyq started following).
            forgotten = looks >= FORGOTTEN_AFTER_LOOKS and (seen_at is None or seen_at < self.outages)
            if not forgotten and now - first < self.lost_after:
                return []
            self._missing_since.pop(job.id, None)
            self._missing_looks.pop(job.id, None)
            if forgotten and seen_at is not None:
                message = (
                    f"the server restarted and forgot it: {self.last_outage}, and answering again it has this job "
                    f"in neither /queue nor /history"
                )
            elif forgotten:
                message = (
                    f"the server does not know it: {self.base_url} has had this job in neither /queue nor /history "
                    f"in {looks} looks in a row (deleted there, or forgotten in a restart)"
                )
            else:
                message = (
                    f"{self.base_url} has not known this job (not in /queue nor /history) for "
                    f"{now - first:.0f} s; it was probably deleted on the server or lost in a restart"
                )
            return [
                JobUpdate(
                    job.id, state=JobState.LOST, at=now, warning=message,
                    failure=Failure(FailureCategory.LOST, message),
                )
            ]
        self._missing_since.pop(job.id, None)
        self._missing_looks.pop(job.id, None)
        state = outcome.state
        warning = outcome.warning
        if state is JobState.SUCCEEDED and not outcome.outputs:
            looks = self._empty_looks.get(job.id, 0) + 1
            if looks < HISTORY_RACE_POLLS:
                self._empty_looks[job.id] = looks
                self.race_pending = True
                return []
            self._empty_looks.pop(job.id, None)
            warning = warning or "succeeded, but no outputs appeared in /history"
        if (
            state is JobState.FAILED
            and job.id in self.cancel_requested
            and outcome.failure is not None
            and outcome.failure.category is FailureCategory.INTERRUPTED
        ):
            where = f" while running node {outcome.failure.node_id}" if outcome.failure.node_id else ""
            return [
                JobUpdate(
                    job.id,
                    state=JobState.CANCELLED,
                    at=now,
                    failure=Failure(
                        FailureCategory.INTERRUPTED,
                        f"cancelled at your request (interrupted{where})",
                        node_id=outcome.failure.node_id,
                        class_type=outcome.failure.class_type,
                    ),
                    outputs=tuple(outcome.outputs),
                    raw_result=outcome.raw or None,
                )
            ]
        return [
            JobUpdate(
                job.id,
                state=state,
                at=now,
                outputs=tuple(outcome.outputs),
                failure=outcome.failure,
                warning=warning,
                raw_result=outcome.raw or None,
                prompt_id=outcome.prompt_id,
            )
        ]

    def cancelled_update(self, job: Job, now: float, message: str) -> JobUpdate:
        failure = Failure(FailureCategory.INTERRUPTED, message)
        return JobUpdate(job.id, state=JobState.CANCELLED, at=now, failure=failure)

    def forget_finished(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.state.is_terminal:
                self.cancel_requested.discard(job.id)
                self._missing_since.pop(job.id, None)
                self._missing_looks.pop(job.id, None)
                self._seen_at_outage.pop(job.id, None)
                self._empty_looks.pop(job.id, None)
