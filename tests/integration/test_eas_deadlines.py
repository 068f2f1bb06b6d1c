"""Overall deadlines on what the API edition does through the EAS SDK and websocket-client (issue 11, item 3).

Neither library has an overall deadline: websocket-client's timeout is per socket operation (its handshake reads
the answer a byte at a time), and the SDK's commit blocks on urllib3 and cannot be stopped from another thread.
So: a handshake that drips is given up at `request_timeout` and the source shows degraded; a commit stuck inside
the SDK past `request_timeout` is abandoned (its daemon thread left to end on its own), the connection is dropped
so the queue redelivers, and neither holds up `stop()`.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.backend_helpers import EAS_TOKEN as TOKEN
from tests.integration.backend_helpers import EasHarness as Harness
from tests.integration.backend_helpers import Recorder, SimServerFactory, put_results, window_profile
from tests.waiting import wait_until
from tui.core.backends import create_backend
from tui.core.backends.base import BackendContext, SourceState
from tui.core.backends.eas_queue import EasQueueBackend
from tui.core.config import parse_config_text
from tui.core.jobs import JobState
from tui.core.store import JobStore
from tui.sim.server import SimServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server(sim_servers: SimServerFactory) -> SimServer:
    return await sim_servers(token=TOKEN, instances=2)


class DrippingHandshake:
    """A TCP server on 127.0.0.1 that reads the upgrade request and answers `101 Switching Protocols` one byte every
    `drip_seconds`: no read ever times out, the handshake never completes in time."""

    def __init__(self, drip_seconds: float = 0.2) -> None:
        self.drip_seconds = drip_seconds
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="dripping-handshake", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + b"X-Pad: " + b"." * 500
        with connection:
            try:
                connection.recv(65536)
                for index in range(len(answer)):
                    if self._closed.wait(self.drip_seconds):
                        return
                    connection.sendall(answer[index : index + 1])
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self.listener.close()


async def test_a_dripping_sink_handshake_is_given_up_at_its_deadline_and_stop_is_prompt(tmp_path: Path) -> None:
    dripping = DrippingHandshake()
    store = JobStore(tmp_path / "jobs.sqlite3")
    recorder = Recorder()
    text = (
        f'[profiles.drip]\nedition = "api"\ninput_url = "http://127.0.0.1:{dripping.port}/api/predict/svc"\n'
        f'token = "{TOKEN}"\nrequest_timeout = 1\n'
    )
    backend = create_backend(parse_config_text(text).profiles["drip"], BackendContext(store, recorder.publish, recorder.report_status))
    assert isinstance(backend, EasQueueBackend)
    try:
        await backend.start()
        began = time.monotonic()
        status = await wait_until(
            lambda: next((s for s in reversed(recorder.statuses) if s.state is SourceState.DEGRADED), None),
            timeout=10, what="a degraded status",
        )
        # Per read it never timed out (a byte every 0.2 s); the whole handshake had 1 s.
        assert time.monotonic() - began < 5
        assert status.error and "handshake did not complete within 1 s" in status.error, status
        assert TOKEN not in status.error
        watcher = backend.watcher
        assert watcher is not None
        await wait_until(lambda: watcher.connection_attempts >= 2, timeout=10, what="a second attempt")
    finally:
        began = time.monotonic()
        await backend.stop()
        stopped_in = time.monotonic() - began
        dripping.close()
        store.close()
    # Stopped mid-handshake: the socket is shut down from the stopping thread, the watcher ends at once.
    assert stopped_in < 2.5, stopped_in
    assert backend.watcher is not None and not backend.watcher.running


async def test_a_commit_stuck_in_the_sdk_is_abandoned_at_its_deadline(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, window_profile(server, 8))  # request_timeout = 5
    release = threading.Event()
    stuck: list[list[int]] = []

    def stuck_first_commit(queue: Any, indexes: list[int]) -> Any:
        # The SDK's commit never returning (a server that accepted the PUT and went silent).
        if not stuck:
            stuck.append(indexes)
            release.wait(45)
        return queue.commit(indexes)

    await h.backend.start()
    try:
        watcher = h.backend.watcher
        assert watcher is not None
        watcher.commit_fn = stuck_first_commit
        indexes = put_results(server, 0, 3)
        await wait_until(lambda: stuck, what="the first commit to get stuck")
        # Stored before the commit, so the results are there whatever happens to it.
        assert all(store.by_sink_index("wide", i) for i in indexes)
        began = time.monotonic()
        status = await wait_until(
            lambda: next((s for s in reversed(h.recorder.statuses) if s.state is SourceState.DEGRADED), None),
            timeout=15, what="a degraded status",
        )
        assert status.error and "did not return within 5 s" in status.error and "abandoned" in status.error, status
        assert time.monotonic() - began < 10
        # The connection was dropped and made again: the queue redelivers, the new connection commits.
        await wait_until(lambda: h.sink_length() == 0, timeout=20, what="the redelivered results committed")
        assert watcher.connection_attempts >= 2
        settled = [store.by_sink_index("wide", i) for i in indexes]
        assert all(job is not None and job.state is JobState.SUCCEEDED for job in settled)
        # The stuck call is still inside "the SDK": stopping does not wait for it.
        began = time.monotonic()
        await h.backend.stop()
        assert time.monotonic() - began < 3.0
    finally:
        release.set()
        await h.backend.stop()


async def test_an_sdk_error_before_the_handshake_does_not_end_the_watcher(
    server: SimServer, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`QueueClient.watch` can raise (it resolves the endpoint and may wrap a websocket error in PredictException):
    that is one failed attempt, reported and retried — never a watcher thread that ends and leaves the profile
    "stopped" while the app runs."""
    from tui.core.backends import sink_watcher as sink_watcher_module

    real_client = sink_watcher_module.sink_queue_client
    failures: list[str] = []

    class FirstWatchFails:
        def __init__(self, queue: Any) -> None:
            self._queue = queue

        def watch(self, *args: Any, **kwargs: Any) -> Any:
            if not failures:
                failures.append("watch")
                raise RuntimeError("endpoint not resolved yet")
            return self._queue.watch(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._queue, name)

    monkeypatch.setattr(
        sink_watcher_module, "sink_queue_client", lambda *args: FirstWatchFails(real_client(*args))
    )
    h = Harness(server, store, window_profile(server, 8))
    await h.backend.start()
    try:
        indexes = put_results(server, 0, 2)
        await wait_until(lambda: h.sink_length() == 0, timeout=20, what="the results committed after the retry")
        assert failures == ["watch"]
        assert all(store.by_sink_index("wide", i) is not None for i in indexes)
        assert not any(s.state is SourceState.STOPPED for s in h.recorder.statuses), h.recorder.statuses
        assert any(s.state is SourceState.RECONNECTING and "endpoint not resolved" in (s.error or "")
                   for s in h.recorder.statuses), h.recorder.statuses
    finally:
        await h.backend.stop()
