"""API edition: the PAI-EAS asynchronous queue (protocols/eas-queue.md).

Submit: `POST <input_url>/api_prompt?task_id=<ours>` with the bare workflow (httpx); the answer is the input-queue
index and a request id. Results: the sink watcher thread (`sink_watcher.py`) stores and commits what arrives on
`<service>/sink`. On the event loop, a monitor asks the input queue where queued jobs stand (`search`,
rate-limited, with httpx so a 404 is not retried six times) and how the service is doing (`attributes`, slowly).
Both halves report into one SourceStatus.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from tui.core import payloads
from tui.core.aio import wait_event
from tui.core.backends.base import Backend, Capabilities, SourceState, SourceStatus, SubmitResult
from tui.core.backends.common import Backoff, BackendError
from tui.core.backends.eas_sdk import consumer_uid
from tui.core.backends.http import ProfileHttp, ServiceError, unauthorized_message
from tui.core.backends.sink_watcher import SinkWatcher
from tui.core.checkpoints import CheckpointChoices
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate
from tui.core.store import ActiveJob

if TYPE_CHECKING:
    from tui.core.backends.base import BackendContext
    from tui.core.config import Profile

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Eas-Queueservice-Request-Id"
# Queue positions: at most this often, and at most this many searches per round (round-robin beyond).
SEARCH_INTERVAL = 2.0
SEARCH_BATCH = 64
SEARCH_CONCURRENCY = 8
# Service health (queue length, consumers): this often.
HEALTH_INTERVAL = 10.0
IDLE_INTERVAL = 10.0
# A status with nothing new is still re-sent this often, so `last_seen` stays fresh.
STATUS_REFRESH_SECONDS = 5.0


class EasQueueBackend(Backend):
    """One API-edition profile: submit into the input queue, results from the sink, positions from `search`."""

    # A job still waiting in the input queue can be removed (search + delete); one an instance took cannot be stopped.
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_cancel=True, has_progress=False, has_queue_position=True, can_cancel_running=False
    )

    def __init__(self, profile: Profile, context: BackendContext) -> None:
        super().__init__(profile, context)
        self.input_url = str(profile.input_url).rstrip("/")
        self.http = ProfileHttp(profile)
        self.search_interval = SEARCH_INTERVAL
        self.health_interval = HEALTH_INTERVAL
        self.watcher: SinkWatcher | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running = False
        self._missing_since: dict[str, float] = {}  # job id -> first time search said 404 (or never had an index)
        self._search_cursor = 0
        # Status pieces: the watcher thread writes its part, the monitor the rest; one lock guards the merge.
        self._status_lock = threading.Lock()
        self._watcher_state = SourceState.STOPPED
        self._watcher_error: str | None = None
        self._http_error: str | None = None
        self._auth_error: str | None = None
        self._last_seen: float | None = None
        self._queue_length: int | None = None
        self._consumers: int | None = None
        self._in_flight: int | None = None
        self._last_status: tuple[Any, ...] | None = None
        self._last_status_at = 0.0
        self.search_requests = 0

    # ------------------------------------------------------------------ HTTP plumbing

    def _http(self) -> httpx.AsyncClient:
        return self.http.client()

    def _scrub(self, text: str) -> str:
        return self.http.scrub(text)

    def _identity(self) -> dict[str, str]:
        return {
            "X-EAS-QueueService-Redis-Uid": consumer_uid(self.profile.name),
            "X-EAS-QueueService-Redis-Gid": str(self.profile.consumer_group),
        }

    async def _get(self, params: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        """A GET on the input queue; network trouble raises `ServiceError` (and makes the status unhealthy)."""
        return await self._input_request("GET", params=params, headers=headers)

    async def _input_request(
        self, method: str, *, params: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            response = await self.http.request(
                method, self.input_url, where=self.input_url, what=method, params=params,
                headers={**self._identity(), **(headers or {})},
            )
        except ServiceError as exc:
            self._set_http(error=str(exc), auth=exc.auth)
            raise
        self._set_http(error=None)
        return response

    # ------------------------------------------------------------------ submit

    async def submit(self, job: Job) -> SubmitResult:
        if not job.task_id:
            return SubmitResult(accepted=False, failure=Failure(FailureCategory.REJECTED, "job has no task_id"))
        body = json.dumps(job.workflow, ensure_ascii=False).encode()
        try:
            response = await self.http.fetch(
                "POST",
                f"{self.input_url}/api_prompt",
                submit=True,
                params={"task_id": job.task_id},
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return _transport(self.http.transport_message(exc, self.input_url, "the submission"))
        status = response.status_code
        if status in (401, 403):
            message = unauthorized_message(status, self.input_url, self.profile.name)
            self._set_http(error=message, auth=True)
            return SubmitResult(accepted=False, failure=Failure(FailureCategory.AUTH, message))
        if status >= 500:
            return _transport(f"{self.input_url} answered HTTP {status}: {_excerpt(response.content)}")
        if status >= 400:
            try:
                failure = payloads.failure_from_http(status, response.content, what="the submission")
            except Exception:  # noqa: BLE001 - fall back to a plain message
                failure = Failure(FailureCategory.REJECTED, f"HTTP {status}: {_excerpt(response.content)}")
            if failure.category is not FailureCategory.REJECTED:
                failure = Failure(FailureCategory.REJECTED, failure.message, node_errors=failure.node_errors)
            return SubmitResult(accepted=False, failure=failure)
        self._set_http(error=None)
        text = response.text.strip()
        warning = None
        queue_index: int | None = None
        if text.isdigit():
            queue_index = int(text)
        else:
            warning = f"the input queue accepted the job but answered {text[:60]!r} instead of its index"
        return SubmitResult(
            accepted=True,
            queue_index=queue_index,
            request_id=response.headers.get(REQUEST_ID_HEADER),
            warning=warning,
        )

    def job_submitted(self, job: Job) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        with self._status_lock:
            # Connecting from now: the monitor's first answer can come before the watcher thread says so itself,
            # and it must not show the profile "stopped" while it starts.
            self._watcher_state, self._watcher_error = SourceState.CONNECTING, None
        self._wake = asyncio.Event()
        self.watcher = SinkWatcher(self.profile, self.context, self._on_watcher_state)
        self.watcher.start()
        self._monitor = asyncio.create_task(self._monitor_loop(), name=f"queue monitor {self.profile.name}")

    async def stop(self) -> None:
        self._running = False
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            await asyncio.wait([monitor], timeout=2.0)
        watcher = self.watcher
        if watcher is not None:
            stopped = await asyncio.to_thread(watcher.stop, 2.0)
            if not stopped:
                log.warning(
                    "%s: the sink watcher is slow to stop (a request in flight); it ends on its own", self.profile.name
                )
        await self.http.aclose()
        with self._status_lock:
            self._watcher_state = SourceState.STOPPED
        self._report()

    # ------------------------------------------------------------------ status

    def _on_watcher_state(self, state: SourceState, error: str | None) -> None:
        """Called from the watcher thread."""
        with self._status_lock:
            self._watcher_state = state
            self._watcher_error = error
            if state is SourceState.CONNECTED:
                self._last_seen = time.time()
        self._report()

    def _set_http(self, *, error: str | None, auth: bool = False) -> None:
        with self._status_lock:
            if error is None:
                self._http_error = self._auth_error = None
                self._last_seen = time.time()
            elif auth:
                self._auth_error, self._http_error = error, None
            else:
                self._http_error, self._auth_error = error, None

    def _report(self) -> None:
        with self._status_lock:
            watcher = self._watcher_state
            if watcher is SourceState.STOPPED and not self._running:
                state, error = SourceState.STOPPED, None
            elif self._auth_error or watcher is SourceState.ERROR:
                state, error = SourceState.ERROR, self._auth_error or self._watcher_error
            elif watcher is SourceState.CONNECTED and self._http_error:
                # The sink is watched, but the input queue's answers fail (slow, oversized, 5xx): degraded.
                state, error = SourceState.DEGRADED, self._http_error
            else:
                state, error = watcher, self._watcher_error or self._http_error
            key = (state, error, self._queue_length, self._consumers, self._in_flight)
            now = time.monotonic()
            if key == self._last_status and now - self._last_status_at < STATUS_REFRESH_SECONDS:
                return  # nothing new (last_seen is refreshed every few seconds all the same)
            self._last_status, self._last_status_at = key, now
            status = SourceStatus(
                self.profile.name,
                state,
                last_seen=self._last_seen,
                error=error,
                queue_length=self._queue_length,
                consumers=self._consumers,
                in_flight=self._in_flight,
            )
        self.context.report_status(status)

    # ------------------------------------------------------------------ monitor: positions, lost, health

    async def _monitor_loop(self) -> None:
        backoff = Backoff()
        last_health = 0.0
        last_in_flight = self._in_flight
        while True:
            self._wake.clear()
            busy = False
            try:
                busy = await self.monitor_once()
                # The queue's length moves when our jobs go in or come out: read it then too, not only every
                # health interval, or the pane says "queue 1" for 10 s after the last job ended.
                moved, last_in_flight = self._in_flight != last_in_flight, self._in_flight
                if moved or time.monotonic() - last_health >= self.health_interval:
                    last_health = time.monotonic()
                    await self.check_health()
                backoff.reset()
                delay = self.search_interval if busy else max(self.search_interval, IDLE_INTERVAL)
            except asyncio.CancelledError:
                raise
            except ServiceError:
                delay = max(self.search_interval, backoff.next())
            except Exception as exc:
                log.exception("%s: queue monitor failed", self.profile.name)
                self._set_http(error=self._scrub(f"queue monitor: {exc}"))
                delay = max(self.search_interval, backoff.next())
            self._report()
            if await wait_event(self._wake, delay):
                # A new job while idle: look soon, but never more often than the search interval.
                await asyncio.sleep(self.search_interval)

    async def monitor_once(self) -> bool:
        """Queue positions of in-flight jobs (search), and `lost` for the ones the queue forgot. True if busy."""
        # Summaries, not whole jobs: thousands may be in flight, and this runs every few seconds.
        active = self.context.store.active_summaries(self.profile.name)
        self._in_flight = len(active)
        in_flight = [job for job in active if job.state is not JobState.SUBMITTING or job.id in self._missing_since]
        if not in_flight:
            return bool(active)
        with_index = [job for job in in_flight if job.queue_index]
        # Round-robin so every job is looked at even when thousands are in flight.
        if len(with_index) > SEARCH_BATCH:
            start = self._search_cursor % len(with_index)
            chosen = (with_index + with_index)[start : start + SEARCH_BATCH]
            self._search_cursor = start + SEARCH_BATCH
        else:
            chosen = with_index
        semaphore = asyncio.Semaphore(SEARCH_CONCURRENCY)

        async def search(index: int) -> dict[str, Any] | None:
            async with semaphore:
                return await self.search(index)

        found = await asyncio.gather(*(search(int(job.queue_index or 0)) for job in chosen))
        now = time.time()
        updates: list[JobUpdate] = []
        for job, answer in zip(chosen, found):
            if answer is None:
                updates.extend(self._maybe_lost(job, now))
                continue
            self._missing_since.pop(job.id, None)
            if answer.get("IsPending"):
                if job.state is not JobState.RUNNING:
                    updates.append(JobUpdate(job.id, state=JobState.RUNNING, at=now))
            else:
                position = _int(answer.get("WaitCount"))
                if position is not None and (job.state is not JobState.QUEUED or job.queue_position != position):
                    updates.append(JobUpdate(job.id, state=JobState.QUEUED, queue_position=position, at=now))
        for job in in_flight:
            if not job.queue_index:  # never got an index (a crash mid-submit): only the sink can settle it
                updates.extend(self._maybe_lost(job, now))
        if updates:
            changed = self.context.apply(updates)
            for job in changed:
                if job.state.is_terminal:
                    self._missing_since.pop(job.id, None)
        return True

    def _maybe_lost(self, job: ActiveJob, now: float) -> list[JobUpdate]:
        """Lost only after `lost_after` seconds of the queue not knowing it while the sink was watched live."""
        first = self._missing_since.setdefault(job.id, now)
        watcher = self.watcher
        since = watcher.connected_since if watcher is not None else None
        if since is None:
            return []  # results may be waiting in the sink: do not judge while we cannot hear them
        watched_for = time.monotonic() - since
        missing_for = now - first
        if missing_for < self.profile.lost_after or watched_for < self.profile.lost_after:
            return []
        self._missing_since.pop(job.id, None)
        if job.state is JobState.SUBMITTING:
            warning = (
                "never found on the input queue and no result arrived: it was probably not accepted before comfyq "
                "stopped; resubmit it"
            )
        else:
            warning = (
                f"the input queue no longer has it and no result arrived on the sink for {missing_for:.0f} s"
            )
        failure = Failure(FailureCategory.LOST, warning)
        return [JobUpdate(job.id, state=JobState.LOST, at=now, warning=warning, failure=failure)]

    async def search(self, index: int) -> dict[str, Any] | None:
        """`search(index)` on the input queue without the SDK's six retries of a 404; None when not found."""
        if index <= 0:
            return None
        self.search_requests += 1
        response = await self._get({"_search_": "true", "_index_": str(index)})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceError(f"search answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            return None
        return answer if isinstance(answer, dict) and answer else None

    async def attributes(self) -> dict[str, str]:
        response = await self._get({"_attrs_": "true"})
        try:
            answer = response.json()
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in answer.items()} if isinstance(answer, dict) else {}

    async def check_health(self) -> None:
        attributes = await self.attributes()
        with self._status_lock:
            self._queue_length = _int(attributes.get("stream.length"))
            self._consumers = _int(attributes.get("consumers.status.total") or attributes.get("consumers.stats.total"))

    async def find_by_task_id(self, task_id: str) -> tuple[int, dict[str, str]] | None:
        """The input-queue item carrying our task_id (index, tags), without taking or deleting it."""
        response = await self._get(
            {
                "_index_": "0",
                "_length_": "1",
                "_timeout_": "0s",
                "_raw_": "false",
                "_auto_delete_": "false",
                "task_id": task_id,
            }
        )
        if response.status_code != 200 or not response.content:
            return None
        try:
            items = response.json()
        except ValueError:
            return None
        for item in items if isinstance(items, list) else []:
            tags = item.get("tags") or {}
            if isinstance(tags, dict) and tags.get("task_id") == task_id and _int(item.get("index")):
                return int(item["index"]), {str(k): str(v) for k, v in tags.items()}
        return None

    # ------------------------------------------------------------------ cancel / reconcile / connection

    async def cancel(self, job: Job) -> None:
        """Remove a task still waiting in the input queue (`search(index)` says not taken, then `delete(index)`):
        it then never reaches an instance and is `cancelled`. One an instance took already cannot be interrupted
        (the queue has no way to), nor one no longer in the queue: BackendError says so."""
        short = job.id[:8]
        try:
            index = job.queue_index
            if not index and job.task_id:  # a crash mid-submit: find it by its task_id tag
                found = await self.find_by_task_id(job.task_id)
                index = found[0] if found is not None else None
            if not index:
                raise BackendError(f"job {short} is not in the input queue of {self.input_url}: nothing to withdraw")
            where = await self.search(index)
            if where is None:
                raise BackendError(
                    f"job {short} is no longer in the input queue: a service instance has taken it (or it has "
                    "finished), and the API edition cannot interrupt a task once taken; its result will still come"
                )
            if where.get("IsPending"):
                raise BackendError(
                    f"job {short} was already taken by a service instance ({where.get('ConsumerId') or 'unknown'}): "
                    "the API edition cannot interrupt a running task; it will run to the end"
                )
            await self._delete_input([index])
        except ServiceError as exc:
            raise BackendError(f"could not cancel job {short}: {exc}") from exc
        failure = Failure(FailureCategory.INTERRUPTED, "cancelled at your request: removed from the input queue "
                                                       "before any instance took it")
        self.context.apply([JobUpdate(job.id, state=JobState.CANCELLED, at=time.time(), failure=failure)])
        await self._health_after_change()

    async def _health_after_change(self) -> None:
        """The queue's length changed by our hand (a task withdrawn): read it again now rather than say the old
        one until the next reading (every HEALTH_INTERVAL). Best effort: the cancel is done whatever this says."""
        try:
            await self.check_health()
        except ServiceError as exc:
            log.debug("%s: queue length after a cancel: %s", self.profile.name, exc)
            return
        self._report()

    async def _delete_input(self, indexes: list[int]) -> None:
        """`delete(indexes)` on the input queue: `DELETE <input>?_indexes_=i,j` (protocol note §3.3)."""
        response = await self._input_request("DELETE", params={"_indexes_": ",".join(str(index) for index in indexes)})
        if response.status_code != 200:
            raise ServiceError(f"delete answered HTTP {response.status_code}")

    async def reconcile(self, jobs: Sequence[Job]) -> list[JobUpdate]:
        """Results come back on the sink by task_id, so nothing needs asking — except where `submitting` rows went.

        A `submitting` row found on the input queue (by its task_id tag) gets its index back; one not found waits
        for the sink, and becomes `lost` after `lost_after` if no result arrives. Nothing is ever resubmitted.
        """
        updates: list[JobUpdate] = []
        now = time.time()
        for job in jobs:
            if job.profile != self.profile.name or job.state is not JobState.SUBMITTING or not job.task_id:
                continue
            try:
                found = await self.find_by_task_id(job.task_id)
            except ServiceError as exc:
                raise BackendError(f"could not reconcile with {self.input_url}: {exc}") from exc
            if found is None:
                self._missing_since.setdefault(job.id, now)
                continue
            index, tags = found
            updates.append(JobUpdate(job.id, queue_index=index, request_id=tags.get("requestId")))
            updates.append(JobUpdate(job.id, state=JobState.QUEUED, at=now))
        return updates

    async def checkpoint_choices(self) -> CheckpointChoices:
        # The queue service only queues: it has no route that lists the ComfyUI instances' models.
        return CheckpointChoices.unavailable("the API edition's queue cannot list the server's checkpoints")

    async def check_connection(self) -> tuple[bool, str]:
        try:
            attributes = await self.attributes()
        except ServiceError as exc:
            return False, str(exc)
        length = attributes.get("stream.length", "?")
        consumers = attributes.get("consumers.status.total") or attributes.get("consumers.stats.total") or "?"
        return True, f"input queue of {self.profile.service}: {length} waiting, {consumers} consumers"


def _transport(message: str) -> SubmitResult:
    return SubmitResult(accepted=False, failure=Failure(FailureCategory.TRANSPORT, message), transport_error=True)


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


__all__ = ["EasQueueBackend"]
