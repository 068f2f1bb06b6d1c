"""Fixtures of the fault-injection suite: an instrumented emulator and the look-alike servers (one per module, reset
for each test). Helpers live in helpers.py and hostile.py; `workflow_file` comes from tests/conftest.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.helpers import Emulator
from tests.faults.hostile import HostileServer, ReplayServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with contextlib.closing(Emulator(tmp_path / "sim-out")) as sim:
        yield sim


@pytest.fixture(scope="module")
def replay_server() -> Iterator[ReplayServer]:
    success = (FIXTURES / "comfyui" / "01_get_history_id_success.json").read_bytes()
    with contextlib.closing(ReplayServer(success)) as server:
        yield server


@pytest.fixture
def replay(replay_server: ReplayServer) -> ReplayServer:
    """The module's replay server, back to healthy answers for this test."""
    replay_server.reset()
    return replay_server


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileServer]:
    with contextlib.closing(HostileServer()) as server:
        yield server


@pytest.fixture
def hostile(hostile_server: HostileServer) -> HostileServer:
    """The module's hostile server, back to good behaviour and no prompts for this test."""
    hostile_server.reset()
    return hostile_server
