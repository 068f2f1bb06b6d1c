"""Other clients' prompts on a dedicated ComfyUI become external jobs (issue 10, "every job on the service").

Prompts are posted straight to the emulator with httpx (as curl or another user's ComfyUI tab would), never through
comfyq; the DedicatedBackend follows the server with the real clients over loopback.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.backend_helpers import (
    COMFYUI_VERSIONS,
    RequestLog,
    SimServerFactory,
    fixture_workflow,
    slow_workflow,
)
from tests.integration.backend_helpers import DEDICATED_TOKEN as TOKEN
from tests.integration.backend_helpers import DedicatedHarness as Harness
from tests.waiting import wait_until
from tui.core.config import parse_config_text
from tui.core.jobs import FailureCategory, JobState
from tui.core.store import JobFilter, JobStore
from tui.sim.server import SimServer

pytestmark = pytest.mark.timeout(90)
POLL = 0.2


@pytest.fixture(params=COMFYUI_VERSIONS)
async def server(sim_servers: SimServerFactory, request: pytest.FixtureRequest) -> SimServer:
    return await sim_servers(token=TOKEN, comfyui_version=request.param)


def profile(server: SimServer, extra: str = ""):
    text = (
        f"[defaults]\npoll_interval = {POLL}\nidle_poll_interval = {POLL}\nlost_after = 300\n"
        f'\n[profiles.dedicated]\nedition = "dedicated"\nurl = "{server.dedicated_url}/"\ntoken = "{TOKEN}"\n'
        f'oss_bucket_path = "oss://bucket/data-1"\n{extra}'
    )
    return parse_config_text(text).profiles["dedicated"]


async def post_elsewhere(server: SimServer, workflow: dict[str, Any], client_id: str = "someone-else") -> str:
    """What another client does: POST /prompt itself."""
    async with httpx.AsyncClient(base_url=server.dedicated_url, headers={"Authorization": TOKEN}) as client:
        response = await client.post("/prompt", json={"prompt": workflow, "client_id": client_id})
        assert response.status_code == 200, response.text
        return str(response.json()["prompt_id"])


def externals(store: JobStore) -> list:
    return store.page(JobFilter(origin="external"), limit=1000)


async def test_a_prompt_posted_elsewhere_appears_as_an_external_job_with_its_outputs(
    server: SimServer, store: JobStore
) -> None:
    h = Harness(server, store, profile(server))
    await h.backend.start()
    try:
        await wait_until(lambda: h.backend.poll_cycles >= 1, what="a first poll")
        mine = await h.submit(slow_workflow(steps=150))  # ours runs first: theirs waits behind it
        prompt_id = await post_elsewhere(server, slow_workflow(steps=3))
        cycles = h.backend.poll_cycles
        found = await wait_until(lambda: store.by_prompt_id(prompt_id, "dedicated"), what="the external job")
        assert h.backend.poll_cycles - cycles <= 2
        assert found.external and found.state is JobState.QUEUED and found.queue_position == 0
        assert found.workflow == slow_workflow(steps=3)  # resubmittable: the graph came with it
        assert found.client_id == "someone-else"
        done = await wait_until(
            lambda: (job := store.by_prompt_id(prompt_id, "dedicated")) and job.state.is_terminal and job,
            timeout=30, what="it to end",
        )
        assert done.state is JobState.SUCCEEDED and done.outputs, (done.state, done.failure)
        assert done.external and done.id == found.id  # followed, not imported twice
        assert (await h.finished(mine, timeout=30)).state is JobState.SUCCEEDED
        assert not store.get(mine.id).external
        assert [job.id for job in store.page(JobFilter.parse("origin:mine"))] == [mine.id]
        assert [job.id for job in externals(store)] == [found.id]
    finally:
        await h.backend.stop()


async def test_recent_history_is_imported_once_up_to_the_bound_with_failures(
    server: SimServer, store: JobStore
) -> None:
    # Before comfyq looks: five finished prompts of another client, one of them failed at execution.
    prompt_ids = [await post_elsewhere(server, slow_workflow(steps=1 + n)) for n in range(4)]
    failing = await post_elsewhere(server, fixture_workflow("exec_error_imageblend_batch_mismatch.json"))
    await wait_until(lambda: len(server.comfyui.history) == 5, what="five finished prompts")
    h = Harness(server, store, profile(server, "external_history = 3\n"))
    await h.backend.start()
    try:
        await wait_until(lambda: len(externals(store)) >= 3, what="imports")
        await wait_until(lambda: h.backend.poll_cycles >= 4, what="a few more cycles")
        imported = {job.prompt_id: job for job in externals(store)}
        assert set(imported) == {*prompt_ids[2:], failing}  # the 3 newest: the bound on how far back
        failed = imported[failing]
        assert failed.state is JobState.FAILED and failed.failure is not None
        assert failed.failure.category is FailureCategory.EXECUTION and failed.failure.node_id
        for prompt_id in prompt_ids[2:]:
            job = imported[prompt_id]
            assert job.state is JobState.SUCCEEDED and job.outputs and job.workflow
            assert job.started_at is not None and job.finished_at is not None
    finally:
        await h.backend.stop()


async def test_two_followers_of_one_server_store_each_external_prompt_once(
    server: SimServer, store: JobStore, tmp_path: Path
) -> None:
    first = Harness(server, store, profile(server))
    second_store = JobStore(tmp_path / "jobs.sqlite3")  # another process on the same data dir
    second = Harness(server, second_store, profile(server))
    await first.backend.start()
    await second.backend.start()
    try:
        prompt_ids = [await post_elsewhere(server, slow_workflow(steps=5 + n)) for n in range(6)]
        await wait_until(
            lambda: {job.prompt_id for job in externals(store) if job.state.is_terminal} == set(prompt_ids),
            timeout=30, what="every prompt, finished",
        )
        rows = externals(store)
        assert len(rows) == len(prompt_ids)
    finally:
        await first.backend.stop()
        await second.backend.stop()
        second_store.close()


async def test_external_off_imports_nothing_and_asks_no_history(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, profile(server, "external = false\n"))
    await h.backend.start()
    try:
        requests = RequestLog(h.backend)
        await post_elsewhere(server, slow_workflow(steps=2))
        cycles = h.backend.poll_cycles
        await wait_until(lambda: h.backend.poll_cycles - cycles >= 4, what="a few cycles")
        assert externals(store) == []
        assert requests.count("/history") == 0
    finally:
        await h.backend.stop()


async def test_uuid_prompt_ids_of_other_clients_do_not_clash_with_ours(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, profile(server))
    await h.backend.start()
    try:
        mine = await h.submit(slow_workflow(steps=2))
        await h.finished(mine)
        theirs = await post_elsewhere(server, slow_workflow(steps=2), client_id=str(uuid.uuid4()))
        await wait_until(lambda: store.by_prompt_id(theirs, "dedicated"), what="theirs")
        await wait_until(lambda: h.backend.poll_cycles >= 3, what="cycles")
        assert store.count() == 2  # ours was never imported as external
    finally:
        await h.backend.stop()
