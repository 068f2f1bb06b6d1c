"""The Engine against the emulators over loopback, with the real clients (httpx, eas_prediction).

Every state path on both editions: success, batch, cached, validation failure, execution failure, cancel /
interrupt, lost, wrong token, server down then back, sink redelivery after a watcher restart, external results,
resubmit chains and automatic retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tui.core.backends.base import SourceState
from tui.core.batch import SeedMode
from tui.core.config import Config, load_config
from tui.core.engine import CancelNotSupported, Engine, SubmissionRequest
from tui.core.events import Event, JobChanged
from tui.core.jobs import FailureCategory, JobState
from tui.core.render import job_to_dict
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimServer

from tests.integration.engine_helpers import (
    BUCKET,
    FAST_PARAMS,
    SIM_TOKEN,
    count_api_puts,
    put_foreign_sink_result,
    sink_attributes_async,
    write_config,
)
from tests.waiting import wait_until

PROFILES = ["sim-api", "sim-dedicated"]
pytestmark = pytest.mark.timeout(120)


class Harness:
    """One emulator, a config pointing at it, and engines sharing one store (like successive processes)."""

    def __init__(self, server: SimServer, tmp_path: Path) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.store = JobStore(tmp_path / "jobs.sqlite3")
        self.engines: list[Engine] = []
        self.events: list[Event] = []

    def config(self, **kwargs: Any) -> Config:
        path = write_config(self.tmp_path / f"config-{len(self.engines)}.toml", self.server, **kwargs)
        return load_config(path, explicit=True)

    def engine(self, **kwargs: Any) -> Engine:
        retry_delay: Callable[..., float] | None = kwargs.pop("retry_delay", None)
        extra = {"retry_delay": retry_delay} if retry_delay else {}
        engine = Engine(self.config(**kwargs), self.store, **extra)
        engine.subscribe(self.events.append)
        self.engines.append(engine)
        return engine

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()
        self.store.close()


async def _harness(tmp_path: Path, **server_kwargs: Any) -> AsyncIterator[Harness]:
    server = SimServer(token=SIM_TOKEN, step_seconds=0.01, output_dir=tmp_path / "out", **server_kwargs)
    await server.start()
    harness = Harness(server, tmp_path)
    try:
        yield harness
    finally:
        await harness.close()
        await server.stop()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(tmp_path):
        yield harness


@pytest.fixture
async def failing_sim(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(tmp_path, fail_rate=1.0, seed=7):
        yield harness


def params(**more: str) -> dict[str, str]:
    return {**FAST_PARAMS, **more}


# ----------------------------------------------------------------------------------------------- success paths


@pytest.mark.parametrize("profile", PROFILES)
async def test_success_stores_outputs_with_oss_paths(sim: Harness, profile: str) -> None:
    engine = sim.engine()
    await engine.start([profile])
    jobs = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=params()))
    assert [job.state for job in jobs] in ([JobState.QUEUED], [JobState.RUNNING], [JobState.SUCCEEDED])
    (job,) = await engine.wait([jobs[0].id], timeout=30)
    assert job.state is JobState.SUCCEEDED, job.failure
    assert [output.node_id for output in job.outputs] == ["9"]
    output = job.outputs[0]
    assert output.type == "output" and output.filename.endswith(".png")
    assert (sim.server.output_dir / output.subfolder / output.filename).is_file()
    data = job_to_dict(job, engine.config.profiles[profile])
    assert output.subfolder == ""
    assert data["outputs"][0]["oss_path"] == f"{BUCKET}/output/{output.filename}"
    assert data["state"] == "succeeded" and data["submitted_at"] and data["finished_at"]
    if profile == "sim-api":
        assert job.task_id and job.queue_index is not None and job.request_id and job.sink_index is not None
    else:
        assert job.prompt_id and job.client_id == engine.config.profiles[profile].client_id
    changes = [event.job.state for event in sim.events if isinstance(event, JobChanged) and event.job.id == job.id]
    assert changes[0] is JobState.SUBMITTING and changes[-1] is JobState.SUCCEEDED


@pytest.mark.parametrize("profile", PROFILES)
async def test_batch_of_jobs_and_batch_images(sim: Harness, profile: str) -> None:
    engine = sim.engine()
    await engine.start([profile])
    jobs = await engine.submit(SubmissionRequest(
        profile, seed_workflow(), count=4, params=params(**{"5.batch_size": "2"}), seed_mode=SeedMode.RANDOM
    ))
    done = await engine.wait([job.id for job in jobs], timeout=60)
    assert [job.state for job in done] == [JobState.SUCCEEDED] * 4
    assert all(len(job.outputs) == 2 for job in done)
    filenames = [output.filename for job in done for output in job.outputs]
    assert len(set(filenames)) == 8  # different seeds: nothing cached, every image its own file


@pytest.mark.parametrize("profile", PROFILES)
async def test_identical_resubmission_is_cached_and_keeps_outputs(tmp_path: Path, profile: str) -> None:
    # One worker instance so the second run meets the first one's cache.
    async for sim in _harness(tmp_path, instances=1):
        engine = sim.engine()
        await engine.start([profile])
        (first,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=params()))
        (first,) = await engine.wait([first.id], timeout=30)
        (second,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=params()))
        (second,) = await engine.wait([second.id], timeout=30)
        assert first.state is second.state is JobState.SUCCEEDED
        assert second.outputs == first.outputs  # a cached run reports the first run's files


# ----------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("profile", PROFILES)
async def test_validation_failure_names_node_input_and_value(sim: Harness, profile: str) -> None:
    engine = sim.engine()
    await engine.start([profile])
    missing = params(**{"4.ckpt_name": "missing_v1.safetensors"})
    (job,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=missing))
    (job,) = await engine.wait([job.id], timeout=30)
    assert job.state is JobState.FAILED
    assert job.failure is not None and job.failure.category is FailureCategory.REJECTED
    message = job.failure.message
    assert "node 4" in message and "CheckpointLoaderSimple" in message and "ckpt_name" in message
    assert "missing_v1.safetensors" in message


@pytest.mark.parametrize("profile", PROFILES)
async def test_execution_failure_names_the_node(failing_sim: Harness, profile: str) -> None:
    engine = failing_sim.engine()
    await engine.start([profile])
    (job,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=params()))
    (job,) = await engine.wait([job.id], timeout=30)
    assert job.state is JobState.FAILED
    assert job.failure is not None and job.failure.category is FailureCategory.EXECUTION
    assert job.failure.node_id == "3" and job.failure.class_type == "KSampler"
    assert job.failure.message


async def test_cancel_queued_and_interrupt_running_on_dedicated(sim: Harness) -> None:
    engine = sim.engine()
    await engine.start(["sim-dedicated"])
    long = params(**{"3.steps": "1000"})  # 10 s at 0.01 s a step: we cancel long before
    running, waiting = await engine.submit(
        SubmissionRequest("sim-dedicated", seed_workflow(), count=2, params=long, seed_mode=SeedMode.RANDOM)
    )
    await wait_until(lambda: sim.store.get(running.id).state is JobState.RUNNING, what="the first job to run")
    assert engine.capabilities("sim-dedicated").can_cancel
    await engine.cancel(waiting.id)
    await engine.cancel(running.id)
    done = await engine.wait([running.id, waiting.id], timeout=20)
    assert [job.state for job in done] == [JobState.CANCELLED, JobState.CANCELLED]
    assert all(job.failure is None or job.failure.category is FailureCategory.INTERRUPTED for job in done)


async def test_api_edition_cannot_cancel_a_running_task_and_says_why(sim: Harness) -> None:
    engine = sim.engine()
    await engine.start(["sim-api"])
    slow = params(**{"3.steps": "300"})  # ~3 s
    (job,) = await engine.submit(SubmissionRequest("sim-api", seed_workflow(), params=slow))
    capabilities = engine.capabilities("sim-api")
    assert capabilities.can_cancel and not capabilities.can_cancel_running  # only waiting tasks are withdrawn
    await wait_until(lambda: sim.store.get(job.id).state is JobState.RUNNING, what="an instance to take it")
    with pytest.raises(CancelNotSupported, match="already running"):
        await engine.cancel(job.id)
    (job,) = await engine.wait([job.id], timeout=30)
    assert job.state is JobState.SUCCEEDED


async def test_job_deleted_on_the_server_becomes_lost(sim: Harness) -> None:
    engine = sim.engine(lost_after=0.5)
    await engine.start(["sim-dedicated"])
    long = params(**{"3.steps": "1000"})
    running, victim = await engine.submit(
        SubmissionRequest("sim-dedicated", seed_workflow(), count=2, params=long, seed_mode=SeedMode.RANDOM)
    )
    await wait_until(lambda: sim.store.get(running.id).state is JobState.RUNNING, what="the first job to run")
    # Someone else deletes our pending prompt behind comfyq's back: it is in neither /queue nor /history.
    async with httpx.AsyncClient(headers={"Authorization": SIM_TOKEN}) as client:
        response = await client.post(f"{sim.server.dedicated_url}/queue", json={"delete": [victim.prompt_id]})
        assert response.status_code == 200
    (lost,) = await engine.wait([victim.id], timeout=20)
    assert lost.state is JobState.LOST
    assert lost.warning
    await engine.cancel(running.id)
    await engine.wait([running.id], timeout=20)


@pytest.mark.parametrize("profile", PROFILES)
async def test_wrong_token_is_an_auth_failure_and_never_shows_the_token(sim: Harness, profile: str) -> None:
    wrong = "wrong-token-abcdef123456"
    engine = sim.engine(token=wrong)
    ok, message = await engine.test_connection(profile)
    assert not ok and wrong not in message
    await engine.start([profile])
    (job,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=params()))
    assert job.state is JobState.FAILED
    assert job.failure is not None and job.failure.category is FailureCategory.AUTH
    assert wrong not in job.failure.message
    status = await wait_until(
        lambda: (s := engine.source_statuses.get(profile)) and s.state is SourceState.ERROR and s,
        what="the source to report the auth error",
    )
    assert wrong not in (status.error or "")


@pytest.mark.parametrize("profile", PROFILES)
async def test_server_down_then_back_finishes_the_jobs(sim: Harness, profile: str) -> None:
    engine = sim.engine()
    await engine.start([profile])
    await wait_until(
        lambda: (s := engine.source_statuses.get(profile)) and s.state is SourceState.CONNECTED, what="connected"
    )
    jobs = await engine.submit(SubmissionRequest(
        profile, seed_workflow(), count=3, params=params(**{"3.steps": "30"}), seed_mode=SeedMode.RANDOM
    ))
    # The listener goes away (every connection drops, new ones are refused); the jobs keep running inside.
    await sim.server.stop_listening()
    await wait_until(
        lambda: (s := engine.source_statuses.get(profile)) and s.state in (SourceState.RECONNECTING, SourceState.ERROR),
        what="the source to notice the outage",
    )
    await sim.server.start_listening()
    done = await engine.wait([job.id for job in jobs], timeout=60)
    assert [job.state for job in done] == [JobState.SUCCEEDED] * 3
    await wait_until(
        lambda: (s := engine.source_statuses.get(profile)) and s.state is SourceState.CONNECTED, what="reconnected"
    )


# ----------------------------------------------------------------------------------------------- API sink


async def test_sink_redelivery_after_watcher_restart_stores_each_result_once(sim: Harness) -> None:
    puts = count_api_puts(sim.server)
    first = sim.engine()
    await first.start(["sim-api"])
    jobs = await first.submit(SubmissionRequest(
        "sim-api", seed_workflow(), count=6, params=params(**{"3.steps": "20"}), seed_mode=SeedMode.RANDOM
    ))
    # Stop the watcher while results are still being produced: they wait on the sink (uncommitted or unread).
    await first.stop()
    second = sim.engine()
    await second.start(["sim-api"])
    done = await second.wait([job.id for job in jobs], timeout=60)
    assert [job.state for job in done] == [JobState.SUCCEEDED] * 6
    assert len({job.sink_index for job in done}) == 6
    assert puts.snapshot() == {job.task_id: 1 for job in jobs}
    async def sink_empty() -> bool:
        return (await sink_attributes_async(sim.server)).get("stream.length") == "0"

    await wait_until(sink_empty, what="an empty sink")
    assert sim.store.count() == 6


async def test_result_for_a_foreign_task_id_is_stored_as_an_external_job(sim: Harness) -> None:
    engine = sim.engine()
    await engine.start(["sim-api"])
    await asyncio.to_thread(put_foreign_sink_result, sim.server, "someone-elses-task")
    external = await wait_until(
        lambda: sim.store.by_task_id("sim-api", "someone-elses-task"), what="the external job"
    )
    assert external.external and external.state is JobState.SUCCEEDED
    assert [output.filename for output in external.outputs] == ["Foreign_00000001_.png"]
    await wait_until(
        lambda: any(isinstance(e, JobChanged) and e.job.external for e in sim.events), what="an external job event"
    )


# ----------------------------------------------------------------------------------------------- resubmit


@pytest.mark.parametrize("profile", PROFILES)
async def test_resubmit_chain_links_parent_and_attempt(sim: Harness, profile: str) -> None:
    engine = sim.engine()
    await engine.start([profile])
    missing = params(**{"4.ckpt_name": "nope.safetensors"})
    (first,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=missing))
    (first,) = await engine.wait([first.id], timeout=30)
    assert first.state is JobState.FAILED
    (second,) = await engine.resubmit([first.id[:10]])
    (third,) = await engine.resubmit([second.id], new_seed=True)
    assert (second.parent_id, second.attempt) == (first.id, 2)
    assert (third.parent_id, third.attempt) == (second.id, 3)
    assert second.workflow == first.workflow
    assert third.workflow["3"]["inputs"]["seed"] != second.workflow["3"]["inputs"]["seed"]
    done = await engine.wait([second.id, third.id], timeout=30)
    assert [job.state for job in done] == [JobState.FAILED, JobState.FAILED]
    assert [job.id for job in sim.store.chain(third.id)][:3] == [first.id, second.id, third.id]


@pytest.mark.parametrize("profile", PROFILES)
async def test_automatic_retry_on_execution_failure(failing_sim: Harness, profile: str) -> None:
    engine = failing_sim.engine(retry='{ max = 2, on = ["execution"] }')
    await engine.start([profile])
    (job,) = await engine.submit(SubmissionRequest(profile, seed_workflow(), params=params()))
    (final,) = await engine.wait([job.id], timeout=60)
    assert final.state is JobState.FAILED and final.attempt == 3
    chain = failing_sim.store.chain(final.id)
    assert [link.attempt for link in chain] == [1, 2, 3]
    assert chain[0].id == job.id and chain[1].parent_id == job.id and final.parent_id == chain[1].id
    assert failing_sim.store.children(final.id) == []  # attempt 3 > max 2: no fourth


async def test_restart_reconciles_jobs_left_in_flight(sim: Harness) -> None:
    first = sim.engine()
    await first.start(["sim-dedicated"])
    jobs = await first.submit(SubmissionRequest(
        "sim-dedicated", seed_workflow(), count=3, params=params(**{"3.steps": "20"}), seed_mode=SeedMode.RANDOM
    ))
    await first.stop()  # like a process that ended while its jobs were queued
    second = sim.engine()
    await second.start(["sim-dedicated"])
    done = await second.wait([job.id for job in jobs], timeout=60)
    assert [job.state for job in done] == [JobState.SUCCEEDED] * 3


async def test_dedicated_progress_reaches_subscribers(sim: Harness) -> None:
    engine = sim.engine()
    await engine.start(["sim-dedicated"])
    assert engine.capabilities("sim-dedicated").has_progress
    (job,) = await engine.submit(
        SubmissionRequest("sim-dedicated", seed_workflow(), params=params(**{"3.steps": "30"}))
    )
    (job,) = await engine.wait([job.id], timeout=30)
    assert job.state is JobState.SUCCEEDED
    progress = [
        event.job.progress
        for event in sim.events
        if isinstance(event, JobChanged) and event.job.id == job.id and event.job.progress is not None
    ]
    assert any(p.class_type == "KSampler" and p.max == 30 and 0 < p.value <= 30 for p in progress), progress
    assert job.progress is None  # a finished job shows no progress
