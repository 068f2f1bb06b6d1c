"""Shared pieces of the engine, CLI and crash tests: a config pointing at an emulator, counters (waiting is
tests/waiting.py).

The emulators (tui/sim) are real servers on loopback; the engine talks to them with its real clients.
"""

from __future__ import annotations

import collections
import threading
from pathlib import Path
from typing import Any

import httpx

SIM_TOKEN = "sim-token-0123456789"
BUCKET = "oss://test-bucket/data-115"
# Small images and few steps keep every run short; tests that need a long run set more steps.
FAST_PARAMS = {"5.width": "64", "5.height": "64", "3.steps": "3"}


def config_text(
    server: Any,
    *,
    token: str | None = SIM_TOKEN,
    lost_after: float | None = 30.0,
    retry: str | None = None,
    extra: str = "",
    api_extra: str = "",
    defaults: str = "",
    bucket: str = BUCKET,
) -> str:
    """Two profiles, sim-api and sim-dedicated, pointing at `server` (a SimServer), with quick poll intervals.

    `extra` ends the sim-dedicated profile, `api_extra` the sim-api one, `defaults` the [defaults] table;
    `lost_after=None` leaves the shipped default.
    """
    token_line = f'token = "{token}"\n' if token is not None else ""
    retry_line = f"retry = {retry}\n" if retry else ""
    lost_after_line = f"lost_after = {lost_after}\n" if lost_after is not None else ""
    return (
        "[defaults]\n"
        "poll_interval = 0.05\n"
        "idle_poll_interval = 0.5\n"
        f"{lost_after_line}"
        "request_timeout = 10\n"
        f"{defaults}"
        "\n"
        "[profiles.sim-api]\n"
        'edition = "api"\n'
        f'input_url = "{server.api_input_url}"\n'
        f"{token_line}"
        f'oss_bucket_path = "{bucket}"\n'
        f"{retry_line}"
        f"{api_extra}"
        "\n"
        "[profiles.sim-dedicated]\n"
        'edition = "dedicated"\n'
        f'url = "{server.dedicated_url}/"\n'
        f"{token_line}"
        f'oss_bucket_path = "{bucket}"\n'
        f"{retry_line}"
        f"{extra}"
    )


def write_config(path: Path, server: Any, **kwargs: Any) -> Path:
    path.write_text(config_text(server, **kwargs), encoding="utf-8")
    return path


class PutCounter:
    """Counts what an emulator received per task_id (API edition input puts) — to prove nothing went twice."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, key: str | None) -> None:
        if key:
            with self._lock:
                self.counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


def count_api_puts(server: Any) -> PutCounter:
    """Wrap the input queue's put of the server's service so every received task_id is counted."""
    counter = PutCounter()
    queue = server.queues.input_queue(server.service)
    queue.put_observers.append(lambda item: counter.add(item.tags.get("task_id")))
    return counter


def sink_attributes(server: Any, token: str | None = SIM_TOKEN) -> dict[str, str]:
    headers = {"Authorization": token} if token else {}
    response = httpx.get(f"{server.api_input_url}/sink", params={"_attrs_": "true"}, headers=headers, timeout=5)
    response.raise_for_status()
    return response.json()


async def sink_attributes_async(server: Any, token: str | None = SIM_TOKEN) -> dict[str, str]:
    """The same, for a test whose event loop also runs the emulator (a blocking call would deadlock it)."""
    headers = {"Authorization": token} if token else {}
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{server.api_input_url}/sink", params={"_attrs_": "true"}, headers=headers)
    response.raise_for_status()
    return response.json()


def put_foreign_sink_result(server: Any, task_id: str, token: str | None = SIM_TOKEN) -> int:
    """A result on the sink for a task_id comfyq never submitted (another client of the same service)."""
    body = (
        '[{"9": {"images": [{"filename": "Foreign_00000001_.png", "subfolder": "", "type": "output"}]}}]'
    ).encode()
    headers = {"Authorization": token} if token else {}
    response = httpx.post(
        f"{server.api_input_url}/sink", params={"task_id": task_id}, content=body, headers=headers, timeout=5
    )
    response.raise_for_status()
    return int(response.text)
