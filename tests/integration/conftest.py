"""Fixtures that start the ComfyUI emulator on a free loopback port (real HTTP, real websockets).

`comfyui_sim` gives a running emulator with tiny step times; `comfyui_sim_factory` starts more with other
options (token, fail_rate, models, ...). Both stop everything they started when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tui.sim.comfyui import ComfyUIEmulator, create_app, start_server

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
