"""Dedicated edition: plain ComfyUI HTTP (ArtLab dedicated edition, or a local ComfyUI without a token).

Submit: `POST /prompt` with our own `prompt_id`, the profile's `client_id` and a marker (our job id) in
`extra_data`, so a crash mid-submit can be reconciled by looking that id up. A submit whose answer is lost (timeout,
dropped connection, a gateway's 5xx, a garbled 200) may still have been taken: the prompt is then looked up in
`/queue` and `/history` by its marker and adopted when found, failed as a (retryable) transport error when not,
and marked `unknown` (never retried automatically) when the server cannot even be asked; the poller keeps looking
for such a job and settles it by its history entry once the server answers again.

Follow: one poller per profile (design.md §2 rule 6) asks `GET /queue` once per cycle and `GET /history/<id>` only
for our in-flight jobs that left the queue; a websocket on the same `client_id` adds live progress and says at once
when a job ended, so the poller looks right then. Cancel: delete from the queue while pending, interrupt while
running.

The server conversation is `comfy_api.py`, live progress `comfy_progress.py`, what a job's absence means
`dedicated_settle.py`, other clients' prompts `external.py`; this module runs them for one profile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from tui.core import payloads
from tui.core.aio import wait_event
from tui.core.backends.base import Backend, Capabilities, SourceState, SourceStatus, SubmitResult
from tui.core.backends.comfy_api import (
    SUBMIT_MARKER_KEY, ComfyApi, NoSuchRoute, is_unreadable_request_answer, marker, queue_number,
)
from tui.core.backends.comfy_progress import ProgressSocket
from tui.core.backends.common import BackendError, Backoff
from tui.core.backends.dedicated_settle import HISTORY_RACE_DELAY, HISTORY_RACE_POLLS, Settler
from tui.core.backends.external import ExternalJobs
from tui.core.backends.http import ServiceError, unauthorized_message
from tui.core.checkpoints import CheckpointChoices
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate

if TYPE_CHECKING:
    from tui.core.backends.base import BackendContext
    from tui.core.config import Profile

log = logging.getLogger(__name__)

# Re-exported for tests/integration/test_backend_dedicated.py and tests/faults/test_dedicated_submit_timeout.py.
__all__ = ["HISTORY_RACE_POLLS", "SUBMIT_MARKER_KEY", "DedicatedBackend"]

# /history requests in flight at once within one poll cycle.
HISTORY_CONCURRENCY = 8
# A status with nothing new is still re-sent this often, so `last_seen` stays fresh.
STATUS_REFRESH_SECONDS = 5.0
# While the server does not answer, the poller tries again at least this often, so its return (and what it forgot
# in a restart) is noticed within seconds, not after a backoff grown to half a minute.
RETURN_PROBE_SECONDS = 5.0
# A whole poll cycle (/queue, the newest /history, the look-ups) may take this many request deadlines: each request
# has its own, and a cycle of requests that each stay just within it must not stall the poller either.
CYCLE_DEADLINE_REQUESTS = 2.0
# How many of the newest /history entries the look-up after an unanswered submit scans for the marker (it finds a
# prompt a server stored under an id of its own; ours is looked up directly).
SUBMIT_LOOKUP_HISTORY_ITEMS = 64
# The warning of an `unknown` job (unanswered submit) once the server, answering again, shows it in its queue.
FOUND_AFTER_ALL = "the submit went unanswered, but the server has this job after all (in /queue): its result settles it"
# Send failures after which the request surely never reached the server (no look-up needed).
_NOT_SENT_ERRORS: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


@dataclass(frozen=True)
class _Found:
    """Where the server holds a prompt we could not hear the submit answer of."""

    prompt_id: str
    number: int | None
    where: str  # "/queue" or "/history"


class DedicatedBackend(Backend):
    """One dedicated-edition profile: submit over HTTP, follow with a poller + a websocket, cancel, reconcile."""

    capabilities: ClassVar[Capabilities] = Capabilities(can_cancel=True, has_progress=True, has_queue_position=True)

    def __init__(self, profile: Profile, context: BackendContext) -> None:
        super().__init__(profile, context)
        self.base_url = str(profile.url).rstrip("/")
        self.api = ComfyApi(profile, self.base_url)
        self.settler = Settler(self.base_url, profile.lost_after)
        self.progress = ProgressSocket(
            profile, self.base_url, context,
            on_open=self._wake_poller, on_drop=self._connection_dropped, on_change=self._report, wake=self._wake_poller,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._running = False
        # Other clients' prompts (external jobs): the /history window, and prompt ids known to be stored already.
        self.external = ExternalJobs(profile, context, self.api)
        # Whether the server has the jobs API (ComfyUI 0.38+: /api/jobs, per-job cancel); None until asked on this
        # connection (asked again after an outage: the server may have been upgraded meanwhile).
        self.jobs_api: bool | None = None
        # Health, merged into one SourceStatus.
        self._http_error: str | None = None
        self._auth_error: str | None = None
        self._degraded = False  # the last failure was a slow or oversized answer, not a missing server
        self._answered = False
        self._last_seen: float | None = None
        self._in_flight = 0
        self._last_status: tuple[Any, ...] | None = None
        self._last_status_at = 0.0
        # The overall deadline of one poll cycle (cut short past it, and the source shows as degraded).
        self.cycle_deadline = CYCLE_DEADLINE_REQUESTS * float(profile.request_timeout or 30.0)
        # Counters the tests read.
        self.poll_cycles = 0
        self.polling = False  # a cycle is under way (counted at its start: a benchmark starting mid-cycle needs to know)

    def _wake_poller(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ HTTP plumbing

    def _http(self) -> httpx.AsyncClient:
        return self.api.http.client()

    @property
    def ws_connection_attempts(self) -> int:
        return self.progress.connection_attempts

    def _mark_answered(self) -> None:
        self._answered = True
        self._last_seen = time.time()
        self._http_error = None
        self._auth_error = None

    def _mark_failed(self, error: ServiceError) -> None:
        self._degraded = error.degraded
        if error.auth:
            self._auth_error = str(error)
            self._http_error = None
        else:
            self._http_error = str(error)
            self._auth_error = None

    # ------------------------------------------------------------------ submit

    async def submit(self, job: Job) -> SubmitResult:
        """Send one stored job. An unanswered send is looked up before it counts as failed (module docstring).

        When the server cannot be asked either, the job is stored as `unknown` here (it may run; no automatic retry)
        and the result says accepted, so the engine neither fails nor retries it; the poller keeps looking for it.
        """
        if not job.prompt_id:
            return SubmitResult(accepted=False, failure=Failure(FailureCategory.REJECTED, "job has no prompt_id"))
        body = {
            "prompt": job.workflow,
            "client_id": self.profile.client_id,
            "prompt_id": job.prompt_id,
            "extra_data": {SUBMIT_MARKER_KEY: job.id},
        }
        try:
            response = await self.api.http.fetch("POST", "/prompt", submit=True, json=body)
        except _NOT_SENT_ERRORS as exc:
            return self._transport_failure(self._send_error(exc))
        except httpx.HTTPError as exc:  # read timeout, dropped connection, ...: it may have been taken
            return await self._after_unanswered_submit(job, self._send_error(exc))
        status = response.status_code
        if status in (401, 403):
            self._auth_error = unauthorized_message(status, self.base_url, self.profile.name)
            self._report(force=True)
            return SubmitResult(accepted=False, failure=Failure(FailureCategory.AUTH, self._auth_error))
        answer = payloads.parse_prompt_response(status, response.content, response.headers.get("content-type"))
        if is_unreadable_request_answer(response):
            # ComfyUI itself could not read the body: a rejection (the same body gets the same answer), nothing queued.
            failure = answer.failure or Failure(FailureCategory.REJECTED, f"HTTP {status} from {self.base_url}")
            return SubmitResult(accepted=False, failure=failure)
        if status >= 500 or (200 <= status < 300 and not answer.accepted):
            # A gateway's 5xx (the request may have been forwarded) or a garbled 200: it may have been taken.
            reason = answer.failure.message if answer.failure else f"HTTP {status} from {self.base_url}"
            return await self._after_unanswered_submit(job, reason)
        if not answer.accepted:
            failure = answer.failure or Failure(FailureCategory.REJECTED, f"HTTP {status} from {self.base_url}")
            return SubmitResult(accepted=False, failure=failure)
        self._mark_answered()
        return SubmitResult(
            accepted=True,
            prompt_id=answer.prompt_id or job.prompt_id,
            queue_index=answer.number,
            warning=answer.warning,
        )

    def _send_error(self, exc: httpx.HTTPError) -> str:
        return self.api.http.transport_message(exc, self.base_url, "POST /prompt")

    def _transport_failure(self, message: str) -> SubmitResult:
        return SubmitResult(
            accepted=False, failure=Failure(FailureCategory.TRANSPORT, message), transport_error=True
        )

    async def _after_unanswered_submit(self, job: Job, reason: str) -> SubmitResult:
        """The answer to POST /prompt was lost: adopt the prompt if the server has it, else say why not."""
        seen = self.context.store.get(job.id)
        if seen.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED):
            # Meanwhile the poller saw it in /queue (or /history), or the websocket saw it run: it was taken.
            log.warning("%s: %s, but job %s is %s there already", self.profile.name, reason, job.id[:8], seen.state)
            return SubmitResult(accepted=True, prompt_id=job.prompt_id)
        try:
            found = await self._find_submitted(job)
        except ServiceError as exc:
            self._mark_failed(exc)
            self._report()
            return self._outcome_unknown(job, reason, str(exc))
        self._mark_answered()
        if found is None:
            return self._transport_failure(
                f"{reason}; it is in neither /queue nor /history there, so it was not taken"
            )
        log.warning(
            "%s: %s, but the server has job %s in %s (prompt_id %s): following it",
            self.profile.name, reason, job.id[:8], found.where, found.prompt_id,
        )
        return SubmitResult(accepted=True, prompt_id=found.prompt_id, queue_index=found.number)

    async def _find_submitted(self, job: Job) -> _Found | None:
        """Where the server holds this job's prompt, by its marker: /queue first, then /history.

        In that order, so a prompt that ends between the two looks is still seen in one of them. Our own prompt_id
        is asked for directly; the newest history entries are scanned too, for a server that chose its own id.
        Raises `ServiceError` when the server cannot tell.
        """
        queue = await self.api.queue()
        if job.id in queue.marked:
            prompt_id, number = queue.marked[job.id]
            return _Found(prompt_id, number, "/queue")
        if job.prompt_id:
            entry = (await self.api.history_map(f"/history/{job.prompt_id}")).get(job.prompt_id)
            if isinstance(entry, dict) and marker(entry.get("prompt")) == job.id:
                return _Found(job.prompt_id, queue_number(entry.get("prompt")), "/history")
        try:
            recent = await self.api.history_map(f"/history?max_items={SUBMIT_LOOKUP_HISTORY_ITEMS}")
        except NoSuchRoute:
            recent = {}  # not offered here (e.g. a proxy that forwards only some routes): the direct look suffices
        for prompt_id, entry in recent.items():
            if isinstance(entry, dict) and marker(entry.get("prompt")) == job.id:
                return _Found(str(prompt_id), queue_number(entry.get("prompt")), "/history")
        return None

    def _outcome_unknown(self, job: Job, reason: str, lookup_error: str) -> SubmitResult:
        """Neither the submit nor the look-up was answered: the job may run. Say so; never retry it blindly."""
        warning = (
            f"outcome unknown: {reason}, and whether the server took it could not be checked ({lookup_error}). "
            f"It may still run, so it is not retried automatically; while comfyq runs it keeps looking for it "
            f"(prompt_id {job.prompt_id}). Check the server's queue and history before resubmitting"
        )
        self.context.apply([JobUpdate(job.id, state=JobState.UNKNOWN, at=time.time(), warning=warning)])
        self.settler.unconfirmed[job.id] = None
        self._wake.set()
        return SubmitResult(accepted=True, prompt_id=job.prompt_id, warning=warning)

    def job_submitted(self, job: Job) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._wake = asyncio.Event()
        self._report(force=True)
        self._tasks = [
            asyncio.create_task(self._poll_loop(), name=f"poller {self.profile.name}"),
            asyncio.create_task(self.progress.run(), name=f"websocket {self.profile.name}"),
        ]

    async def stop(self) -> None:
        self._running = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        await self.api.http.aclose()
        self._last_status = None
        self.context.report_status(SourceStatus(self.profile.name, SourceState.STOPPED, last_seen=self._last_seen))

    # ------------------------------------------------------------------ status

    def _report(self, *, force: bool = False) -> None:
        if self._auth_error:
            state, error = SourceState.ERROR, self._auth_error
        elif self._http_error:
            state = SourceState.DEGRADED if self._degraded else SourceState.RECONNECTING
            error = self._http_error
        elif not self._answered:
            state, error = SourceState.CONNECTING, None
        else:
            state = SourceState.CONNECTED
            error = f"live progress unavailable: {self.progress.error}" if self.progress.error else None
        key = (state, error, self._in_flight)
        now = time.monotonic()
        if not force and key == self._last_status and now - self._last_status_at < STATUS_REFRESH_SECONDS:
            return
        self._last_status, self._last_status_at = key, now
        self.context.report_status(
            SourceStatus(self.profile.name, state, last_seen=self._last_seen, error=error, in_flight=self._in_flight)
        )

    # ------------------------------------------------------------------ poller

    async def _poll_loop(self) -> None:
        backoff = Backoff(maximum=RETURN_PROBE_SECONDS)
        while True:
            self._wake.clear()
            try:
                async with asyncio.timeout(self.cycle_deadline):
                    busy = await self.poll_once()
                backoff.reset()
                if self.settler.race_pending:
                    delay = min(self.profile.poll_interval, HISTORY_RACE_DELAY)
                else:
                    delay = self.profile.poll_interval if busy else self.profile.idle_poll_interval
            except ServiceError as exc:
                self._mark_failed(exc)
                if not exc.auth:
                    self._server_down()
                delay = max(self.profile.poll_interval, backoff.next())
            except TimeoutError:
                # Every request answered within its deadline, but together they took too long: the server is
                # there and slow. The cycle is cut (nothing it learnt is judged), the next one follows a pause.
                self._mark_failed(ServiceError(
                    f"{self.base_url} is slow: a poll cycle did not finish within {self.cycle_deadline:g} s "
                    "(cut short; polling goes on)",
                    degraded=True,
                ))
                delay = max(self.profile.poll_interval, backoff.next())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the poller: log it and keep going, slowly
                log.exception("%s: poll cycle failed", self.profile.name)
                self._http_error = self.api.http.scrub(f"poll failed: {exc}")
                delay = max(self.profile.poll_interval, backoff.next())
            self._report()
            await wait_event(self._wake, delay)

    async def poll_once(self) -> bool:
        """One cycle: `/queue` once, the newest `/history` entries once (external jobs on), `/history/<id>` for our
        in-flight jobs that left the queue and are not among them. True if jobs are in flight."""
        self.poll_cycles += 1
        self.polling = True
        try:
            return await self._poll_cycle()
        finally:
            self.polling = False

    async def _poll_cycle(self) -> bool:
        self.settler.race_pending = False
        jobs = [job for job in self.context.store.active(self.profile.name) if job.prompt_id]
        unconfirmed = self._unconfirmed_jobs()
        queue = await self.api.queue()
        self._mark_answered()
        if self.jobs_api is None:
            await self._detect_generation()
        # Every client's newest results, once per cycle: settles our jobs that left the queue (no request per job)
        # and brings other clients' prompts in as external jobs.
        recent = await self.external.recent_history()
        self._in_flight = len(jobs)
        now = time.time()
        self.settler.server_answered()
        # The server answers: rows that said "server unreachable" (this process's, another's, an earlier run's) no
        # longer do.
        updates: list[JobUpdate] = [
            JobUpdate(job.id, unreachable_since=0) for job in jobs if job.unreachable_since is not None
        ]
        to_look_up: list[Job] = []
        for job in unconfirmed:
            if job.id in queue.marked:
                self.settler.unconfirmed[job.id] = None  # it is there after all: its history entry will settle it
                updates.append(JobUpdate(job.id, warning=FOUND_AFTER_ALL))
            else:
                to_look_up.append(job)
        for job in jobs:
            prompt_id = job.prompt_id
            assert prompt_id is not None
            if prompt_id in queue.running:
                self.settler.seen(job.id)
                if job.state is not JobState.RUNNING:
                    updates.append(JobUpdate(job.id, state=JobState.RUNNING, at=now))
            elif prompt_id in queue.pending_position:
                self.settler.seen(job.id)
                position = queue.pending_position[prompt_id]
                if job.state is not JobState.QUEUED or job.queue_position != position:
                    updates.append(JobUpdate(job.id, state=JobState.QUEUED, queue_position=position, at=now))
            elif job.state is not JobState.SUBMITTING:
                # `submitting` rows belong to the engine (a send in flight) or to reconcile (a crash).
                if prompt_id in recent:
                    outcome = payloads.parse_history_entry(recent[prompt_id], prompt_id)
                    updates.extend(self.settler.settle(job, outcome, now))
                else:
                    to_look_up.append(job)
        if to_look_up:
            semaphore = asyncio.Semaphore(HISTORY_CONCURRENCY)

            async def look_up(prompt_id: str) -> payloads.Outcome | None:
                async with semaphore:
                    return await self.api.history(prompt_id)

            outcomes = await asyncio.gather(*(look_up(job.prompt_id or "") for job in to_look_up))
            now = time.time()
            for job, outcome in zip(to_look_up, outcomes):
                if job.id in self.settler.unconfirmed:
                    updates.extend(self.settler.settle_unconfirmed(job, outcome, now))
                else:
                    updates.extend(self.settler.settle(job, outcome, now))
        if updates:
            changed = self.context.apply(updates)
            self._forget_finished(changed)
        self.external.import_new(queue, recent, {job.prompt_id for job in jobs if job.prompt_id}, now)
        return bool(jobs or unconfirmed)

    async def _detect_generation(self) -> None:
        """Ask once per connection whether the server has the jobs API (asked again next cycle if it cannot tell)."""
        found = await self.api.has_jobs_api()
        if found is not None:
            self.jobs_api = found

    def _server_down(self) -> None:
        """The poller could not reach the server: count the outage once, and say so on the in-flight rows."""
        self.jobs_api = None
        down_since = self.settler.server_unreachable(time.time())
        jobs = self.context.store.active(self.profile.name, with_workflow=False)
        marks = [
            JobUpdate(job.id, unreachable_since=down_since)
            for job in jobs
            if job.unreachable_since is None and job.state is not JobState.SUBMITTING
        ]
        if marks:
            self.context.apply(marks)

    def _connection_dropped(self) -> None:
        """The websocket, once open, was closed or broke: the server may have restarted. Look at once."""
        self.jobs_api = None
        self.settler.connection_dropped(time.time())
        self._wake.set()

    def _forget_finished(self, jobs: Sequence[Job]) -> None:
        self.settler.forget_finished(jobs)
        for job in jobs:
            if job.state.is_terminal and job.prompt_id:
                self.progress.forget(job.prompt_id)

    def _unconfirmed_jobs(self) -> list[Job]:
        """The `unknown` jobs of an unanswered submit still to be found; ones settled meanwhile are dropped."""
        jobs = []
        for job_id in list(self.settler.unconfirmed):
            job = self.context.store.get(job_id)
            if job.state is JobState.UNKNOWN and job.prompt_id:
                jobs.append(job)
            else:
                self.settler.unconfirmed.pop(job_id, None)
        return jobs

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job: Job) -> None:
        prompt_id = job.prompt_id
        if not prompt_id:
            raise BackendError(f"job {job.id[:8]} has no prompt_id: it never reached {self.base_url}")
        self.settler.cancel_requested.add(job.id)
        try:
            if self.jobs_api is None:
                await self._detect_generation()
            if self.jobs_api:
                await self._cancel_with_jobs_api(job, prompt_id)
                return
            queue = await self.api.queue()
            if prompt_id in queue.pending_position:
                await self.api.request("POST", "/queue", json={"delete": [prompt_id]})
                queue = await self.api.queue()
                if not queue.has(prompt_id) and await self.api.history(prompt_id) is None:
                    # Deleted before it ran: it never reaches /history, so this is the only word on it.
                    self.context.apply(
                        [self.settler.cancelled_update(job, time.time(), "cancelled at your request before it started")]
                    )
            if prompt_id in queue.running:
                # The outcome (history says interrupted) arrives through the poller, which knows the user asked.
                await self.api.request("POST", "/interrupt", json={"prompt_id": prompt_id})
        except ServiceError as exc:
            raise BackendError(f"could not cancel job {job.id[:8]}: {exc}") from exc
        finally:
            self._wake.set()

    async def _cancel_with_jobs_api(self, job: Job, prompt_id: str) -> None:
        """Newer servers: `POST /api/jobs/{id}/cancel` removes a pending job or interrupts the running one, and says
        whether it did. A removed pending job never reaches /history: this answer is the only word on it."""
        pending = prompt_id in (await self.api.queue()).pending_position
        cancelled = await self.api.cancel_with_jobs_api(prompt_id)
        if cancelled and pending:
            self.context.apply(
                [self.settler.cancelled_update(job, time.time(), "cancelled at your request before it started")]
            )
        # Running: interrupted; its history entry (interrupted) settles it as cancelled through the poller.
        # Not cancelled: it had ended already; the poller settles it by its result.

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self, jobs: Sequence[Job]) -> list[JobUpdate]:
        """Look every unfinished row up by its (client-chosen) prompt_id; never submit anything.

        Raises BackendError when the service cannot be asked (the engine tries again later).
        """
        ours = [job for job in jobs if job.profile == self.profile.name and job.state.is_active]
        if not ours:
            return []
        try:
            queue = await self.api.queue()
            self._mark_answered()
            updates: list[JobUpdate] = []
            now = time.time()
            left_queue = [job for job in ours if job.prompt_id and not queue.has(job.prompt_id)]
            semaphore = asyncio.Semaphore(HISTORY_CONCURRENCY)

            async def look_up(prompt_id: str) -> payloads.Outcome | None:
                async with semaphore:
                    return await self.api.history(prompt_id)

            outcomes = dict(
                zip(
                    [job.id for job in left_queue],
                    await asyncio.gather(*(look_up(job.prompt_id or "") for job in left_queue)),
                )
            )
            for job in ours:
                prompt_id = job.prompt_id
                if not prompt_id:
                    updates.append(self._not_accepted(job, now))
                    continue
                if prompt_id in queue.running:
                    self.settler.seen(job.id)
                    updates.append(JobUpdate(job.id, state=JobState.RUNNING, at=now))
                    continue
                if prompt_id in queue.pending_position:
                    self.settler.seen(job.id)
                    position = queue.pending_position[prompt_id]
                    updates.append(JobUpdate(job.id, state=JobState.QUEUED, queue_position=position, at=now))
                    continue
                outcome = outcomes.get(job.id)
                if outcome is None:
                    if job.state is JobState.SUBMITTING:
                        updates.append(self._not_accepted(job, now))
                    # queued / running rows found nowhere: the poller's lost_after grace decides.
                    continue
                if outcome.state is JobState.SUCCEEDED and not outcome.outputs:
                    # Let the poller give the /history race its few looks.
                    updates.append(JobUpdate(job.id, state=JobState.RUNNING, at=now))
                    continue
                updates.extend(self.settler.settle(job, outcome, now))
        except ServiceError as exc:
            self._mark_failed(exc)
            self._report()
            raise BackendError(f"could not reconcile with {self.base_url}: {exc}") from exc
        self._wake.set()
        return updates

    @staticmethod
    def _not_accepted(job: Job, now: float) -> JobUpdate:
        return JobUpdate(
            job.id,
            state=JobState.FAILED,
            at=now,
            failure=Failure(FailureCategory.TRANSPORT, "not accepted before comfyq stopped; resubmit it"),
        )

    async def checkpoint_choices(self) -> CheckpointChoices:
        return await self.api.checkpoint_choices()

    # ------------------------------------------------------------------ connection test

    async def check_connection(self) -> tuple[bool, str]:
        try:
            stats = await self.api.get_json("/system_stats")
        except ServiceError as exc:
            return False, str(exc)
        version = ""
        if isinstance(stats, dict) and isinstance(stats.get("system"), dict):
            version = str(stats["system"].get("comfyui_version") or "")
        if self.jobs_api is None:
            await self._detect_generation()
        api = " (jobs API)" if self.jobs_api else ""
        return True, f"ComfyUI {version} at {self.base_url}{api}".replace("ComfyUI  at", "ComfyUI at")


