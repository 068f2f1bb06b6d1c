"""API edition: the PAI-EAS asynchronous queue (protocols/eas-queue.md).

Submit: `POST <input_url>/api_prompt?task_id=<ours>` with the bare workflow (httpx); the answer is the input-queue
index and a request id. Results: ONE sink watcher thread per profile. It uses `eas_prediction.QueueClient` for what
the SDK does right (URL, identity headers, commit) but owns the receive loop, because the SDK's `Watcher` cannot be
stopped and reconnects in a tight loop (protocols §4.6): a 1 s socket timeout so a stop is seen promptly, pings,
capped exponential backoff with jitter; frames are read with websocket-client and decoded with the SDK's own
`DataFrameProto`. Every batch of frames (up to the window, or what has arrived) is parsed, stored in one durable transaction,
published, and only THEN handed to the committer threads (design.md §2 rule 3), which commit beside the receiving;
redelivery is harmless (the store is idempotent). On the event loop, a monitor asks the input queue where queued
jobs stand (`search`, rate-limited, with httpx so a 404 is not retried six times) and how the service is doing
(`attributes`, slowly).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import websocket

if TYPE_CHECKING:
    from eas_prediction import QueueClient
    from eas_prediction.queue_types.queueservice_pb2 import DataFrameProto


def _sdk() -> tuple[type[QueueClient], type[DataFrameProto]]:
    """The SDK's queue client and frame type, imported on first use: they pull in protobuf and numpy (~90 ms),
    which `comfyq submit` (plain HTTP) never needs."""
    with warnings.catch_warnings():
        # The SDK's generated protobuf modules use deprecated descriptor calls; that is its business, not the user's.
        warnings.simplefilter("ignore", DeprecationWarning)
        from eas_prediction import QueueClient
        from eas_prediction.queue_types.queueservice_pb2 import DataFrameProto
    return QueueClient, DataFrameProto

from tui.core import payloads
from tui.core.backends.common import Backoff, scrub
from tui.core.backends.http import MEGABYTE, AnswerTooLarge, fetch
from tui.core.backends.base import Backend, Capabilities, SourceState, SourceStatus, SubmitResult
from tui.core.aio import wait_event
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate
from tui.core.store import ActiveJob, SinkResult

if TYPE_CHECKING:
    from tui.core.backends.base import BackendContext
    from tui.core.config import Profile

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Eas-Queueservice-Request-Id"
# A batch is stored as soon as nothing more has arrived; while frames keep trickling in, at most this long after
# its first one.
BATCH_SECONDS = 0.05
# A batch is stored once it holds the window (SinkWatcher.batch_limit) or this many bytes of results.
BATCH_BYTES = 8 * 1024 * 1024
# The receive timeout: how soon a stop (or a due ping / batch) is noticed.
RECV_TIMEOUT = 1.0
# When a connection ends, how long its stored results may take to be committed before it is given up.
COMMIT_WAIT_SECONDS = 5.0
# Commit calls that may travel at once (each on its own connection of the SDK's pool).
COMMITS_IN_FLIGHT = 4
PING_SECONDS = 3.0
# A connection that stayed up this long resets the reconnect backoff.
STABLE_SECONDS = 5.0
# Queue positions: at most this often, and at most this many searches per round (round-robin beyond).
SEARCH_INTERVAL = 2.0
SEARCH_BATCH = 64
SEARCH_CONCURRENCY = 8
# Service health (queue length, consumers): this often.
HEALTH_INTERVAL = 10.0
IDLE_INTERVAL = 10.0
# A status with nothing new is still re-sent this often, so `last_seen` stays fresh.
STATUS_REFRESH_SECONDS = 5.0


def consumer_uid(profile_name: str) -> str:
    """A consumer id per profile, host and process. Per process: two comfyq processes on one profile (the TUI and
    a `comfyq submit --wait`) are two consumers of the group and share the results, instead of taking one id from
    each other twice a second. A crashed process's uncommitted items go back to the group (its other consumers,
    or the next comfyq that starts)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname() or "host")
    digest = hashlib.sha1(profile_name.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", profile_name)[:32]
    return f"comfyq-{host}-{name}-{digest}-{os.getpid()}"


class _Dropped(Exception):
    """The watch connection ended (closed, reset, failed commit); reconnect after a backoff."""


class _Committer:
    """Commits stored sink indexes on threads of their own, so the watcher keeps receiving and storing while commits
    travel to the queue service and back (on a real network, a round trip each).

    Only indexes whose results are already stored durably are handed in (design.md §2 rule 3). Up to
    COMMITS_IN_FLIGHT calls run at once, each taking everything handed in by then: the server sends more only as
    commits land, so a result should wait for one round trip, not for the one before it to finish too. After a
    failed commit nothing more is committed: the watcher sees the error (`check`), drops the connection, and the
    queue hands the uncommitted items back (the store ignores the duplicates).
    """

    def __init__(self, commit: Callable[[list[int]], None], name: str, workers: int) -> None:
        self._commit = commit
        self._pending: list[int] = []
        self._in_flight = 0
        self._closed = False
        self.error: Exception | None = None
        self._condition = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name} {number}", daemon=True) for number in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, indexes: list[int]) -> None:
        with self._condition:
            if self.error is None:
                self._pending.extend(indexes)
                self._condition.notify()

    def check(self) -> None:
        """Raise the error of a failed commit, if any."""
        if self.error is not None:
            raise self.error

    def close(self, timeout: float) -> bool:
        """Commit what is pending (bounded wait), then end the threads. True when everything handed in was
        committed."""
        deadline = time.monotonic() + timeout
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            while (self._pending or self._in_flight) and self.error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            done = not self._pending and not self._in_flight and self.error is None
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return done

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._closed and self.error is None:
                    self._condition.wait()
                if not self._pending or self.error is not None:
                    return
                indexes, self._pending = self._pending, []
                self._in_flight += 1
            try:
                self._commit(indexes)
            except Exception as exc:  # noqa: BLE001 - handed to the watcher, which reconnects
                with self._condition:
                    self.error = self.error or exc
                    self._pending = []
                    self._in_flight -= 1
                    self._condition.notify_all()
                return
            with self._condition:
                self._in_flight -= 1
                self._condition.notify_all()


class ThreadedWatcher:
    """A background thread with its own exit event (the shape of toolong's watcher).

    Each start gets a fresh event and thread, so a thread that is slow to notice a stop can never be revived by
    the next start.
    """

    name = "watcher"

    def __init__(self) -> None:
        self._exit = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._exit = threading.Event()
        exit_event = self._exit
        self._thread = threading.Thread(target=self._main, args=(exit_event,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to end and wait (bounded); True when it has ended."""
        self._exit.set()
        self.interrupt()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _main(self, exit_event: threading.Event) -> None:
        try:
            self.run(exit_event)
        except Exception:  # pragma: no cover - run() handles its own errors; this is the last net
            log.exception("%s crashed", self.name)

    def run(self, exit_event: threading.Event) -> None:
        raise NotImplementedError

    def interrupt(self) -> None:
        """Unblock the thread if it waits on I/O (called from the stopping thread). Optional."""


class SinkWatcher(ThreadedWatcher):
    """Watches `<service>/sink` for one profile: frame → parse → store → publish → commit, in batches."""

    def __init__(
        self,
        profile: Profile,
        context: BackendContext,
        on_state: Callable[[SourceState, str | None], None],
    ) -> None:
        super().__init__()
        self.profile = profile
        self.context = context
        self.name = f"sink-watcher {profile.name}"
        self.uid = consumer_uid(profile.name)
        self._on_state = on_state
        # Counters the tests (and the status pane) read.
        self.connection_attempts = 0
        self.frames_received = 0
        self.committed: list[int] = []
        # The commit call (made on the committer threads); tests replace it to simulate a crash between store and
        # commit, or to check that every index it is given is already stored.
        self.commit_fn: Callable[[QueueClient, list[int]], Any] = lambda queue, indexes: queue.commit(indexes)
        self.connected_since: float | None = None  # monotonic time of the current connection, None when down
        self._sock: websocket.WebSocket | None = None

    # ----- SDK pieces -----

    def _queue_client(self) -> QueueClient:
        endpoint = str(self.profile.endpoint)
        sink = f"{self.profile.service}/sink"
        queue_client, _ = _sdk()
        client = queue_client(endpoint, sink)
        # The SDK gives every client a logger that prints to stdout: never let it write over the terminal.
        logging.getLogger(f"{endpoint}/{sink}").handlers.clear()
        client.set_token(self.profile.token or "")
        client.set_timeout(int(min(float(self.profile.request_timeout or 5.0), 5.0) * 1000))
        client.set_retry_count(1)
        client.init(uid=self.uid, gid=self.profile.consumer_group)
        client.set_logger(logging.getLogger("tui.core.backends.eas_sdk"))
        return client

    def _scrub(self, text: str) -> str:
        return scrub(text, self.profile.token)

    def interrupt(self) -> None:
        # Shutting the socket down makes a blocked recv return at once (websocket-client's abort is thread-safe).
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.abort()

    # ----- the receive loop -----

    def run(self, exit_event: threading.Event) -> None:
        queue = self._queue_client()
        backoff = Backoff()

        def report(state: SourceState, error: str | None) -> None:
            # A connection we broke ourselves to stop is not news.
            if state is SourceState.STOPPED or not exit_event.is_set():
                self._on_state(state, error)

        try:
            while not exit_event.is_set():
                watcher = queue.watch(0, int(self.profile.window), auto_commit=False)  # builds URL + headers, no I/O
                self.connection_attempts += 1
                if self.connection_attempts == 1:
                    report(SourceState.CONNECTING, None)
                sock = None
                opened: float | None = None
                try:
                    sock = websocket.create_connection(
                        watcher.url,
                        header=dict(watcher.headers),
                        timeout=min(float(self.profile.request_timeout or 5.0), 5.0),
                    )
                    self._sock = sock
                    if exit_event.is_set():
                        break
                    opened = self.connected_since = time.monotonic()
                    report(SourceState.CONNECTED, None)
                    self._receive(sock, queue, exit_event, backoff)
                except websocket.WebSocketBadStatusException as exc:
                    status = getattr(exc, "status_code", None)
                    if status in (401, 403):
                        report(
                            SourceState.ERROR,
                            f"unauthorized ({status}) on the sink of {self.profile.service}: check the token of "
                            f"profile {self.profile.name!r}",
                        )
                    else:
                        report(SourceState.RECONNECTING, f"sink watch refused (HTTP {status})")
                except _Dropped as exc:
                    report(SourceState.RECONNECTING, self._scrub(str(exc)))
                except (websocket.WebSocketException, OSError) as exc:
                    report(
                        SourceState.RECONNECTING,
                        self._scrub(f"cannot watch the sink at {self.profile.endpoint}: {exc or type(exc).__name__}"),
                    )
                except Exception as exc:  # a bug (store, parser) must not end the watcher: back off and retry
                    log.exception("%s: sink watcher failed", self.profile.name)
                    report(SourceState.RECONNECTING, self._scrub(f"sink watcher: {exc}"))
                finally:
                    self.connected_since = None
                    self._sock = None
                    if opened is not None and time.monotonic() - opened >= STABLE_SECONDS:
                        backoff.reset()  # it worked for a while: this drop is news, not a failing server
                    if sock is not None:
                        with contextlib.suppress(Exception):
                            sock.abort()
                        with contextlib.suppress(Exception):
                            sock.close(timeout=0.2)
                exit_event.wait(backoff.next())
        finally:
            queue.destroy()  # ends the SDK's endpoint sync thread
            report(SourceState.STOPPED, None)

    @property
    def batch_limit(self) -> int:
        """At most this many frames are stored in one transaction: the window (the server sends no more until
        some are committed). A batch is stored earlier when nothing more has arrived, and commits run beside the
        receiving, so the server refills the window while the next batch comes in."""
        return max(1, int(self.profile.window))

    def _receive(
        self, sock: websocket.WebSocket, queue: QueueClient, exit_event: threading.Event, backoff: Backoff
    ) -> None:
        committer = _Committer(lambda indexes: self._commit(queue, indexes), f"{self.name} commit", COMMITS_IN_FLIGHT)
        try:
            self._receive_frames(sock, committer, exit_event, backoff)
        finally:
            # Whatever was stored gets its commit before the connection goes (a reconnect would redeliver it).
            committed = committer.close(COMMIT_WAIT_SECONDS)
        committer.check()
        if not committed:
            raise _Dropped("the sink commits did not finish in time")

    def _receive_frames(
        self, sock: websocket.WebSocket, committer: _Committer, exit_event: threading.Event, backoff: Backoff
    ) -> None:
        _, data_frame = _sdk()
        batch: list[DataFrameProto] = []
        batch_bytes = 0
        limit = self.batch_limit
        deadline = 0.0
        last_ping = time.monotonic()
        while not exit_event.is_set():
            committer.check()
            now = time.monotonic()
            if now - last_ping >= PING_SECONDS:
                sock.ping("ping")
                last_ping = now
            if batch and (
                len(batch) >= limit or batch_bytes >= BATCH_BYTES or now >= deadline or not _more_waiting(sock)
            ):
                # Store it now: it is full, or nothing else has arrived (waiting would only delay the results and
                # their commit, which is what lets the server send more).
                self._flush(batch, committer)
                batch = []
                batch_bytes = 0
                backoff.reset()  # results flow: the connection is healthy
                continue
            sock.settimeout(BATCH_SECONDS if batch else RECV_TIMEOUT)
            try:
                opcode, data = sock.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, websocket.WebSocketProtocolException, OSError) as exc:
                self._flush(batch, committer)  # what arrived is stored (and committed) before reconnecting
                raise _Dropped(f"the sink connection was closed ({exc or 'by the server'})") from exc
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self._flush(batch, committer)
                raise _Dropped("the sink connection was closed by the server")
            if opcode != websocket.ABNF.OPCODE_BINARY:
                log.warning("%s: ignored a non-binary frame on the sink watch", self.profile.name)
                continue
            frame = data_frame()
            try:
                frame.ParseFromString(data)
            except Exception:  # noqa: BLE001 - protobuf raises its own DecodeError
                log.warning("%s: ignored an undecodable sink frame (%d bytes)", self.profile.name, len(data))
                continue
            self.frames_received += 1
            if not batch:
                deadline = now + BATCH_SECONDS
            batch.append(frame)
            batch_bytes += len(frame.data)
        if batch:
            # Stopping with frames in hand: store-then-commit is as safe now as ever, and saves a redelivery.
            self._flush(batch, committer)

    def _flush(self, frames: list[DataFrameProto], committer: _Committer) -> None:
        """Store the batch durably, publish it, and only then hand its indexes to the committer."""
        if not frames:
            return
        results = [self._result(frame) for frame in frames]
        changed = self.context.store.upsert_sink_results(results)
        self.context.publish(changed)
        committer.submit([frame.index for frame in frames])

    def _commit(self, queue: QueueClient, indexes: list[int]) -> None:
        """One commit call for `indexes` (on the committer's thread)."""
        try:
            self.commit_fn(queue, indexes)
        except Exception as exc:
            # Stored but not committed: the queue gives the items back after the reconnect, the store ignores
            # the duplicates, and the commit is tried again then.
            span = f"{indexes[0]}" if len(indexes) == 1 else f"{len(indexes)} items {min(indexes)}…{max(indexes)}"
            raise _Dropped(self._scrub(f"commit of sink {span} failed: {exc}")) from exc
        self.committed.extend(indexes)

    def _result(self, frame: DataFrameProto) -> SinkResult:
        tags = dict(frame.tags)
        data = frame.data
        try:
            outcome = payloads.parse_sink_payload(data, tags)
        except Exception as exc:  # the parser should never raise; if it does, keep the raw bytes as `unknown`
            log.exception("%s: could not parse sink item %s", self.profile.name, frame.index)
            outcome = payloads.Outcome(
                state=JobState.UNKNOWN,
                warning=f"unrecognised result ({exc})",
                raw=data.decode("utf-8", "replace"),
            )
        return SinkResult(
            profile=self.profile.name,
            sink_index=frame.index,
            task_id=tags.get("task_id"),
            request_id=tags.get("requestId"),
            state=outcome.state,
            outputs=tuple(outcome.outputs),
            failure=outcome.failure,
            raw_result=outcome.raw or data.decode("utf-8", "replace"),
            prompt_id=outcome.prompt_id,
            warning=outcome.warning,
            at=time.time(),
        )


def _more_waiting(sock: websocket.WebSocket) -> bool:
    """Has more of the stream already arrived (waiting in the socket)? Never blocks. websocket-client reads a frame
    with exactly the bytes it needs, so what it has not returned yet is still in the socket."""
    raw = sock.sock
    if raw is None:
        return False
    if isinstance(raw, ssl.SSLSocket) and raw.pending():
        return True  # decrypted bytes the socket itself no longer shows
    try:
        readable, _, _ = select.select([raw], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(readable)


class EasQueueBackend(Backend):
    """One API-edition profile: submit into the input queue, results from the sink, positions from `search`."""

    # A job still waiting in the input queue can be removed (search + delete); one an instance took cannot be stopped.
    capabilities: ClassVar[Capabilities] = Capabilities(
        can_cancel=True, has_progress=False, has_queue_position=True, can_cancel_running=False
    )

    def __init__(self, profile: Profile, context: BackendContext) -> None:
        super().__init__(profile, context)
        self.input_url = str(profile.input_url).rstrip("/")
        self.search_interval = SEARCH_INTERVAL
        self.health_interval = HEALTH_INTERVAL
        self.watcher: SinkWatcher | None = None
        self._client: httpx.AsyncClient | None = None
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

    def _headers(self) -> dict[str, str]:
        token = self.profile.token
        return {"Authorization": token} if token else {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            timeout = float(self.profile.request_timeout or 30.0)
            self._client = httpx.AsyncClient(
                headers=self._headers(),
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            )
        return self._client

    def _scrub(self, text: str) -> str:
        return scrub(text, self.profile.token)

    async def _fetch(self, method: str, url: str, *, submit: bool = False, **kwargs: Any) -> httpx.Response:
        """One request within the profile's deadline (connect + send + the whole answer) and body cap."""
        profile = self.profile
        cap_mb, cap_key = (
            (profile.max_submit_response_mb, "max_submit_response_mb") if submit
            else (profile.max_response_mb, "max_response_mb")
        )
        return await fetch(
            self._http(), method, url, deadline=float(profile.request_timeout or 30.0),
            max_bytes=int(cap_mb * MEGABYTE), cap_key=cap_key, **kwargs,
        )

    def _identity(self) -> dict[str, str]:
        return {
            "X-EAS-QueueService-Redis-Uid": consumer_uid(self.profile.name),
            "X-EAS-QueueService-Redis-Gid": str(self.profile.consumer_group),
        }

    async def _get(self, params: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        """A GET on the input queue; network trouble becomes an error message (and an unhealthy status)."""
        try:
            response = await self._fetch(
                "GET", self.input_url, params=params, headers={**self._identity(), **(headers or {})}
            )
        except httpx.TimeoutException as exc:
            message = f"{self.input_url} did not answer in time ({type(exc).__name__})"
            self._set_http(error=message)
            raise _QueueError(message) from exc
        except AnswerTooLarge as exc:
            message = f"{self.input_url}: {exc}"
            self._set_http(error=message)
            raise _QueueError(message) from exc
        except httpx.HTTPError as exc:
            message = self._scrub(f"cannot reach {self.input_url}: {exc or type(exc).__name__}")
            self._set_http(error=message)
            raise _QueueError(message) from exc
        if response.status_code in (401, 403):
            message = (
                f"unauthorized ({response.status_code}) at {self.input_url}: check the token of profile "
                f"{self.profile.name!r}"
            )
            self._set_http(error=message, auth=True)
            raise _QueueError(message, auth=True)
        if response.status_code >= 500:
            message = f"{self.input_url} answered HTTP {response.status_code}"
            self._set_http(error=message)
            raise _QueueError(message)
        self._set_http(error=None)
        return response

    # ------------------------------------------------------------------ submit

    async def submit(self, job: Job) -> SubmitResult:
        if not job.task_id:
            return SubmitResult(accepted=False, failure=Failure(FailureCategory.REJECTED, "job has no task_id"))
        body = json.dumps(job.workflow, ensure_ascii=False).encode()
        try:
            response = await self._fetch(
                "POST",
                f"{self.input_url}/api_prompt",
                submit=True,
                params={"task_id": job.task_id},
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            return _transport(f"{self.input_url} did not answer the submission in time ({type(exc).__name__})")
        except AnswerTooLarge as exc:
            return _transport(f"{self.input_url}: {exc}")
        except httpx.HTTPError as exc:
            return _transport(self._scrub(f"cannot reach {self.input_url}: {exc or type(exc).__name__}"))
        status = response.status_code
        if status in (401, 403):
            message = f"unauthorized ({status}) at {self.input_url}: check the token of profile {self.profile.name!r}"
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
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
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
        while True:
            self._wake.clear()
            busy = False
            try:
                busy = await self.monitor_once()
                if time.monotonic() - last_health >= self.health_interval:
                    last_health = time.monotonic()
                    await self.check_health()
                backoff.reset()
                delay = self.search_interval if busy else max(self.search_interval, IDLE_INTERVAL)
            except asyncio.CancelledError:
                raise
            except _QueueError:
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
            raise _QueueError(f"search answered HTTP {response.status_code}")
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
        from tui.core.backends.common import BackendError

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
        except _QueueError as exc:
            raise BackendError(f"could not cancel job {short}: {exc}") from exc
        failure = Failure(FailureCategory.INTERRUPTED, "cancelled at your request: removed from the input queue "
                                                       "before any instance took it")
        self.context.apply([JobUpdate(job.id, state=JobState.CANCELLED, at=time.time(), failure=failure)])

    async def _delete_input(self, indexes: list[int]) -> None:
        """`delete(indexes)` on the input queue: `DELETE <input>?_indexes_=i,j` (protocol note §3.3)."""
        params = {"_indexes_": ",".join(str(index) for index in indexes)}
        try:
            response = await self._http().delete(self.input_url, params=params, headers=self._identity())
        except httpx.HTTPError as exc:
            raise _QueueError(self._scrub(f"cannot reach {self.input_url}: {exc or type(exc).__name__}")) from exc
        if response.status_code != 200:
            raise _QueueError(f"delete answered HTTP {response.status_code}")

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
            except _QueueError as exc:
                from tui.core.backends.common import BackendError

                raise BackendError(f"could not reconcile with {self.input_url}: {exc}") from exc
            if found is None:
                self._missing_since.setdefault(job.id, now)
                continue
            index, tags = found
            updates.append(JobUpdate(job.id, queue_index=index, request_id=tags.get("requestId")))
            updates.append(JobUpdate(job.id, state=JobState.QUEUED, at=now))
        return updates

    async def check_connection(self) -> tuple[bool, str]:
        try:
            attributes = await self.attributes()
        except _QueueError as exc:
            return False, str(exc)
        length = attributes.get("stream.length", "?")
        consumers = attributes.get("consumers.status.total") or attributes.get("consumers.stats.total") or "?"
        return True, f"input queue of {self.profile.service}: {length} waiting, {consumers} consumers"


class _QueueError(Exception):
    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


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


__all__ = ["EasQueueBackend", "SinkWatcher", "ThreadedWatcher", "consumer_uid"]
