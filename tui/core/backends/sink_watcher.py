"""The API edition's sink watcher: ONE thread per profile reads `<service>/sink` and turns frames into results.

frame → parse → store (one durable transaction per batch) → publish → commit (design.md §2 rule 3): every batch of
frames (up to the window, or what has arrived) is stored and published before its indexes go to the committer
threads, which commit beside the receiving; redelivery is harmless (the store is idempotent). The receive loop is
comfyq's own, not the SDK's `Watcher` (protocols/eas-queue.md §4.6): a 1 s socket timeout so a stop is seen
promptly, pings, capped exponential backoff with jitter, a handshake with an overall deadline; frames are read
with websocket-client and decoded with the SDK's own `DataFrameProto`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import websocket

from tui.core import payloads
from tui.core.backends.base import SourceState
from tui.core.backends.common import Backoff, scrub
from tui.core.backends.eas_sdk import SDK_TIMEOUT_CAP, consumer_uid, sdk, sink_queue_client
from tui.core.backends.sink_threads import Committer, CommitTimeout, ThreadedWatcher
from tui.core.backends.watch_socket import HandshakeTimeout, more_waiting, open_socket, shutdown
from tui.core.jobs import JobState
from tui.core.store import SinkResult

if TYPE_CHECKING:
    from eas_prediction import QueueClient
    from eas_prediction.queue_types.queueservice_pb2 import DataFrameProto

    from tui.core.backends.base import BackendContext
    from tui.core.config import Profile

log = logging.getLogger(__name__)

# A batch is stored as soon as nothing more has arrived; while frames keep trickling in, at most this long after
# its first one.
BATCH_SECONDS = 0.05
# A batch is stored once it holds the window (SinkWatcher.batch_limit) or this many bytes of results.
BATCH_BYTES = 8 * 1024 * 1024
# The receive timeout: how soon a stop (or a due ping / batch / overdue commit) is noticed.
RECV_TIMEOUT = 1.0
# When a connection ends, how long its stored results may take to be committed before it is given up.
COMMIT_WAIT_SECONDS = 5.0
# Commit calls that may travel at once (each on its own connection of the SDK's pool).
COMMITS_IN_FLIGHT = 4
PING_SECONDS = 3.0
# A connection that stayed up this long resets the reconnect backoff.
STABLE_SECONDS = 5.0


class Dropped(Exception):
    """The watch connection ended (closed, reset, failed commit); reconnect after a backoff."""


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

    @property
    def request_deadline(self) -> float:
        """The overall deadline of one handshake or one commit: the profile's `request_timeout`."""
        return float(self.profile.request_timeout or 30.0)

    def _scrub(self, text: str) -> str:
        return scrub(text, self.profile.token)

    def interrupt(self) -> None:
        # Shutting the socket down makes a blocked read return at once, during the handshake too.
        sock = self._sock
        if sock is not None:
            shutdown(sock)

    # ----- the receive loop -----

    def run(self, exit_event: threading.Event) -> None:
        queue = sink_queue_client(self.profile, self.uid)
        backoff = Backoff()

        def report(state: SourceState, error: str | None) -> None:
            # A connection we broke ourselves to stop is not news.
            if state is SourceState.STOPPED or not exit_event.is_set():
                self._on_state(state, error)

        try:
            while not exit_event.is_set():
                self.connection_attempts += 1
                if self.connection_attempts == 1:
                    report(SourceState.CONNECTING, None)
                sock = websocket.WebSocket()
                self._sock = sock  # before the handshake: a stop can shut it down meanwhile
                opened: float | None = None
                try:
                    # Builds the URL and headers; it resolves the endpoint and can raise: one failed attempt,
                    # retried like a refused connection, never the end of the watcher.
                    watcher = queue.watch(0, int(self.profile.window), auto_commit=False)
                    open_socket(
                        sock, watcher.url, dict(watcher.headers),
                        timeout=min(self.request_deadline, SDK_TIMEOUT_CAP), deadline=self.request_deadline,
                    )
                    if exit_event.is_set():
                        break
                    opened = self.connected_since = time.monotonic()
                    report(SourceState.CONNECTED, None)
                    self._receive(sock, queue, exit_event, backoff)
                except websocket.WebSocketBadStatusException as exc:
                    status = exc.status_code
                    if status in (401, 403):
                        report(
                            SourceState.ERROR,
                            f"unauthorized ({status}) on the sink of {self.profile.service}: check the token of "
                            f"profile {self.profile.name!r}",
                        )
                    else:
                        report(SourceState.RECONNECTING, f"sink watch refused (HTTP {status})")
                except HandshakeTimeout as exc:
                    report(SourceState.DEGRADED, f"the sink at {self.profile.endpoint}: {exc}")
                except CommitTimeout as exc:
                    log.warning("%s: %s", self.profile.name, exc)
                    report(SourceState.DEGRADED, str(exc))
                except Dropped as exc:
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
                    shutdown(sock)
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
        committer = Committer(
            lambda indexes: self._commit(queue, indexes), f"{self.name} commit", COMMITS_IN_FLIGHT,
            deadline=self.request_deadline,
        )
        try:
            self._receive_frames(sock, committer, exit_event, backoff)
        finally:
            # Whatever was stored gets its commit before the connection goes (a reconnect would redeliver it).
            committed = committer.close(min(COMMIT_WAIT_SECONDS, self.request_deadline))
        committer.check()
        if not committed:
            raise Dropped("the sink commits did not finish in time")

    def _receive_frames(
        self, sock: websocket.WebSocket, committer: Committer, exit_event: threading.Event, backoff: Backoff
    ) -> None:
        _, data_frame = sdk()
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
                len(batch) >= limit or batch_bytes >= BATCH_BYTES or now >= deadline or not more_waiting(sock)
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
                raise Dropped(f"the sink connection was closed ({exc or 'by the server'})") from exc
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self._flush(batch, committer)
                raise Dropped("the sink connection was closed by the server")
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

    def _flush(self, frames: list[DataFrameProto], committer: Committer) -> None:
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
            raise Dropped(self._scrub(f"commit of sink {span} failed: {exc}")) from exc
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
