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
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
import httpx

from tui.core import payloads
from tui.core.backends.common import BackendError, Backoff, scrub
from tui.core.backends.external import HistoryWindow, REMEMBERED_ENTRIES, from_history_entry, from_queue_item
from tui.core.backends.http import MEGABYTE, AnswerTooLarge, fetch
from tui.core.backends.base import Backend, Capabilities, SourceState, SourceStatus, SubmitResult
from tui.core.aio import wait_event
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate, Progress

if TYPE_CHECKING:
    from tui.core.backends.base import BackendContext
    from tui.core.config import Profile

log = logging.getLogger(__name__)

# A /history answer larger than this is parsed off the event loop (which is the TUI's).
PARSE_OFF_LOOP_BYTES = 256 * 1024
# After a success entry without outputs, look again this many times (the /history race) before accepting it.
HISTORY_RACE_POLLS = 4
HISTORY_RACE_DELAY = 0.25  # seconds between those looks
# /history requests in flight at once within one poll cycle.
HISTORY_CONCURRENCY = 8
# A status with nothing new is still re-sent this often, so `last_seen` stays fresh.
STATUS_REFRESH_SECONDS = 5.0
# While the server does not answer, the poller tries again at least this often, so its return (and what it forgot
# in a restart) is noticed within seconds, not after a backoff grown to half a minute.
RETURN_PROBE_SECONDS = 5.0
# After an outage (the poller could not reach the server, or the websocket dropped), a job the server had before it
# and now has in neither /queue nor /history in this many consecutive looks (one per poll cycle) was forgotten in a
# restart: `lost` at once, not after `lost_after`. Two looks, because one could meet a server still starting up.
FORGOTTEN_AFTER_LOOKS = 2
# A websocket that stayed up this long resets the reconnect backoff (a server that accepts and drops at once
# must not get a reconnect every half second).
WS_STABLE_SECONDS = 5.0
# The key of the marker every prompt carries in its `extra_data` (ComfyUI keeps extra_data in the /queue items and
# in the history entry's `prompt` array), valued with our job id.
SUBMIT_MARKER_KEY = "comfyq_job_id"
# How many of the newest /history entries the look-up after an unanswered submit scans for the marker (it finds a
# prompt a server stored under an id of its own; ours is looked up directly).
SUBMIT_LOOKUP_HISTORY_ITEMS = 64
# What aiohttp (ComfyUI's server) answers, as text/plain with status 500, when a handler raised.
STOCK_SERVER_ERROR_TEXT = b"Server got itself in trouble"
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


class _Unreachable(Exception):
    """The service did not answer usefully (network, timeout, 5xx, 401/403); the message is free of secrets.

    `degraded`: it is there but answered too slowly or too much (the source shows as degraded, not reconnecting).
    """

    def __init__(self, message: str, *, auth: bool = False, degraded: bool = False) -> None:
        super().__init__(message)
        self.auth = auth
        self.degraded = degraded


class _NoSuchRoute(_Unreachable):
    """The server has no such route (404/405): a look-up that is optional may do without it."""


@dataclass
class _Tracked:
    """What the websocket handler needs to know about one of our prompts (cached to keep the store quiet)."""

    job_id: str
    class_types: dict[str, str] = field(default_factory=dict)
    node: str | None = None


@dataclass(frozen=True)
class _QueueSnapshot:
    running: frozenset[str]
    pending_position: dict[str, int]  # prompt_id -> items ahead of it
    marked: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # marker -> (prompt_id, number)
    items: dict[str, list[Any]] = field(default_factory=dict)  # prompt_id -> the raw queue item (every client's)

    def has(self, prompt_id: str) -> bool:
        return prompt_id in self.running or prompt_id in self.pending_position


@dataclass(frozen=True)
class _Found:
    """Where the server holds a prompt we could not hear the submit answer of."""

    prompt_id: str
    number: int | None
    where: str  # "/queue" or "/history"


def _marker(prompt: Any) -> str | None:
    """Our marker from a queue item or a history entry's `prompt` array: [number, id, graph, extra_data, ...]."""
    if isinstance(prompt, list) and len(prompt) > 3 and isinstance(prompt[3], dict):
        value = prompt[3].get(SUBMIT_MARKER_KEY)
        return str(value) if value is not None else None
    return None


def _is_unreadable_request_answer(response: httpx.Response) -> bool:
    """ComfyUI's answer to a POST body it could not read (fixture README, surprise 8): aiohttp's stock 500 text."""
    return (
        response.status_code == 500
        and response.headers.get("content-type", "").startswith("text/plain")
        and STOCK_SERVER_ERROR_TEXT in response.content
    )


def _queue_number(prompt: Any) -> int | None:
    number = prompt[0] if isinstance(prompt, list) and prompt else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _class_types(workflow: dict[str, Any] | None) -> dict[str, str]:
    if not isinstance(workflow, dict):
        return {}
    return {
        str(node_id): str(node.get("class_type", ""))
        for node_id, node in workflow.items()
        if isinstance(node, dict)
    }


class DedicatedBackend(Backend):
    """One dedicated-edition profile: submit over HTTP, follow with a poller + a websocket, cancel, reconcile."""

    capabilities: ClassVar[Capabilities] = Capabilities(can_cancel=True, has_progress=True, has_queue_position=True)

    def __init__(self, profile: Profile, context: BackendContext) -> None:
        super().__init__(profile, context)
        self.base_url = str(profile.url).rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._running = False
        # Poller memory (per job id): when it was first missing from queue and history, empty-output looks.
        self._missing_since: dict[str, float] = {}
        self._missing_looks: dict[str, int] = {}  # consecutive poll cycles a job was in neither /queue nor /history
        # Outages (poller failures, websocket drops) seen so far, and per job the count when it was last seen on the
        # server: a job last seen before an outage and absent since may have been forgotten in a restart.
        self._outages = 0
        self._seen_at_outage: dict[str, int] = {}
        self._down_since: float | None = None  # when the poller first failed to reach the server; None while it answers
        self._last_outage = ""  # how the last outage showed, for the `lost` message
        # Other clients' prompts (external jobs): the /history window, and prompt ids known to be stored already.
        self._external = bool(getattr(profile, "external", True))
        self._history_window = HistoryWindow(
            int(getattr(profile, "external_history", 0)) if self._external else 0
        )
        self._known_prompts: set[str] = set()
        # Whether the server has the jobs API (ComfyUI 0.38+: /api/jobs, per-job cancel); None until asked on this
        # connection (asked again after an outage: the server may have been upgraded meanwhile).
        self.jobs_api: bool | None = None
        self._empty_looks: dict[str, int] = {}
        self._race_pending = False
        # Jobs the user asked to cancel: an interrupted history entry then means "cancelled", not "failed".
        self._cancel_requested: set[str] = set()
        self._tracked: dict[str, _Tracked] = {}  # prompt_id -> job
        # Jobs marked `unknown` because a submit went unanswered and the server could not be asked, looked for until
        # found or long absent: job id -> when the server (answering again) was first seen without it, or None.
        self._unconfirmed: dict[str, float | None] = {}
        # Health, merged into one SourceStatus.
        self._http_error: str | None = None
        self._auth_error: str | None = None
        self._ws_error: str | None = None
        self._degraded = False  # the last failure was a slow or oversized answer, not a missing server
        self._answered = False
        self._last_seen: float | None = None
        self._in_flight = 0
        self._last_status: tuple[Any, ...] | None = None
        self._last_status_at = 0.0
        # Counters the tests read (a reconnect storm shows up here).
        self.ws_connection_attempts = 0
        self.poll_cycles = 0
        self.polling = False  # a cycle is under way (counted at its start: a benchmark starting mid-cycle needs to know)

    # ------------------------------------------------------------------ HTTP plumbing

    def _headers(self) -> dict[str, str]:
        token = getattr(self.profile, "token", None)
        return {"Authorization": token} if token else {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            timeout = float(getattr(self.profile, "request_timeout", 30.0) or 30.0)
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers(),
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            )
        return self._client

    def _scrub(self, text: str) -> str:
        return scrub(text, getattr(self.profile, "token", None))

    async def _fetch(self, method: str, path: str, *, submit: bool = False, **kwargs: Any) -> httpx.Response:
        """One request within the profile's deadline (connect + send + the whole answer) and body cap."""
        profile = self.profile
        cap_mb, cap_key = (
            (profile.max_submit_response_mb, "max_submit_response_mb") if submit
            else (profile.max_response_mb, "max_response_mb")
        )
        return await fetch(
            self._http(), method, path, deadline=float(profile.request_timeout or 30.0),
            max_bytes=int(cap_mb * MEGABYTE), cap_key=cap_key, **kwargs,
        )

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; network trouble, 5xx and 401/403 become `_Unreachable` with a clean message."""
        try:
            response = await self._fetch(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            message = f"{self.base_url} did not answer {method} {path} in time ({type(exc).__name__})"
            raise _Unreachable(message, degraded=not isinstance(exc, httpx.ConnectTimeout)) from exc
        except AnswerTooLarge as exc:
            raise _Unreachable(f"{self.base_url}: {exc}", degraded=True) from exc
        except httpx.HTTPError as exc:
            raise _Unreachable(self._scrub(f"cannot reach {self.base_url}: {exc or type(exc).__name__}")) from exc
        if response.status_code in (401, 403):
            raise _Unreachable(
                f"unauthorized ({response.status_code}) at {self.base_url}: check the token of profile "
                f"{self.profile.name!r}",
                auth=True,
            )
        if response.status_code >= 500:
            raise _Unreachable(f"{self.base_url} answered {method} {path} with HTTP {response.status_code}")
        return response

    async def _get_json(self, path: str) -> Any:
        response = await self._request("GET", path)
        if response.status_code != 200:
            raise _Unreachable(f"{self.base_url} answered GET {path} with HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise _Unreachable(f"{self.base_url} answered GET {path} with something that is not JSON") from exc

    async def _queue(self) -> _QueueSnapshot:
        body = await self._get_json("/queue")
        if not isinstance(body, dict):
            raise _Unreachable(f"{self.base_url}/queue answered with an unexpected shape")

        def entries(key: str) -> list[list[Any]]:
            items = body.get(key) or []
            return [item for item in items if isinstance(item, list) and len(item) > 1]

        running_items = entries("queue_running")
        running = frozenset(str(item[1]) for item in running_items)
        pending = sorted(entries("queue_pending"), key=lambda item: item[0] if isinstance(item[0], (int, float)) else 0)
        marked = {
            marker: (str(item[1]), _queue_number(item))
            for item in running_items + pending
            if (marker := _marker(item)) is not None
        }
        items = {str(item[1]): item for item in running_items + pending}
        return _QueueSnapshot(
            running, {str(item[1]): position for position, item in enumerate(pending)}, marked, items
        )

    async def _history(self, prompt_id: str) -> payloads.Outcome | None:
        response = await self._request("GET", f"/history/{prompt_id}")
        if response.status_code != 200:
            raise _Unreachable(f"{self.base_url} answered GET /history/{prompt_id} with HTTP {response.status_code}")
        try:
            if len(response.content) > PARSE_OFF_LOOP_BYTES:
                # A big answer (thousands of outputs) is parsed on a worker thread: the loop is the UI's.
                return await asyncio.to_thread(payloads.parse_history_response, response.content, prompt_id)
            return payloads.parse_history_response(response.content, prompt_id)
        except payloads.PayloadError as exc:
            # Unparseable answer: treat as a transport problem for this cycle (the next one asks again).
            raise _Unreachable(f"unreadable /history/{prompt_id} answer: {exc}") from exc

    def _mark_answered(self) -> None:
        self._answered = True
        self._last_seen = time.time()
        self._http_error = None
        self._auth_error = None

    def _mark_failed(self, error: _Unreachable) -> None:
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
            response = await self._fetch("POST", "/prompt", submit=True, json=body)
        except _NOT_SENT_ERRORS as exc:
            return self._transport_failure(self._send_error(exc))
        except httpx.HTTPError as exc:  # read timeout, dropped connection, ...: it may have been taken
            return await self._after_unanswered_submit(job, self._send_error(exc))
        status = response.status_code
        if status in (401, 403):
            self._auth_error = (
                f"unauthorized ({status}) at {self.base_url}: check the token of profile {self.profile.name!r}"
            )
            self._report(force=True)
            return SubmitResult(accepted=False, failure=Failure(FailureCategory.AUTH, self._auth_error))
        answer = payloads.parse_prompt_response(status, response.content, response.headers.get("content-type"))
        if _is_unreadable_request_answer(response):
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
        if isinstance(exc, AnswerTooLarge):
            return f"{self.base_url}: {exc}"
        if isinstance(exc, httpx.TimeoutException):
            return f"{self.base_url} did not answer POST /prompt in time ({type(exc).__name__})"
        return self._scrub(f"cannot reach {self.base_url}: {exc or type(exc).__name__}")

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
        except _Unreachable as exc:
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
        Raises `_Unreachable` when the server cannot tell.
        """
        queue = await self._queue()
        if job.id in queue.marked:
            prompt_id, number = queue.marked[job.id]
            return _Found(prompt_id, number, "/queue")
        if job.prompt_id:
            entry = (await self._history_map(f"/history/{job.prompt_id}")).get(job.prompt_id)
            if isinstance(entry, dict) and _marker(entry.get("prompt")) == job.id:
                return _Found(job.prompt_id, _queue_number(entry.get("prompt")), "/history")
        try:
            recent = await self._history_map(f"/history?max_items={SUBMIT_LOOKUP_HISTORY_ITEMS}")
        except _NoSuchRoute:
            recent = {}  # not offered here (e.g. a proxy that forwards only some routes): the direct look suffices
        for prompt_id, entry in recent.items():
            if isinstance(entry, dict) and _marker(entry.get("prompt")) == job.id:
                return _Found(str(prompt_id), _queue_number(entry.get("prompt")), "/history")
        return None

    async def _history_map(self, path: str) -> dict[str, Any]:
        response = await self._request("GET", path)
        if response.status_code in (404, 405):
            raise _NoSuchRoute(f"{self.base_url} has no GET {path}")
        if response.status_code != 200:
            raise _Unreachable(f"{self.base_url} answered GET {path} with HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise _Unreachable(f"{self.base_url} answered GET {path} with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise _Unreachable(f"{self.base_url} answered GET {path} with an unexpected shape")
        return body

    def _outcome_unknown(self, job: Job, reason: str, lookup_error: str) -> SubmitResult:
        """Neither the submit nor the look-up was answered: the job may run. Say so; never retry it blindly."""
        warning = (
            f"outcome unknown: {reason}, and whether the server took it could not be checked ({lookup_error}). "
            f"It may still run, so it is not retried automatically; while comfyq runs it keeps looking for it "
            f"(prompt_id {job.prompt_id}). Check the server's queue and history before resubmitting"
        )
        self.context.apply([JobUpdate(job.id, state=JobState.UNKNOWN, at=time.time(), warning=warning)])
        self._unconfirmed[job.id] = None
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
            asyncio.create_task(self._ws_loop(), name=f"websocket {self.profile.name}"),
        ]

    async def stop(self) -> None:
        self._running = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
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
            error = f"live progress unavailable: {self._ws_error}" if self._ws_error else None
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
                busy = await self.poll_once()
                backoff.reset()
                if self._race_pending:
                    delay = min(self.profile.poll_interval, HISTORY_RACE_DELAY)
                else:
                    delay = self.profile.poll_interval if busy else self.profile.idle_poll_interval
            except _Unreachable as exc:
                self._mark_failed(exc)
                if not exc.auth:
                    self._server_down()
                delay = max(self.profile.poll_interval, backoff.next())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not kill the poller: log it and keep going, slowly
                log.exception("%s: poll cycle failed", self.profile.name)
                self._http_error = self._scrub(f"poll failed: {exc}")
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
        self._race_pending = False
        jobs = [job for job in self.context.store.active(self.profile.name) if job.prompt_id]
        unconfirmed = self._unconfirmed_jobs()
        queue = await self._queue()
        self._mark_answered()
        if self.jobs_api is None:
            await self._detect_generation()
        # Every client's newest results, once per cycle: settles our jobs that left the queue (no request per job)
        # and brings other clients' prompts in as external jobs.
        recent = await self._recent_history()
        self._in_flight = len(jobs)
        now = time.time()
        self._down_since = None
        # The server answers: rows that said "server unreachable" (this process's, another's, an earlier run's) no
        # longer do.
        updates: list[JobUpdate] = [
            JobUpdate(job.id, unreachable_since=0) for job in jobs if job.unreachable_since is not None
        ]
        to_look_up: list[Job] = []
        for job in unconfirmed:
            if job.id in queue.marked:
                self._unconfirmed[job.id] = None  # it is there after all: its history entry will settle it
                updates.append(JobUpdate(job.id, warning=FOUND_AFTER_ALL))
            else:
                to_look_up.append(job)
        for job in jobs:
            prompt_id = job.prompt_id
            assert prompt_id is not None
            if prompt_id in queue.running:
                self._seen(job.id)
                if job.state is not JobState.RUNNING:
                    updates.append(JobUpdate(job.id, state=JobState.RUNNING, at=now))
            elif prompt_id in queue.pending_position:
                self._seen(job.id)
                position = queue.pending_position[prompt_id]
                if job.state is not JobState.QUEUED or job.queue_position != position:
                    updates.append(JobUpdate(job.id, state=JobState.QUEUED, queue_position=position, at=now))
            elif job.state is not JobState.SUBMITTING:
                # `submitting` rows belong to the engine (a send in flight) or to reconcile (a crash).
                if prompt_id in recent:
                    outcome = payloads.parse_history_entry(recent[prompt_id], prompt_id)
                    updates.extend(self._settle(job, outcome, now))
                else:
                    to_look_up.append(job)
        if to_look_up:
            semaphore = asyncio.Semaphore(HISTORY_CONCURRENCY)

            async def look_up(prompt_id: str) -> payloads.Outcome | None:
                async with semaphore:
                    return await self._history(prompt_id)

            outcomes = await asyncio.gather(*(look_up(job.prompt_id or "") for job in to_look_up))
            now = time.time()
            for job, outcome in zip(to_look_up, outcomes):
                if job.id in self._unconfirmed:
                    updates.extend(self._settle_unconfirmed(job, outcome, now))
                else:
                    updates.extend(self._settle(job, outcome, now))
        if updates:
            changed = self.context.apply(updates)
            self._forget_finished(changed)
        if self._external:
            self._import_external(queue, recent, {job.prompt_id for job in jobs if job.prompt_id}, now)
        return bool(jobs or unconfirmed)

    async def _detect_generation(self) -> None:
        """Ask once per connection whether the server has the jobs API (protocols/comfyui-newer.md §7): 0.38+
        answers `GET /api/jobs?limit=1` with 200 and a `jobs` list, 0.3.64 with 404 (no such route)."""
        try:
            response = await self._request("GET", "/api/jobs?limit=1")
        except _Unreachable:
            return  # asked again next cycle
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            self.jobs_api = isinstance(body, dict) and isinstance(body.get("jobs"), list)
        elif response.status_code in (404, 405):
            self.jobs_api = False

    async def _recent_history(self) -> dict[str, Any]:
        """`GET /history?max_items=K` (the window), or nothing when external jobs are off or the route is missing."""
        window = self._history_window
        if window.size <= 0:
            return {}
        try:
            entries = await self._history_map(f"/history?max_items={window.size}")
        except _NoSuchRoute:
            window.limit = window.size = 0  # a proxy that forwards only some routes: per-job look-ups suffice
            return {}
        return {str(prompt_id): entry for prompt_id, entry in entries.items() if isinstance(entry, dict)}

    def _import_external(self, queue: _QueueSnapshot, recent: dict[str, Any], active: set[str], now: float) -> None:
        """Other clients' prompts in /queue and the recent /history, not stored yet, become external jobs."""
        window = self._history_window
        unhandled = window.unhandled(recent)
        window.handled(unhandled)  # (ours among them are settled by the cycle, from `recent`, whenever they are there)
        in_queue = [pid for pid in queue.items if pid not in active and pid not in self._known_prompts]
        in_history = [pid for pid in unhandled if pid not in active]
        window.resize(len(recent), len(unhandled))
        if not in_queue and not in_history:
            return
        known = self.context.store.known_prompt_ids(self.profile.name, in_queue + in_history)
        if len(self._known_prompts) > REMEMBERED_ENTRIES:
            self._known_prompts.clear()
        self._known_prompts.update(known)
        new: list[tuple[Job, JobUpdate | None]] = []
        for prompt_id in in_queue:
            if prompt_id in known:
                continue
            job = from_queue_item(
                self.profile.name, queue.items[prompt_id], running=prompt_id in queue.running,
                position=queue.pending_position.get(prompt_id), seen=now,
            )
            if job is not None:
                new.append((job, None))
        for prompt_id in in_history:
            if prompt_id in known or prompt_id in queue.items:
                continue  # (one still in /queue is followed from there; its entry settles it next cycle)
            found = from_history_entry(self.profile.name, prompt_id, recent[prompt_id], seen=now)
            if found is not None:
                new.append(found)
        if new:
            added = self.context.store.add_external_prompts(new)
            self._known_prompts.update(job.prompt_id for job in added if job.prompt_id)
            self.context.publish(added)

    def _seen(self, job_id: str) -> None:
        """The server has this job now (in /queue)."""
        self._missing_since.pop(job_id, None)
        self._missing_looks.pop(job_id, None)
        self._seen_at_outage[job_id] = self._outages

    def _server_down(self) -> None:
        """The poller could not reach the server: count the outage once, and say so on the in-flight rows."""
        now = time.time()
        self.jobs_api = None
        if self._down_since is None:
            self._down_since = now
            self._outages += 1
            self._last_outage = f"{self.base_url} was unreachable from {_clock(now)}"
        jobs = self.context.store.active(self.profile.name, with_workflow=False)
        marks = [
            JobUpdate(job.id, unreachable_since=self._down_since)
            for job in jobs
            if job.unreachable_since is None and job.state is not JobState.SUBMITTING
        ]
        if marks:
            self.context.apply(marks)

    def _connection_dropped(self) -> None:
        """The websocket, once open, was closed or broke: the server may have restarted. Look at once."""
        self.jobs_api = None
        if self._down_since is None:
            self._outages += 1
            self._last_outage = f"the connection to {self.base_url} dropped at {_clock(time.time())}"
        self._wake.set()

    def _unconfirmed_jobs(self) -> list[Job]:
        """The `unknown` jobs of an unanswered submit still to be found; ones settled meanwhile are dropped."""
        jobs = []
        for job_id in list(self._unconfirmed):
            job = self.context.store.get(job_id)
            if job.state is JobState.UNKNOWN and job.prompt_id:
                jobs.append(job)
            else:
                self._unconfirmed.pop(job_id, None)
        return jobs

    def _settle_unconfirmed(self, job: Job, outcome: payloads.Outcome | None, now: float) -> list[JobUpdate]:
        """An `unknown` job (unanswered submit) not in the queue: its history entry, once there, settles it.

        Absent for `lost_after` while the server answers, it most likely never arrived; but the server may have
        lost it in a restart after running it, so it stays `unknown` (never retried automatically), with a warning
        that says so, and is no longer looked for.
        """
        if outcome is not None:
            settled = self._settle(job, outcome, now)
            if settled:  # (none yet while the /history race gets its looks)
                self._unconfirmed.pop(job.id, None)
            # The "outcome unknown" warning no longer holds once the real outcome is known.
            return [dataclasses.replace(update, warning=update.warning or "") for update in settled]
        first = self._unconfirmed.get(job.id) or now
        self._unconfirmed[job.id] = first
        if now - first < self.profile.lost_after:
            return []
        self._unconfirmed.pop(job.id, None)
        warning = (
            f"outcome unknown: POST /prompt went unanswered, and {self.base_url}, answering again, has not had it "
            f"for {now - first:.0f} s (not in /queue nor /history). It most likely never arrived, but a server "
            f"restart would also forget it, so it is not retried automatically: resubmit it if its outputs are missing"
        )
        return [JobUpdate(job.id, warning=warning)]

    def _settle(self, job: Job, outcome: payloads.Outcome | None, now: float) -> list[JobUpdate]:
        """What one history answer means for a job that is no longer in the queue."""
        if outcome is None:
            if job.id in self._cancel_requested and job.state is JobState.QUEUED:
                return [self._cancelled_update(job, now, "cancelled at your request before it started")]
            first = self._missing_since.setdefault(job.id, now)
            looks = self._missing_looks[job.id] = self._missing_looks.get(job.id, 0) + 1
            seen_at = self._seen_at_outage.get(job.id)
            # Forgotten in a restart: absent in consecutive looks, and an outage came after we last saw it there (or
            # this process never saw it there: it was in flight when comfyq started following).
            forgotten = looks >= FORGOTTEN_AFTER_LOOKS and (seen_at is None or seen_at < self._outages)
            if not forgotten and now - first < self.profile.lost_after:
                return []
            self._missing_since.pop(job.id, None)
            self._missing_looks.pop(job.id, None)
            if forgotten and seen_at is not None:
                message = (
                    f"the server restarted and forgot it: {self._last_outage}, and answering again it has this job "
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
                self._race_pending = True
                return []
            self._empty_looks.pop(job.id, None)
            warning = warning or "succeeded, but no outputs appeared in /history"
        if (
            state is JobState.FAILED
            and job.id in self._cancel_requested
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

    def _cancelled_update(self, job: Job, now: float, message: str) -> JobUpdate:
        failure = Failure(FailureCategory.INTERRUPTED, message)
        return JobUpdate(job.id, state=JobState.CANCELLED, at=now, failure=failure)

    def _forget_finished(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.state.is_terminal:
                self._cancel_requested.discard(job.id)
                self._missing_since.pop(job.id, None)
                self._missing_looks.pop(job.id, None)
                self._seen_at_outage.pop(job.id, None)
                self._empty_looks.pop(job.id, None)
                if job.prompt_id:
                    self._tracked.pop(job.prompt_id, None)

    # ------------------------------------------------------------------ websocket

    def _ws_url(self) -> str:
        url = self.base_url
        if url.startswith("https://"):
            url = "wss://" + url[len("https://"):]
        elif url.startswith("http://"):
            url = "ws://" + url[len("http://"):]
        return f"{url}/ws?clientId={self.profile.client_id}"

    async def _ws_loop(self) -> None:
        backoff = Backoff()
        timeout = aiohttp.ClientTimeout(total=None, connect=float(self.profile.request_timeout or 30.0))
        async with aiohttp.ClientSession(headers=self._headers(), timeout=timeout) as session:
            while True:
                self.ws_connection_attempts += 1
                opened = None
                try:
                    async with session.ws_connect(self._ws_url(), heartbeat=20.0) as ws:
                        opened = time.monotonic()
                        self._ws_error = None
                        self._report()
                        self._wake.set()  # (re)connected: the server may be back; the poller looks now
                        async for message in ws:
                            if message.type is aiohttp.WSMsgType.TEXT:
                                self._on_ws_text(message.data)
                            elif message.type is aiohttp.WSMsgType.ERROR:
                                break
                    self._ws_error = "the websocket was closed by the server"
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in (401, 403):
                        self._ws_error = (
                            f"unauthorized ({exc.status}): check the token of profile {self.profile.name!r}"
                        )
                    else:
                        self._ws_error = f"websocket handshake refused (HTTP {exc.status})"
                except asyncio.CancelledError:
                    raise
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    self._ws_error = self._scrub(f"websocket: {exc or type(exc).__name__}")
                except Exception as exc:  # a bug in a handler must not end live progress for good
                    log.exception("%s: websocket handler failed", self.profile.name)
                    self._ws_error = self._scrub(f"websocket: {exc}")
                if opened is not None:
                    self._connection_dropped()
                    if time.monotonic() - opened >= WS_STABLE_SECONDS:
                        backoff.reset()
                self._report()
                await asyncio.sleep(backoff.next())

    def _lookup(self, prompt_id: Any) -> _Tracked | None:
        if not isinstance(prompt_id, str) or not prompt_id:
            return None
        tracked = self._tracked.get(prompt_id)
        if tracked is None:
            job = self.context.store.by_prompt_id(prompt_id, self.profile.name)
            if job is None or job.state.is_terminal:
                return None
            tracked = _Tracked(job.id, _class_types(job.workflow))
            self._tracked[prompt_id] = tracked
        return tracked

    def _on_ws_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            return
        kind = message.get("type")
        data: dict[str, Any] = message["data"]
        if kind in ("execution_success", "execution_error", "execution_interrupted"):
            self._wake.set()  # its history entry is written by now (or in a moment): look at once
            return
        if kind not in ("execution_start", "executing", "progress"):
            return
        tracked = self._lookup(data.get("prompt_id"))
        if kind == "executing" and data.get("node") is None:
            self._wake.set()  # the prompt is done: the poller settles it now
            if tracked is not None:
                self._tracked.pop(str(data.get("prompt_id")), None)
            return
        if tracked is None:
            return
        now = time.time()
        if kind == "execution_start":
            update = JobUpdate(tracked.job_id, state=JobState.RUNNING, at=now)
        elif kind == "executing":
            node = str(data.get("node"))
            tracked.node = node
            update = JobUpdate(
                tracked.job_id,
                state=JobState.RUNNING,
                at=now,
                progress=Progress(node_id=node, class_type=tracked.class_types.get(node)),
            )
        else:
            node = data.get("node")
            node = str(node) if node is not None else tracked.node
            update = JobUpdate(
                tracked.job_id,
                state=JobState.RUNNING,
                at=now,
                progress=Progress(
                    node_id=node,
                    class_type=tracked.class_types.get(node or ""),
                    value=_number(data.get("value")),
                    max=_number(data.get("max")),
                ),
            )
        self.context.apply([update])

    # ------------------------------------------------------------------ cancel

    async def cancel(self, job: Job) -> None:
        prompt_id = job.prompt_id
        if not prompt_id:
            raise BackendError(f"job {job.id[:8]} has no prompt_id: it never reached {self.base_url}")
        self._cancel_requested.add(job.id)
        try:
            if self.jobs_api is None:
                await self._detect_generation()
            if self.jobs_api:
                await self._cancel_with_jobs_api(job, prompt_id)
                return
            queue = await self._queue()
            if prompt_id in queue.pending_position:
                await self._request("POST", "/queue", json={"delete": [prompt_id]})
                queue = await self._queue()
                if not queue.has(prompt_id) and await self._history(prompt_id) is None:
                    # Deleted before it ran: it never reaches /history, so this is the only word on it.
                    self.context.apply(
                        [self._cancelled_update(job, time.time(), "cancelled at your request before it started")]
                    )
            if prompt_id in queue.running:
                # The outcome (history says interrupted) arrives through the poller, which knows the user asked.
                await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})
        except _Unreachable as exc:
            raise BackendError(f"could not cancel job {job.id[:8]}: {exc}") from exc
        finally:
            self._wake.set()

    async def _cancel_with_jobs_api(self, job: Job, prompt_id: str) -> None:
        """Newer servers: `POST /api/jobs/{id}/cancel` removes a pending job or interrupts the running one, and says
        whether it did. A removed pending job never reaches /history: this answer is the only word on it."""
        pending = prompt_id in (await self._queue()).pending_position
        response = await self._request("POST", f"/api/jobs/{prompt_id}/cancel")
        try:
            cancelled = response.status_code == 200 and response.json().get("cancelled") is True
        except (ValueError, AttributeError):
            cancelled = False
        if cancelled and pending:
            self.context.apply([self._cancelled_update(job, time.time(), "cancelled at your request before it started")])
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
            queue = await self._queue()
            self._mark_answered()
            updates: list[JobUpdate] = []
            now = time.time()
            left_queue = [job for job in ours if job.prompt_id and not queue.has(job.prompt_id)]
            semaphore = asyncio.Semaphore(HISTORY_CONCURRENCY)

            async def look_up(prompt_id: str) -> payloads.Outcome | None:
                async with semaphore:
                    return await self._history(prompt_id)

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
                    self._seen(job.id)
                    updates.append(JobUpdate(job.id, state=JobState.RUNNING, at=now))
                    continue
                if prompt_id in queue.pending_position:
                    self._seen(job.id)
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
                updates.extend(self._settle(job, outcome, now))
        except _Unreachable as exc:
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

    # ------------------------------------------------------------------ connection test

    async def check_connection(self) -> tuple[bool, str]:
        try:
            stats = await self._get_json("/system_stats")
        except _Unreachable as exc:
            return False, str(exc)
        version = ""
        if isinstance(stats, dict) and isinstance(stats.get("system"), dict):
            version = str(stats["system"].get("comfyui_version") or "")
        if self.jobs_api is None:
            await self._detect_generation()
        api = " (jobs API)" if self.jobs_api else ""
        return True, f"ComfyUI {version} at {self.base_url}{api}".replace("ComfyUI  at", "ComfyUI at")


def _clock(timestamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
