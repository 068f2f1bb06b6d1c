"""The Engine: submit, resubmit, cancel and reconcile jobs, run every profile's sources, and emit events.

It has no user interface (design.md §2): the TUI and the headless CLI both drive it. The JobStore owns job state;
the engine only

- writes each job ahead of any network call (a crash leaves a `submitting` row, never a job nobody knows about),
- hands stored jobs to the profile's backend with bounded concurrency and stores what the service answered,
- runs the backends' sources (pollers, websockets, sink watchers) which write their facts into the store through
  a BackendContext, and
- turns stored changes into events for its subscribers, on the event loop thread, coalesced per job
  (`event_hub.py`: sources may publish from their own threads).

What a submission makes is planned in `job_planning.py`, the answers are stored a few at a time
(`answer_batch.py`), `sending_lock.py` tells other processes a send is under way, `retry_policy.py` says which
failures get another attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui.core.aio import wait_event
from tui.core.backends import create_backend, load_backend_modules
from tui.core.backends.base import Backend, BackendContext, Capabilities, SourceState, SourceStatus
from tui.core.batch import check_job_count, new_batch_name
from tui.core.checkpoints import CheckpointCache, CheckpointChoices
from tui.core.event_hub import EventHub, Subscriber
from tui.core.events import EngineError, Event, JobChanged, SourceStatusChanged
from tui.core.job_planning import SubmissionRequest, apply_params, new_job, plan_submission, retry_of
from tui.core.jobs import Edition, Failure, Job, JobState, JobUpdate
from tui.core.retry_policy import default_retry_delay, retry_eligible
from tui.core.sender import BACKGROUND_ABOVE, Route, Sender
from tui.core.sending_lock import SendingLock

if TYPE_CHECKING:
    from tui.core.config import Config, Profile
    from tui.core.store import JobStore

# SubmissionRequest (what submit takes) and apply_params (job_planning), SendingLock (sending_lock) and
# default_retry_delay (retry_policy) re-exported for the callers: tui/commands/jobs_cmd.py, screens/job_actions.py,
# bench/ and tests.
__all__ = [
    "CancelNotSupported", "Engine", "EngineUsageError", "SendingLock", "SubmissionRequest", "UnknownProfile",
    "apply_params", "default_retry_delay",
]

log = logging.getLogger(__name__)

BackendFactory = Callable[["Profile", BackendContext], Backend]

# How long wait() sleeps between store checks when no event arrives (events normally wake it sooner).
_WAIT_RECHECK_SECONDS = 1.0
# A reconcile that failed (service down at start) is tried again this often until it succeeds.
_RECONCILE_RETRY_SECONDS = 5.0


class EngineUsageError(ValueError):
    """A request the engine refuses with a message for the user (unknown profile, nothing to resubmit, ...)."""


class UnknownProfile(EngineUsageError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown profile {name!r} (configured: {names})")
        self.name = name


class CancelNotSupported(EngineUsageError):
    """The profile's backend cannot cancel (capabilities.can_cancel is False)."""




class Engine:
    """Submits and follows jobs of every configured profile. All public coroutines run on one event loop."""

    def __init__(
        self,
        config: Config,
        store: JobStore,
        *,
        clock: Callable[[], float] = time.time,
        backend_factory: BackendFactory | None = None,
        retry_delay: Callable[[Failure, int], float] = default_retry_delay,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.source_statuses: dict[str, SourceStatus] = {}
        self._backend_factory = backend_factory or create_backend
        self._retry_delay = retry_delay
        self._backends: dict[str, Backend] = {}
        self._contexts: dict[str, BackendContext] = {}
        self._started: set[str] = set()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        # Changes published from any thread, delivered on the loop (coalesced per job) to _deliver.
        self._hub = EventHub(self._deliver)
        self._changed: asyncio.Event | None = None
        # Automatic retries: parents whose retry is being submitted, and parent -> child once submitted.
        self._retry_pending: set[str] = set()
        self._retry_children: dict[str, str] = {}
        self._retry_settled: set[str] = set()  # parents whose retry was made, found, or failed to be made
        self._tasks: set[asyncio.Task[Any]] = set()
        # Jobs this engine is sending right now: reconcile must not judge them (their answer is on its way).
        self._last_status_error: dict[str, str | None] = {}
        self._stopping = False
        self._follow_all = False  # start() was asked for every profile: new profiles get started on reload
        # Each profile's checkpoint names (the parameters form's completions), asked when first wanted.
        self._checkpoints = CheckpointCache(self._fetch_checkpoints)
        self._sender = Sender(
            store, route=self._route, slots=self._slots, publish=self._publish, clock=self.clock,
            cancel_remote=self._cancel_remote,
        )

    # ------------------------------------------------------------------ events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event, on the event loop thread. Returns an unsubscribe function."""
        return self._hub.subscribe(callback)

    def _emit(self, event: Event) -> None:
        self._hub.emit(event)

    def _report_error(self, profile: str | None, message: str, exc: BaseException | None = None) -> None:
        """The one place errors go: the log (with traceback when there is one) and an EngineError event."""
        if exc is not None:
            log.error("%s: %s", profile or "engine", message, exc_info=exc)
        else:
            log.error("%s: %s", profile or "engine", message)
        self._emit(EngineError(profile, message, at=self.clock()))

    def _bind_loop(self) -> None:
        if self._hub.bind():
            self._changed = asyncio.Event()

    def _publish(self, jobs: Sequence[Job]) -> None:
        """BackendContext.publish: from any thread."""
        self._hub.publish(jobs)

    def _report_status(self, status: SourceStatus) -> None:
        """BackendContext.report_status: from any thread."""
        self._hub.report_status(status)

    def _drain(self) -> None:
        self._hub.drain()

    def _deliver(self, statuses: list[SourceStatus], jobs: list[Job]) -> None:
        """On the loop thread: what was published since the last drain, as events (and automatic retries)."""
        for status in statuses:
            self._apply_status(status)
        for job in jobs:
            self._emit(JobChanged(job))
            self._maybe_retry(job)
        if self._changed is not None and (jobs or statuses):
            self._changed.set()

    def _apply_status(self, status: SourceStatus) -> None:
        if status.profile not in self.config.profiles:
            return  # the last word of a backend whose profile was removed from the config
        previous = self.source_statuses.get(status.profile)
        if status.state is SourceState.CONNECTED and (
            (previous is not None and previous.state is not SourceState.CONNECTED)
            or self._checkpoints.is_failure(status.profile)
        ):
            self._checkpoints.forget(status.profile)  # back (maybe a restarted server with other files): ask again
        self.source_statuses[status.profile] = status
        self._emit(SourceStatusChanged(status))
        # A source error is worth an EngineError once (and in the log), not on every retry of the same error.
        previous = self._last_status_error.get(status.profile)
        if status.error and status.error != previous and status.state in (SourceState.ERROR, SourceState.RECONNECTING, SourceState.DEGRADED):
            self._report_error(status.profile, status.error)
        self._last_status_error[status.profile] = status.error

    # ------------------------------------------------------------------ profiles and backends

    def profile(self, name: str) -> Profile:
        profile = self.config.profiles.get(name)
        if profile is None:
            raise UnknownProfile(name, self.config.profiles)
        return profile

    def backend(self, name: str) -> Backend:
        """The profile's backend, created on first use (its sources only run after start())."""
        backend = self._backends.get(name)
        if backend is None:
            profile = self.profile(name)
            context = BackendContext(self.store, self._publish, self._report_status)
            backend = self._backend_factory(profile, context)
            self._backends[name] = backend
            self._contexts[name] = context
            self._semaphores[name] = asyncio.Semaphore(max(1, int(profile.max_concurrent_submits or 1)))
        return backend

    @property
    def sending(self) -> int:
        """How many jobs this engine is sending right now (stored, their service's answer not in yet)."""
        return len(self._sender.sending)

    def _route(self, name: str) -> Route:
        """Where a job of profile `name` is sent: its backend, context and submit slots."""
        return self.backend(name), self._contexts[name], self._semaphores[name]

    def _slots(self, name: str) -> int:
        profile = self.config.profiles.get(name)
        return max(1, int(profile.max_concurrent_submits or 1)) if profile is not None else 1

    def capabilities(self, profile: str) -> Capabilities:
        return type(self.backend(profile)).capabilities

    def checkpoint_choices(self, profile: str) -> CheckpointChoices | None:
        """The profile's checkpoint names as last fetched; None when not fetched (or forgotten since)."""
        return self._checkpoints.cached(profile)

    async def load_checkpoint_choices(self, profile: str, *, refresh: bool = False) -> CheckpointChoices:
        """The profile's checkpoint names, fetched when not known (or `refresh`); no list, with a reason, when the
        service cannot give them. Raises only UnknownProfile."""
        self.profile(profile)
        return await self._checkpoints.get(profile, refresh=refresh)

    async def _fetch_checkpoints(self, profile: str) -> CheckpointChoices:
        try:
            choices = await self.backend(profile).checkpoint_choices()
        except Exception as exc:  # a bug, not the server: logged, and the form just has no list
            log.exception("listing the checkpoints of %s failed", profile)
            choices = CheckpointChoices.failed(f"listing the checkpoints failed: {exc}")
        return replace(choices, at=self.clock())

    async def test_connection(self, profile: str) -> tuple[bool, str]:
        """One cheap request to the profile's service: (reachable and authorized, a message for the user)."""
        self._bind_loop()
        try:
            return await self.backend(profile).check_connection()
        except EngineUsageError:
            raise
        except Exception as exc:
            log.exception("connection test of %s failed", profile)
            return False, f"connection test failed: {exc}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self, profiles: Iterable[str] | None = None) -> None:
        """Create the backends, reconcile what a previous run left in flight, then start following jobs."""
        self._bind_loop()
        self._stopping = False
        if profiles is None:
            self._follow_all = True
        names = list(profiles) if profiles is not None else list(self.config.profiles)
        editions = [self.config.profiles[name].edition for name in names if name in self.config.profiles]
        await asyncio.to_thread(load_backend_modules, editions)  # imports off the loop: the UI keeps painting
        for name in names:
            self.backend(name)  # unknown profiles fail here, before anything starts
        await asyncio.gather(*(self._start_one(name) for name in names if name not in self._started))

    async def reload_config(self, config: Config) -> None:
        """Use an edited config: backends of changed or removed profiles stop; changed and new ones start again
        (new ones only when start() was asked to follow every profile)."""
        self._bind_loop()
        old = self.config
        self.config = config
        restart: list[str] = []
        for name in list(self._backends):
            if config.profiles.get(name) == old.profiles.get(name):
                continue
            self._checkpoints.forget(name)
            was_started = name in self._started
            backend = self._backends.pop(name)
            self._contexts.pop(name, None)
            self._semaphores.pop(name, None)
            self._started.discard(name)
            try:
                await backend.stop()
            except Exception as exc:
                self._report_error(name, f"stopping the sources failed: {exc}", exc)
            if name not in config.profiles:
                self.source_statuses.pop(name, None)
                self._emit(SourceStatusChanged(SourceStatus(name, SourceState.STOPPED, at=self.clock())))
            elif was_started:
                restart.append(name)
        if self._follow_all and not self._stopping:
            restart += [name for name in config.profiles if name not in old.profiles and name not in restart]
        if restart:
            await self.start(restart)

    async def _start_one(self, name: str) -> None:
        backend = self.backend(name)
        self._started.add(name)
        reconciled = await self._reconcile_profile(name)
        if not reconciled:
            self._spawn(self._reconcile_until_done(name), f"reconcile {name}")
        try:
            await backend.start()
        except Exception as exc:
            self._report_error(name, f"could not start the sources: {exc}", exc)

    async def stop(self) -> None:
        """Finish automatic retries being submitted, stop every source, deliver the last events."""
        self._stopping = True
        self._sender.answers.flush_all()  # answers received and not stored yet: store them now
        if self._hub.loop is not None:
            self._drain()
        # Retries in flight are submissions: let them finish so nothing is left half-sent.
        while True:
            retries = [task for task in self._tasks if task.get_name().startswith("retry ")]
            others = [task for task in self._tasks if task not in retries]
            for task in others:
                task.cancel()
            if not retries:
                break
            await asyncio.gather(*retries, return_exceptions=True)
            self._drain()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._checkpoints.close()
        results = await asyncio.gather(
            *(backend.stop() for backend in self._backends.values()), return_exceptions=True
        )
        for name, result in zip(list(self._backends), results):
            if isinstance(result, BaseException):
                self._report_error(name, f"stopping the sources failed: {result}", result)
        self._started.clear()
        if self._hub.loop is not None:
            self._drain()

    def _spawn(self, coroutine: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._report_error(None, f"{task.get_name()} failed: {exc}", exc)

    # ------------------------------------------------------------------ reconcile

    async def reconcile(self) -> None:
        """Look up every job left submitting / queued / running of the started profiles (never resubmits)."""
        self._bind_loop()
        names = list(self._started) or list(self._backends)
        await asyncio.gather(*(self._reconcile_profile(name) for name in names))

    async def _reconcile_profile(self, name: str) -> bool:
        """True when the backend answered (even with no news), False when it should be tried again later."""
        rows = [job for job in self.store.active(name) if job.id not in self._sender.sending]
        deferred = False
        if any(job.state is JobState.SUBMITTING for job in rows) and self._sender.lock.anyone_sending():
            # A process is sending: its `submitting` rows are in flight, not left by a crash. They are looked up
            # once nobody sends (the retry below); by then most are queued and need no guessing at all.
            rows = [job for job in rows if job.state is not JobState.SUBMITTING]
            deferred = True
        if not rows:
            return not deferred
        try:
            updates = await self.backend(name).reconcile(rows)
        except Exception as exc:
            self._report_error(name, f"reconcile of {len(rows)} unfinished jobs failed, will retry: {exc}", exc)
            return False
        if updates:
            self._contexts[name].apply(updates)
        log.info("%s: reconciled %d unfinished jobs, %d updates", name, len(rows), len(updates))
        return not deferred

    async def _reconcile_until_done(self, name: str) -> None:
        while not self._stopping and name in self._started:
            await asyncio.sleep(_RECONCILE_RETRY_SECONDS)
            if await self._reconcile_profile(name):
                return

    # ------------------------------------------------------------------ submit / resubmit

    async def submit(self, request: SubmissionRequest) -> list[Job]:
        """Store the request's jobs (write-ahead), then send them. Returns the jobs as stored after the service
        answered. More jobs than `[defaults] max_jobs` raise BatchError before anything is stored."""
        self._bind_loop()
        if request.count < 1:
            raise EngineUsageError(f"count must be at least 1, not {request.count}")
        self.profile(request.profile)
        total = request.job_count
        check_job_count(total, self.config.defaults.max_jobs)
        # A big batch is planned off the event loop: the app keeps drawing (and answering keys) meanwhile.
        if total <= BACKGROUND_ABOVE:
            jobs = self.plan_submission(request)
        else:
            jobs = await asyncio.to_thread(self.plan_submission, request)
        return await self._sender.store_and_send(jobs)

    def plan_submission(self, request: SubmissionRequest) -> list[Job]:
        """The jobs `submit` would store and send (nothing is stored or sent): see `submit`."""
        target = self.profile(request.profile)
        check_job_count(request.job_count, self.config.defaults.max_jobs)
        name = request.batch or new_batch_name(self.store, request.workflow.source, now=self.clock())
        return plan_submission(request, target, batch=name, max_jobs=self.config.defaults.max_jobs, at=self.clock())

    async def resubmit(
        self, job_ids: Sequence[str], new_seed: bool = False, profile: str | None = None, *, batch: str | None = None
    ) -> list[Job]:
        """New jobs with the same workflow (new seeds if asked), `parent_id` = the old job, `attempt` + 1.

        A new job stays in its parent's batch (a retry is part of it); `batch` puts every new job in that batch
        instead, and jobs without one get one named after the time (`resubmit-MMDD-HHMMSS`)."""
        self._bind_loop()
        parents = [self.store.find(job_id) for job_id in job_ids]
        if profile is not None:
            self.profile(profile)
        jobs: list[Job] = []
        rng = random.Random()
        fresh_batch: str | None = None
        for parent in parents:
            if parent.workflow is None:
                raise EngineUsageError(
                    f"job {parent.id[:8]} has no stored workflow (an external result): nothing to resubmit"
                )
            target = self.profile(profile or parent.profile)
            name = batch or parent.batch
            if name is None:
                if fresh_batch is None:
                    fresh_batch = new_batch_name(self.store, "resubmit", now=self.clock())
                name = fresh_batch
            jobs.append(retry_of(parent, target, new_seed=new_seed, rng=rng, batch=name, at=self.clock()))
        return await self._sender.store_and_send(jobs)

    def _new_job(self, profile: Profile, workflow: dict[str, Any], *, params: dict[str, Any],
                 batch: str | None = None) -> Job:
        """One job planned now (job_planning.new_job); kept for bench/batch.py, which calls it."""
        return new_job(profile, workflow, at=self.clock(), params=params, batch=batch)

    # ------------------------------------------------------------------ automatic retry

    def _retry_eligible(self, job: Job) -> bool:
        return retry_eligible(job, self.config.profiles.get(job.profile))

    def _maybe_retry(self, job: Job) -> None:
        """A job that ended with a failure the profile retries gets a child job (once, up to `retry.max`)."""
        if self._stopping or not self._retry_eligible(job):
            return
        if job.id in self._retry_pending or job.id in self._retry_children or job.id in self._retry_settled:
            return
        self._retry_pending.add(job.id)
        self._spawn(self._retry(job), f"retry {job.id}")

    async def _retry(self, job: Job) -> None:
        try:
            existing = self.store.children(job.id)
            if existing:  # retried already (e.g. by an earlier run): never twice
                self._retry_children[job.id] = existing[0].id
                return
            assert job.failure is not None
            delay = self._retry_delay(job.failure, job.attempt)
            if delay > 0:
                await asyncio.sleep(delay)
            log.info("%s: automatic retry of %s (attempt %d, %s)", job.profile, job.id, job.attempt + 1,
                     job.failure.category.value)
            children = await self.resubmit([job.id])
            self._retry_children[job.id] = children[0].id
        finally:
            self._retry_pending.discard(job.id)
            self._retry_settled.add(job.id)
            if self._changed is not None:
                self._changed.set()

    def will_retry(self, job: Job) -> bool:
        """Will (or did) this finished job get an automatic retry under its profile's policy?"""
        return self._retry_eligible(job)

    def retry_child(self, job_id: str) -> str | None:
        """The id of the automatic retry of `job_id`, if this engine made (or found) one."""
        return self._retry_children.get(job_id)

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job_id: str) -> Job:
        """Cancel one job (id or unique prefix). A job still `submitting` is cancelled locally at once."""
        self._bind_loop()
        job = self.store.find(job_id)
        if job.state.is_terminal:
            raise EngineUsageError(f"job {job.id[:8]} already ended ({job.state.value}): nothing to cancel")
        backend = self.backend(job.profile)
        can_cancel = type(backend).capabilities.can_cancel
        if job.state is JobState.SUBMITTING:
            self._contexts[job.profile].apply([JobUpdate(job.id, state=JobState.CANCELLED, at=self.clock())])
            if can_cancel and job.remote_id:
                # It may have reached the service already (a crash mid-submit, or a send in flight).
                await self._cancel_remote(backend, job)
            return self.store.get(job.id)
        if can_cancel and job.state is JobState.RUNNING and not type(backend).capabilities.can_cancel_running:
            raise CancelNotSupported(
                f"job {job.id[:8]} is already running on a service instance: profile {job.profile!r} (API edition) can "
                "only withdraw a task still waiting in the input queue; it will run to the end"
            )
        if not can_cancel:
            profile = self.profile(job.profile)
            raise CancelNotSupported(
                f"profile {job.profile!r} ({profile.edition.value} edition) cannot cancel a job: "
                "the EAS queue has no way to withdraw a task once it is queued"
                if profile.edition is Edition.API
                else f"profile {job.profile!r} cannot cancel jobs"
            )
        await backend.cancel(job)
        return self.store.get(job.id)

    async def _cancel_remote(self, backend: Backend, job: Job) -> None:
        try:
            await backend.cancel(job)
        except Exception as exc:
            self._report_error(job.profile, f"could not cancel job {job.id[:8]} on the service: {exc}", exc)

    # ------------------------------------------------------------------ wait

    async def wait(
        self, job_ids: Sequence[str], timeout: float | None = None, *, follow_retries: bool = True
    ) -> list[Job]:
        """Return when every job has ended (following automatic retries to their last attempt), or at `timeout`.

        Returns the jobs as stored (the last attempt of each when following retries); on timeout some may still
        be active — the caller checks `state.is_terminal`.
        """
        self._bind_loop()
        assert self._changed is not None
        ids = [self.store.find(job_id).id for job_id in job_ids]
        # Only jobs that end while we wait get their automatic retry here (a job that failed long ago does not).
        ending_now = {job_id for job_id in ids if self.store.get(job_id).state.is_active}
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._changed.clear()
            current, done = self._wait_snapshot(ids, follow_retries, ending_now)
            if done:
                return current
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return current
            pause = _WAIT_RECHECK_SECONDS if remaining is None else min(_WAIT_RECHECK_SECONDS, remaining)
            await wait_event(self._changed, pause)

    def _wait_snapshot(self, ids: Sequence[str], follow_retries: bool, ending_now: set[str]) -> tuple[list[Job], bool]:
        jobs: list[Job] = []
        done = True
        for job_id in ids:
            job = self.store.get(job_id)
            seen = {job.id}
            while follow_retries:
                child = self._retry_children.get(job.id)
                if child is None and job.state in (JobState.FAILED, JobState.LOST, JobState.UNKNOWN):
                    # A retry made by another run (or process) is in the store only: follow it too.
                    stored = self.store.children(job.id)
                    if stored:
                        child = self._retry_children.setdefault(job.id, stored[0].id)
                if child is None:
                    if job.id in ending_now and job.id not in self._retry_settled:
                        # The store may know the failure before its event is drained: make sure the retry is
                        # scheduled (idempotent) instead of returning the failed attempt.
                        self._maybe_retry(job)
                    if job.id in self._retry_pending:
                        done = False
                    break
                if child in seen:
                    break
                seen.add(child)
                ending_now.add(child)
                job = self.store.get(child)
            if not job.state.is_terminal:
                done = False
            jobs.append(job)
        return jobs, done
