"""A dedicated-edition submit whose answer is lost, with the profile retrying transport failures.

The danger: POST /prompt times out (or its connection drops) after ComfyUI queued the prompt, and a blind retry runs
the same workflow twice. comfyq marks every prompt (its job id in `extra_data`) and, before calling such a submit
failed, looks it up in /queue and /history:
- the server has it: the job is adopted and runs once, never retried;
- the server surely does not have it: a transport failure, retried as the profile says;
- the server cannot be asked: `unknown` with a warning saying it may run, never retried; its history entry settles
  it once the server answers again.

The real Engine and DedicatedBackend (httpx, aiohttp) against the ComfyUI emulator on loopback, whose faults hold
back the answer of a queued prompt (`stall_prompt_response_seconds`) or drop a request unanswered
(`drop_prompt_requests`); the emulator counts what it queued, per job marker. Plus the CLI's view of a held answer.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tui.core.backends.dedicated import SUBMIT_MARKER_KEY
from tui.core.config import load_config
from tui.core.engine import Engine, SubmissionRequest
from tui.core.jobs import FailureCategory, Job, JobState
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimServer

from tests.faults.helpers import FAST, Cli, Emulator, assert_clean_output, json_lines, stored_jobs, write_config
from tests.integration.engine_helpers import FAST_PARAMS, SIM_TOKEN
from tests.integration.engine_helpers import write_config as write_engine_config
from tests.waiting import wait_until, wait_until_sync

pytestmark = pytest.mark.timeout(90)

PROFILE = "sim-dedicated"
RETRY_TRANSPORT = '{ max = 2, on = ["transport"] }'


class Sim:
    """An emulator in this event loop, counting queued prompts per job marker, and engines sharing one store."""

    def __init__(self, server: SimServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.store = JobStore(tmp_path / "jobs.sqlite3")
        self.engines: list[Engine] = []
        self.queued: collections.Counter[str] = collections.Counter()
        emulator = server.comfyui
        put = emulator._put  # every POST /prompt the emulated ComfyUI accepted goes through here

        def counting_put(item: Any) -> None:
            self.queued[str(item.extra_data.get(SUBMIT_MARKER_KEY))] += 1
            put(item)

        emulator._put = counting_put  # type: ignore[method-assign]

    def engine(self, *, request_timeout: float = 10) -> Engine:
        path = write_engine_config(
            self.tmp_path / f"config-{len(self.engines)}.toml",
            self.server,
            retry=RETRY_TRANSPORT,
            extra=f"request_timeout = {request_timeout}\n",
        )
        # No pause before a retry: a retry that should not happen would happen at once.
        engine = Engine(load_config(path, explicit=True), self.store, retry_delay=lambda failure, attempt: 0.0)
        self.engines.append(engine)
        return engine

    async def history_ids(self, job: Job) -> list[str]:
        """The server's history entries carrying this job's marker."""
        async with httpx.AsyncClient(headers={"Authorization": SIM_TOKEN}) as client:
            history = (await client.get(f"{self.server.dedicated_url}/history")).json()
        return [pid for pid, entry in history.items() if entry["prompt"][3].get(SUBMIT_MARKER_KEY) == job.id]

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()
        self.store.close()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    server = SimServer(token=SIM_TOKEN, step_seconds=0.01, instances=1, output_dir=tmp_path / "out")
    await server.start()
    harness = Sim(server, tmp_path)
    try:
        yield harness
    finally:
        await harness.close()
        await server.stop()


@pytest.mark.parametrize("sources", ["started first (like --wait)", "started after the submit"])
async def test_a_held_answer_is_adopted_runs_once_and_is_never_retried(sim: Sim, sources: str) -> None:
    sim.server.comfyui.stall_prompt_response_seconds = 10.0  # queued at once, answered long after the 1 s timeout
    engine = sim.engine(request_timeout=1)
    if sources.startswith("started first"):
        await engine.start([PROFILE])
    # 200 steps of 0.01 s: still running when the client gives up, so a failure then would be retried.
    (job,) = await engine.submit(SubmissionRequest(PROFILE, seed_workflow(), params={**FAST_PARAMS, "3.steps": "200"}))
    assert job.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED), (job.state, job.failure)
    assert job.failure is None
    sim.server.comfyui.stall_prompt_response_seconds = 0.0
    await engine.start([PROFILE])

    (final,) = await engine.wait([job.id], timeout=30)

    assert final.id == job.id and final.attempt == 1  # the first attempt itself: nothing was retried
    assert final.state is JobState.SUCCEEDED and final.outputs, (final.failure, final.warning)
    assert sim.store.children(job.id) == []
    assert sim.queued[job.id] == 1
    assert await sim.history_ids(job) == [job.prompt_id]


async def test_a_dropped_request_the_server_never_took_fails_as_transport_and_is_retried(sim: Sim) -> None:
    sim.server.comfyui.drop_prompt_requests = 1
    engine = sim.engine()
    await engine.start([PROFILE])
    (job,) = await engine.submit(SubmissionRequest(PROFILE, seed_workflow(), params=FAST_PARAMS))

    (final,) = await engine.wait([job.id], timeout=30)

    first = sim.store.get(job.id)
    assert first.state is JobState.FAILED and first.failure is not None
    assert first.failure.category is FailureCategory.TRANSPORT
    assert "neither /queue nor /history" in first.failure.message, first.failure.message
    assert final.parent_id == job.id and final.attempt == 2
    assert final.state is JobState.SUCCEEDED, (final.failure, final.warning)
    assert sim.queued[job.id] == 0 and sim.queued[final.id] == 1


async def test_an_unanswered_submit_the_server_cannot_be_asked_about_is_unknown_never_retried_then_settled(
    sim: Sim,
) -> None:
    sim.server.comfyui.stall_prompt_response_seconds = 60.0
    engine = sim.engine()  # sources not started: nothing but the submit itself can learn about the job
    sending = asyncio.create_task(engine.submit(SubmissionRequest(PROFILE, seed_workflow(), params=FAST_PARAMS)))
    await wait_until(lambda: sum(sim.queued.values()) == 1, what="the server to queue it")
    await sim.server.stop_listening()  # down before answering: the look-up finds nobody to ask

    (job,) = await sending

    assert job.state is JobState.UNKNOWN, (job.state, job.failure)
    assert job.warning and "outcome unknown" in job.warning and "not retried automatically" in job.warning
    assert job.failure is None
    sim.server.comfyui.stall_prompt_response_seconds = 0.0
    await sim.server.start_listening()
    await engine.start([PROFILE])

    settled = await wait_until(
        lambda: (j := sim.store.get(job.id)).state is JobState.SUCCEEDED and j, what="its history entry to settle it"
    )

    assert settled.outputs and settled.warning is None
    assert sim.store.children(job.id) == [] and engine.retry_child(job.id) is None
    assert sim.queued[job.id] == 1
    assert await sim.history_ids(job) == [job.prompt_id]


def test_the_cli_waits_a_held_answer_out_and_reports_the_one_run(
    tmp_path: Path, emulator: Emulator, workflow_file: Path
) -> None:
    emulator.server.comfyui.stall_prompt_response_seconds = 10.0
    config = write_config(
        tmp_path / "config.toml",
        emulator.config_text(dedicated_extra=f"request_timeout = 1\nretry = {RETRY_TRANSPORT}\n"),
    )
    cli = Cli(config, tmp_path / "data")

    # Still running when the client gives up after 1 s (200 steps of 0.01 s): a failure then would be retried.
    result = cli.run("submit", str(workflow_file), "-p", PROFILE, *FAST, "--set", "3.steps=200", "--wait",
                     "--timeout", "40", "--json", timeout=80)

    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    (job,) = json_lines(result.stdout)
    assert job["state"] == "succeeded" and job["attempt"] == 1, json.dumps(job)[:2000]
    assert len(stored_jobs(cli.store_file)) == 1  # no second attempt was made
    assert emulator.prompts[job["prompt_id"]] == 1


def test_the_cli_says_so_when_a_submit_outcome_is_unknown(tmp_path: Path, emulator: Emulator, workflow_file: Path) -> None:
    # The server takes the prompt, holds its answer, and goes away before the answer and before any look-up:
    # nobody can tell whether the job runs. `comfyq submit` must not exit 0 as if it had been accepted.
    emulator.server.comfyui.stall_prompt_response_seconds = 60.0
    config = write_config(tmp_path / "config.toml", emulator.config_text(dedicated_extra="request_timeout = 5\n"))
    cli = Cli(config, tmp_path / "data")
    process = cli.popen("submit", str(workflow_file), "-p", PROFILE, *FAST, "--json")
    try:
        wait_until_sync(lambda: sum(emulator.prompts.values()) >= 1, 30, "the server to queue the prompt")
        emulator.stop_listening()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert_clean_output(stdout, stderr)
    (job,) = json_lines(stdout)
    assert job["state"] == "unknown", json.dumps(job)[:2000]
    assert process.returncode == 1, stderr
