"""Fixtures that start the emulators on free loopback ports (real HTTP, real websockets) and open job stores.

`comfyui_sim` gives a running standalone ComfyUI emulator with tiny step times; `comfyui_sim_factory` starts more
with other options (token, fail_rate, models, ...). `sim_servers` starts combined servers (EAS queue + workers +
dedicated ComfyUI, tui/sim/server.py) in the test's loop; `sim` runs one in a thread, and `cli` is the real
command line on a config pointing at it. `store` is a JobStore in tmp_path. Every fixture stops or closes what it
started when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.integration.backend_helpers import SimServerFactory
from tests.integration.cli_helpers import Cli
from tests.integration.engine_helpers import SIM_TOKEN, write_config
from tui.core.store import JobStore
from tui.sim.comfyui import ComfyUIEmulator
from tui.sim.comfyui_routes import create_app, start_server
from tui.sim.server import SimServer, SimThread

TEST_STEP_SECONDS = 0.005


@dataclass
class RunningComfyUISim:
    emulator: ComfyUIEmulator
    runner: web.AppRunner
    port: int
    output_dir: Path
    token: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, client_id: str | None = None) -> str:
        suffix = f"?clientId={client_id}" if client_id else ""
        return f"ws://127.0.0.1:{self.port}/ws{suffix}"

    async def stop(self) -> None:
        await self.runner.cleanup()  # on_shutdown stops the emulator


async def start_comfyui_sim(output_dir: Path, *, token: str | None = None, **options: Any) -> RunningComfyUISim:
    """Start an emulator + standalone app on 127.0.0.1:<free port>. Options go to ComfyUIEmulator."""
    options.setdefault("step_seconds", TEST_STEP_SECONDS)
    emulator = ComfyUIEmulator(output_dir=output_dir, **options)
    runner, port = await start_server(create_app(emulator, token=token))
    return RunningComfyUISim(emulator, runner, port, output_dir, token)


ComfyUISimFactory = Callable[..., Awaitable[RunningComfyUISim]]


@pytest.fixture
async def comfyui_sim(tmp_path: Path) -> AsyncIterator[RunningComfyUISim]:
    sim = await start_comfyui_sim(tmp_path / "output")
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def comfyui_sim_factory(tmp_path: Path) -> AsyncIterator[ComfyUISimFactory]:
    started: list[RunningComfyUISim] = []

    async def factory(**options: Any) -> RunningComfyUISim:
        sim = await start_comfyui_sim(tmp_path / f"output{len(started)}", **options)
        started.append(sim)
        return sim

    try:
        yield factory
    finally:
        for sim in started:
            await sim.stop()


@pytest.fixture
async def sim_servers(tmp_path: Path) -> AsyncIterator[SimServerFactory]:
    """Start SimServers in this loop: one instance, 10 ms steps, seed 1 and tmp_path/out unless told otherwise."""
    started: list[SimServer] = []

    async def start(**options: Any) -> SimServer:
        options = {"step_seconds": 0.01, "instances": 1, "seed": 1, "output_dir": tmp_path / "out", **options}
        server = SimServer(**options)
        await server.start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            await server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    with JobStore(tmp_path / "jobs.sqlite3") as job_store:
        yield job_store


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimServer]:
    """A SimServer in its own thread (two instances, 10 ms steps, the engine tests' token), for CLI subprocesses."""
    with SimThread(token=SIM_TOKEN, step_seconds=0.01, output_dir=tmp_path / "out") as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path, sim: SimServer) -> Cli:
    """The real CLI on a config with `sim`'s two profiles (engine_helpers.config_text) and its own data dir."""
    return Cli(write_config(tmp_path / "config.toml", sim), tmp_path / "data")
