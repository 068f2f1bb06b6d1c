"""Helpers of the fault-injection suite: emulators the tests start and instrument, the real CLI, store checks.

(The misbehaving ComfyUI look-alikes, hostile and replaying, are in hostile.py; waiting is tests/waiting.py.)

Everything here is real: the emulators (tui/sim) listen on loopback in a thread of the test process, `comfyq` runs as
a subprocess (`python -m tui`) with its own config file and data dir, and the job store is the real SQLite file.
The emulators are instrumented from outside (no change to their code): an `on_response_prepare` hook on their aiohttp
app records every answer (status, path, websocket handshakes) so the tests count what a client really did.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tui.core.jobs import Job
from tui.core.store import JobStore
from tui.sim.server import SimServer

from tests.integration.cli_helpers import REPO, Cli, cli_env
from tests.integration.engine_helpers import config_text, count_api_puts
from tui.sim.comfyui_execution import QueueItem as QueuedPrompt

SIM_TOKEN = "sim-token-fault-0123456789"
BUCKET = "oss://fault-bucket/data"
# Small images and one step: every emulated job is short; tests that need long jobs set more steps.
FAST = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=1"]


# --------------------------------------------------------------------------------------------- event loop thread


class LoopThread:
    """An asyncio loop in a daemon thread, for servers the (synchronous) tests start and poke."""

    def __init__(self, name: str = "faults-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run a plain function on the loop thread (emulator state is not thread-safe) and return its result."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(function())
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(error)

        self.loop.call_soon_threadsafe(call)
        return future.result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


# --------------------------------------------------------------------------------------------- request log


@dataclass(frozen=True)
class Answer:
    """One response an emulator prepared: when, to what, with which status (101 = a websocket handshake)."""

    at: float  # time.monotonic()
    method: str
    path: str
    query: str
    status: int
    websocket: bool

    @property
    def source(self) -> str:
        """Which client source asked: the sink watcher, the ComfyUI websocket, the poller, the queue monitor, ..."""
        if self.path.endswith("/sink") and "_watch_" in self.query:
            return "sink-watch"
        if self.path in ("/ws", "/api/ws"):
            return "comfyui-ws"
        if self.path.endswith("/sink"):
            return "sink-http"
        if self.path.startswith("/api/predict/"):
            return "input-queue"
        if self.path.startswith(("/queue", "/api/queue")):
            return "poll-queue"
        if self.path.startswith(("/history", "/api/history")):
            return "poll-history"
        return self.path


class RequestLog:
    """Every answer of an aiohttp app, recorded from its `on_response_prepare` signal (401s of middlewares too)."""

    def __init__(self) -> None:
        self._answers: list[Answer] = []
        self._lock = threading.Lock()

    def install(self, app: web.Application) -> None:
        async def record(request: web.Request, response: web.StreamResponse) -> None:
            answer = Answer(
                at=time.monotonic(),
                method=request.method,
                path=request.path,
                query=request.query_string,
                status=response.status,
                websocket=isinstance(response, web.WebSocketResponse),
            )
            with self._lock:
                self._answers.append(answer)

        app.on_response_prepare.append(record)

    def answers(self, predicate: Callable[[Answer], bool] = lambda answer: True) -> list[Answer]:
        with self._lock:
            return [answer for answer in self._answers if predicate(answer)]

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def handshakes(self, source: str) -> list[Answer]:
        """Successful websocket handshakes of one source."""
        return self.answers(lambda a: a.source == source and a.websocket and a.status == 101)

    def by_source(self, predicate: Callable[[Answer], bool] = lambda answer: True) -> dict[str, int]:
        return dict(collections.Counter(answer.source for answer in self.answers(predicate)))


def most_in_any_window(answers: Sequence[Answer], seconds: float) -> int:
    """The largest number of answers that fall inside any window of `seconds` (a reconnect storm shows here)."""
    times = sorted(answer.at for answer in answers)
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] > seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


# --------------------------------------------------------------------------------------------- instrumented emulator


class Emulator:
    """A SimServer (EAS queue + API-edition workers + dedicated ComfyUI) on loopback, run and observed by the test.

    `requests` records every answer; `input_puts` counts what the input queue received per task_id;
    `prompts` counts what the dedicated ComfyUI put on its queue per prompt_id (nothing may ever arrive twice).
    """

    def __init__(self, output_dir: Path, **options: Any) -> None:
        options.setdefault("token", SIM_TOKEN)
        options.setdefault("step_seconds", 0.01)
        options.setdefault("instances", 2)
        self.thread = LoopThread("faults-sim")
        self.requests = RequestLog()
        self.prompts: collections.Counter[str] = collections.Counter()
        self.server: SimServer = self.thread.call(lambda: SimServer(output_dir=output_dir, **options))
        self._instrument()
        self.thread.run(self.server.start())

    def _instrument(self) -> None:
        server = self.server
        server.app_hooks.append(self.requests.install)  # every (re)listen builds a new app
        self.input_puts: collections.Counter[str] = count_api_puts(server).counts

        def count_prompt(item: QueuedPrompt) -> None:  # every POST /prompt the dedicated ComfyUI accepted
            self.prompts[str(item.prompt_id)] += 1

        server.comfyui.queued_observers.append(count_prompt)

    # ----- addresses, config -----
    @property
    def token(self) -> str | None:
        return self.server.token

    def config_text(
        self,
        *,
        token: str | None = SIM_TOKEN,
        defaults: str = "",
        api_extra: str = "",
        dedicated_extra: str = "",
    ) -> str:
        """Two profiles, sim-api and sim-dedicated, pointing at this emulator with quick poll intervals."""
        return config_text(self.server, token=token, lost_after=None, defaults=defaults, api_extra=api_extra,
                           extra=dedicated_extra, bucket=BUCKET)

    # ----- faults -----
    def stop_listening(self) -> None:
        self.thread.run(self.server.stop_listening())

    def start_listening(self) -> None:
        self.thread.run(self.server.start_listening())

    # ----- the sink, straight from the test -----
    def put_on_sink(self, items: Sequence[tuple[bytes, dict[str, str]]]) -> list[int]:
        """Put results straight onto the sink (as the service's workers would); returns their indexes."""
        sink = self.server.queues.sink_queue(self.server.service)
        return self.thread.call(lambda: [sink.put(data, tags).index for data, tags in items])

    def sink_attributes(self) -> dict[str, str]:
        sink = self.server.queues.sink_queue(self.server.service)
        return self.thread.call(sink.attributes)

    def close(self) -> None:
        try:
            self.thread.run(self.server.stop())
        finally:
            self.thread.close()


# --------------------------------------------------------------------------------------------- the CLI


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def popen_to_files(cli: Cli, *args: str, name: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Start `comfyq ARGS` with stdout/stderr going to files (a pipe nobody reads would block a chatty process)."""
    out_path = cli.data_dir.parent / f"{name}.out"
    err_path = cli.data_dir.parent / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(cli.argv(*args), stdout=out, stderr=err, cwd=REPO, env=cli_env())
    return process, out_path, err_path


@contextlib.contextmanager
def running(process: subprocess.Popen[Any]) -> Iterator[subprocess.Popen[Any]]:
    """Never leave a process behind, whatever the test does."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def assert_clean_output(*texts: str) -> None:
    """No Python traceback reached the user (a job's own ComfyUI traceback, shown by `show`, is fine)."""
    for text in texts:
        assert "Traceback (most recent call last)" not in text, text


# --------------------------------------------------------------------------------------------- the store


def stored_jobs(store_file: Path, limit: int = 100_000) -> list[Job]:
    if not store_file.exists():
        return []
    store = JobStore(store_file)
    try:
        return store.page(limit=limit)
    finally:
        store.close()


def assert_store_intact(store_file: Path, expected_ids: Sequence[str] = ()) -> list[Job]:
    """The file passes SQLite's integrity check, opens as a JobStore, and still holds the expected rows."""
    assert store_file.exists(), store_file
    connection = sqlite3.connect(f"file:{store_file}?mode=ro", uri=True)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        connection.close()
    store = JobStore(store_file)
    try:
        jobs = store.page(limit=100_000)
        for job_id in expected_ids:
            assert store.get(job_id).id == job_id
        return jobs
    finally:
        store.close()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


__all__ = [
    "Answer",
    "BUCKET",
    "Cli",
    "Emulator",
    "FAST",
    "LoopThread",
    "RequestLog",
    "SIM_TOKEN",
    "assert_clean_output",
    "assert_store_intact",
    "json_lines",
    "most_in_any_window",
    "popen_to_files",
    "running",
    "stored_jobs",
    "write_config",
]
