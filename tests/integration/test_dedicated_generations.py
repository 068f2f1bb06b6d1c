"""The DedicatedBackend against both ComfyUI generations: it tells them apart once per connection and uses the
newer one's jobs API to cancel, reads its new error types and output sizes, and keeps 0.3.64 working unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.backend_helpers import COMFYUI_VERSIONS, RequestLog, SimServerFactory, slow_workflow
from tests.integration.backend_helpers import DEDICATED_TOKEN as TOKEN
from tests.integration.backend_helpers import DedicatedHarness as Harness
from tests.integration.backend_helpers import dedicated_profile as make_profile
from tests.waiting import wait_until
from tui.core.jobs import FailureCategory, JobState
from tui.core.store import JobStore
from tui.sim.server import SimServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=COMFYUI_VERSIONS)
async def server(sim_servers: SimServerFactory, request: pytest.FixtureRequest) -> SimServer:
    return await sim_servers(token=TOKEN, comfyui_version=request.param)


@pytest.fixture
async def harness(server: SimServer, store: JobStore) -> AsyncIterator[Harness]:
    async with Harness(server, store, make_profile(server)).started() as h:
        yield h


def is_newer(server: SimServer) -> bool:
    return server.comfyui_version != "0.3.64"


async def test_the_generation_is_detected_once_per_connection(server: SimServer, harness: Harness) -> None:
    await wait_until(lambda: harness.backend.jobs_api is not None, what="detection")
    assert harness.backend.jobs_api is is_newer(server)
    requests = RequestLog(harness.backend)
    cycles = harness.backend.poll_cycles
    await wait_until(lambda: harness.backend.poll_cycles - cycles >= 5, what="more cycles")
    assert requests.count("/api/jobs") == 0  # not asked again while the connection holds
    ok, message = await harness.backend.check_connection()
    assert ok and server.comfyui_version in message and ("jobs API" in message) is is_newer(server)
    await server.restart()  # connections dropped: asked again on the next one
    await wait_until(lambda: requests.count("/api/jobs") >= 1, timeout=20, what="asked again")
    await wait_until(lambda: harness.backend.jobs_api is not None, timeout=20, what="detected again")


async def test_cancel_uses_the_jobs_api_where_there_is_one(server: SimServer, harness: Harness) -> None:
    running = await harness.submit(slow_workflow(steps=2000))
    queued = await harness.submit(slow_workflow(steps=2000))
    await wait_until(lambda: harness.store.get(running.id).state is JobState.RUNNING, what="running")
    await wait_until(lambda: harness.store.get(queued.id).state is JobState.QUEUED, what="queued")
    requests = RequestLog(harness.backend)
    await harness.backend.cancel(harness.store.get(queued.id))
    await harness.backend.cancel(harness.store.get(running.id))
    for job in (queued, running):
        done = await harness.finished(job)
        assert done.state is JobState.CANCELLED, (done.state, done.failure)
    if is_newer(server):
        assert requests.count(f"/api/jobs/{queued.prompt_id}/cancel") == 1
        assert requests.count(f"/api/jobs/{running.prompt_id}/cancel") == 1
        assert requests.count("/interrupt") == 0
    else:
        assert requests.count("/api/jobs/") == 0 and requests.count("/interrupt") == 1


async def test_output_sizes_and_new_error_types(server: SimServer, harness: Harness) -> None:
    done = await harness.finished(await harness.submit(slow_workflow(steps=2)))
    assert done.state is JobState.SUCCEEDED and done.outputs
    sizes = {output.size for output in done.outputs}
    assert sizes == ({"64×64"} if is_newer(server) else {None})
    broken = slow_workflow(steps=2)
    broken["3"]["class_type"] = "NoSuchSampler"
    job = harness.new_job(broken)
    result = await harness.backend.submit(job)
    assert not result.accepted and result.failure is not None
    assert result.failure.category is FailureCategory.REJECTED
    assert result.failure.node_id == "3"
    assert "NoSuchSampler" in result.failure.message
