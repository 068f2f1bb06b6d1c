"""DedicatedBackend against the ComfyUI emulator over loopback, with the real httpx / aiohttp clients.

The engine's side (publish, report_status) is a small recorder; the store is a real JobStore in tmp_path. Every
state path: success, batch, cached, validation failure, execution failure, cancel (pending and running), lost,
wrong token, server down and back, queue positions, reconcile of `submitting` rows, and a submit whose answer is
lost (adopted when the server took it, a transport failure when not, `unknown` when the server cannot be asked).
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

from tui.core.backends.base import SourceState
from tui.core.backends.dedicated import HISTORY_RACE_POLLS, SUBMIT_MARKER_KEY
from tui.core.jobs import FailureCategory, Job, JobState, JobUpdate
from tui.core.store import JobStore
from tui.sim.server import SimServer

from tests.integration.backend_helpers import (
    COMFYUI_VERSIONS,
    DEDICATED_TOKEN,
    FIXTURES,
    RequestLog,
    SimServerFactory,
    fixture_workflow,
    missing_checkpoint_workflow,
    slow_workflow,
)
from tests.integration.backend_helpers import DedicatedHarness as Harness
from tests.integration.backend_helpers import dedicated_profile as make_profile
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

TOKEN = DEDICATED_TOKEN


@pytest.fixture(params=COMFYUI_VERSIONS)
async def server(sim_servers: SimServerFactory, request: pytest.FixtureRequest) -> SimServer:
    """Every test here runs against both ComfyUI generations (protocols/comfyui-newer.md)."""
    return await sim_servers(token=TOKEN, comfyui_version=request.param)


@pytest.fixture
async def harness(server: SimServer, store: JobStore) -> AsyncIterator[Harness]:
    async with Harness(server, store, make_profile(server)).started() as h:
        yield h


async def test_capabilities_and_factory(harness: Harness) -> None:
    caps = type(harness.backend).capabilities
    assert (caps.can_cancel, caps.has_progress, caps.has_queue_position) == (True, True, True)
    ok, message = await harness.backend.check_connection()
    assert ok, message
    assert "ComfyUI" in message


async def test_success_with_outputs_and_live_progress(harness: Harness) -> None:
    job = await harness.submit(slow_workflow(steps=8))
    done = await harness.finished(job)
    assert done.state is JobState.SUCCEEDED, (done.failure, done.warning)
    assert done.outputs and all(o.filename for o in done.outputs)
    assert done.failure is None
    assert done.raw_result
    # The websocket on the same client_id reported live progress: a node with its class type and step counter.
    progressed = [v.progress for v in harness.recorder.versions(job.id) if v.progress is not None]
    assert progressed, "no live progress was published"
    assert any(p.class_type == "KSampler" and p.max == 8 for p in progressed), progressed
    status = await wait_until(
        lambda: (s := harness.recorder.last_status()) and s.state is SourceState.CONNECTED and s, what="connected"
    )
    assert status.last_seen is not None


async def test_batch_outputs(harness: Harness) -> None:
    job = await harness.submit(fixture_workflow("batch4_save_plus_preview.json"))
    done = await harness.finished(job)
    assert done.state is JobState.SUCCEEDED
    kinds = sorted(o.type for o in done.outputs)
    assert kinds.count("output") == 4 and kinds.count("temp") == 4, kinds


async def test_cached_rerun_still_has_outputs(harness: Harness) -> None:
    workflow = fixture_workflow("single_emptyimage_blur_scale_save.json")
    first = await harness.finished(await harness.submit(workflow))
    second = await harness.finished(await harness.submit(workflow))
    assert first.state is second.state is JobState.SUCCEEDED
    assert [o.filename for o in second.outputs] == [o.filename for o in first.outputs]


async def test_validation_failure_is_rejected_with_a_precise_message(harness: Harness) -> None:
    job = harness.new_job(missing_checkpoint_workflow())
    result = await harness.backend.submit(job)
    assert not result.accepted and not result.transport_error
    assert result.failure is not None and result.failure.category is FailureCategory.REJECTED
    assert result.failure.node_errors, result.failure
    assert "ckpt_name" in result.failure.message or any(e.input_name == "ckpt_name" for e in result.failure.node_errors)
    assert any(e.class_type == "CheckpointLoaderSimple" for e in result.failure.node_errors)
    assert "node 4" in result.failure.message and "no_such_model_v1.safetensors" in result.failure.message


async def test_a_body_comfyui_cannot_read_is_rejected_not_retried(harness: Harness) -> None:
    # The UI-format workflow of the fixture 03_post_prompt_ui_format_workflow (the engine refuses one before
    # sending; the backend alone does not): ComfyUI answers aiohttp's stock 500 text/plain.
    capture = FIXTURES.parent / "03_post_prompt_ui_format_workflow.meta.json"
    job = harness.new_job(json.loads(json.loads(capture.read_text(encoding="utf-8"))["request"]["body"])["prompt"])
    result = await harness.backend.submit(job)
    assert not result.accepted and not result.transport_error
    assert result.failure is not None and result.failure.category is FailureCategory.REJECTED
    assert "could not read the request" in result.failure.message, result.failure.message
    queue = await server_get(harness.server, "/queue")
    assert queue == {"queue_running": [], "queue_pending": []}


async def test_execution_failure(tmp_path: Path, store: JobStore) -> None:
    sim = SimServer(token=TOKEN, step_seconds=0.01, fail_rate=1.0, output_dir=tmp_path / "out", seed=2)
    await sim.start()
    h = Harness(sim, store, make_profile(sim))
    await h.backend.start()
    try:
        done = await h.finished(await h.submit(slow_workflow(steps=3)))
        assert done.state is JobState.FAILED
        assert done.failure is not None and done.failure.category is FailureCategory.EXECUTION
        assert done.failure.node_id and done.failure.message
    finally:
        await h.backend.stop()
        await sim.stop()


async def test_cancel_pending_deletes_and_cancel_running_interrupts(harness: Harness) -> None:
    harness.server.comfyui.step_seconds = 0.05  # long enough to catch one running and one pending
    running = await harness.submit(slow_workflow(steps=200))
    pending = await harness.submit(slow_workflow(steps=200))
    await wait_until(lambda: harness.store.get(running.id).state is JobState.RUNNING, what="first job running")
    await wait_until(lambda: harness.store.get(pending.id).state is JobState.QUEUED, what="second job queued")

    await harness.backend.cancel(harness.store.get(pending.id))
    cancelled = harness.store.get(pending.id)
    assert cancelled.state is JobState.CANCELLED  # deleted from the queue: it will never reach /history

    await harness.backend.cancel(harness.store.get(running.id))
    interrupted = await harness.finished(running)
    assert interrupted.state is JobState.CANCELLED, interrupted.failure
    assert interrupted.failure is not None and interrupted.failure.category is FailureCategory.INTERRUPTED
    async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
        queue = (await client.get(f"{harness.server.dedicated_url}/queue")).json()
    assert not queue["queue_running"] and not queue["queue_pending"]


async def test_queue_positions(harness: Harness) -> None:
    harness.server.comfyui.step_seconds = 0.05
    jobs = [await harness.submit(slow_workflow(steps=100)) for _ in range(4)]
    await wait_until(lambda: harness.store.get(jobs[0].id).state is JobState.RUNNING, what="first running")
    await wait_until(
        lambda: [harness.store.get(j.id).queue_position for j in jobs[1:]] == [0, 1, 2], what="positions 0, 1, 2"
    )
    for job in jobs:
        await harness.backend.cancel(harness.store.get(job.id))


async def test_lost_when_the_server_never_saw_it(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server, lost_after=0.3))
    ghost = h.new_job(slow_workflow(steps=1), state=JobState.QUEUED)  # never sent
    await h.backend.start()
    try:
        done = await h.finished(ghost)
        assert done.state is JobState.LOST
        assert done.warning and "/history" in done.warning
    finally:
        await h.backend.stop()


async def test_wrong_token_is_an_auth_error_without_a_reconnect_storm(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server, token="wrong-token-abcdef"))
    job = h.new_job(slow_workflow(steps=1))
    result = await h.backend.submit(job)
    assert not result.accepted
    assert result.failure is not None and result.failure.category is FailureCategory.AUTH
    assert "wrong-token-abcdef" not in result.failure.message
    ok, message = await h.backend.check_connection()
    assert not ok and "unauthorized" in message
    await h.backend.start()
    try:
        status = await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.ERROR and s, what="auth error status"
        )
        assert status.error and "unauthorized" in status.error and "wrong-token" not in status.error
        await asyncio.sleep(1.5)  # let the sources try: they must back off, not spin
        assert h.backend.ws_connection_attempts <= 4, h.backend.ws_connection_attempts
        assert h.backend.poll_cycles <= 5, h.backend.poll_cycles
    finally:
        await h.backend.stop()


async def test_server_down_then_back(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server))
    await h.backend.start()
    try:
        await wait_until(lambda: h.backend.ws_connection_attempts >= 1 and h.backend.progress.error is None, what="ws up")
        await server.stop()  # the server goes away (connections dropped, port closed)
        await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.RECONNECTING, what="reconnecting"
        )
        attempts_before = h.backend.ws_connection_attempts
        cycles_before = h.backend.poll_cycles
        await asyncio.sleep(2.0)  # down for a while: a backoff, not a tight loop
        assert h.backend.ws_connection_attempts - attempts_before <= 4
        assert h.backend.poll_cycles - cycles_before <= 5
        await server.start()  # back on the same port
        await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.CONNECTED and s.error is None,
            timeout=40,
            what="connected again",
        )
        done = await h.finished(await h.submit(slow_workflow(steps=2)))
        assert done.state is JobState.SUCCEEDED
    finally:
        await h.backend.stop()


async def test_reconcile_submitting_rows_found_and_not_found(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server))
    # A crash right after the POST reached the server: the row is `submitting`, the server has the prompt.
    sent = h.new_job(slow_workflow(steps=2))
    async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
        response = await client.post(
            f"{server.dedicated_url}/prompt",
            json={"prompt": sent.workflow, "client_id": h.profile.client_id, "prompt_id": sent.prompt_id},
        )
        assert response.status_code == 200
    # A crash before the POST: the server never heard of it.
    never_sent = h.new_job(slow_workflow(steps=2))
    updates = await h.backend.reconcile(store.active(h.profile.name))
    by_job = {u.job_id: u for u in updates}
    assert by_job[never_sent.id].state is JobState.FAILED
    assert by_job[never_sent.id].failure is not None
    assert by_job[never_sent.id].failure.category is FailureCategory.TRANSPORT
    assert "not accepted before comfyq stopped" in by_job[never_sent.id].failure.message
    assert by_job[sent.id].state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
    h.context.apply(updates)
    await h.backend.start()
    try:
        done = await h.finished(sent)
        assert done.state is JobState.SUCCEEDED and done.outputs
        assert store.get(never_sent.id).state is JobState.FAILED
        # Nothing was submitted twice: the server's history has exactly the one prompt.
        async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
            history = (await client.get(f"{server.dedicated_url}/history")).json()
        assert list(history) == [sent.prompt_id]
    finally:
        await h.backend.stop()


async def test_start_stop_start(harness: Harness) -> None:
    await harness.backend.stop()
    await harness.backend.start()
    done = await harness.finished(await harness.submit(slow_workflow(steps=2)))
    assert done.state is JobState.SUCCEEDED


async def test_polling_asks_the_queue_once_per_cycle_not_once_per_job(harness: Harness) -> None:
    harness.server.comfyui.step_seconds = 0.05
    jobs = [await harness.submit(slow_workflow(steps=400)) for _ in range(6)]
    await wait_until(
        lambda: [harness.store.get(j.id).state for j in jobs] == [JobState.RUNNING] + [JobState.QUEUED] * 5,
        what="one running, five queued",
    )
    requests = RequestLog(harness.backend)
    cycles_before = harness.backend.poll_cycles
    await wait_until(lambda: harness.backend.poll_cycles - cycles_before >= 10, what="ten poll cycles")
    cycles = harness.backend.poll_cycles - cycles_before
    # Every job is still in the queue: one /queue per cycle, one look at the newest /history entries (other
    # clients' jobs, external = true by default), and not a single /history/<id> request.
    assert requests.count("/history/") == 0
    assert cycles - 1 <= requests.count("/queue") <= cycles + 1
    assert cycles - 1 <= requests.count("/history") <= cycles + 1
    for job in jobs:
        await harness.backend.cancel(harness.store.get(job.id))
    for job in jobs:
        assert (await harness.finished(job)).state is JobState.CANCELLED


async def test_success_without_outputs_is_looked_at_again_then_accepted_with_a_warning(harness: Harness) -> None:
    # SaveImageWebsocket sends its images over the websocket only: the history entry has no outputs at all.
    requests = RequestLog(harness.backend)
    job = await harness.submit(fixture_workflow("ws_binary_getimagesize_saveimagewebsocket.json"))
    done = await harness.finished(job)
    assert done.state is JobState.SUCCEEDED
    assert not done.outputs
    assert done.warning  # "produced no files" (or ours: "no outputs appeared")
    # It was looked at again (in the per-cycle look at the newest /history entries, or by id) before accepted.
    looks = requests.count("/history")
    assert looks >= HISTORY_RACE_POLLS, looks


# ------------------------------------------------------------------ a submit whose answer is lost


class QueuePuts:
    """Counts what the emulated ComfyUI put on its queue per job marker: a job sent twice would show 2."""

    def __init__(self, server: SimServer) -> None:
        self.by_marker: collections.Counter[str] = collections.Counter()
        emulator = server.comfyui
        put = emulator._put

        def counting_put(item: Any) -> None:
            self.by_marker[str(item.extra_data.get(SUBMIT_MARKER_KEY))] += 1
            put(item)

        emulator._put = counting_put  # type: ignore[method-assign]


async def server_get(server: SimServer, path: str) -> Any:
    async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
        response = await client.get(f"{server.dedicated_url}{path}")
    assert response.status_code == 200
    return response.json()


async def history_ids_of(server: SimServer, job: Job) -> list[str]:
    """The ids of the server's history entries carrying this job's marker (in their `prompt` extra_data)."""
    history = await server_get(server, "/history")
    return [pid for pid, entry in history.items() if entry["prompt"][3].get(SUBMIT_MARKER_KEY) == job.id]


async def post_blocker(server: SimServer) -> str:
    """A long prompt of someone else (no client_id) that keeps the one executor busy: the next one stays pending."""
    blocker = slow_workflow(steps=10_000)  # the most KSampler takes: 100 s at 0.01 s a step
    blocker["3"]["inputs"]["seed"] = 424242  # never served from the cache
    async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
        response = await client.post(f"{server.dedicated_url}/prompt", json={"prompt": blocker})
    assert response.status_code == 200
    prompt_id = str(response.json()["prompt_id"])
    await wait_until(lambda: any(item.prompt_id == prompt_id for item in server.comfyui._running.values()),
                     what="the blocker to run")
    return prompt_id


async def post_to_server(server: SimServer, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
        assert (await client.post(f"{server.dedicated_url}{path}", json=body)).status_code == 200


@pytest.mark.parametrize("where", ["pending in /queue", "finished, in /history"])
async def test_a_timed_out_submit_the_server_took_is_adopted_and_runs_once(
    server: SimServer, store: JobStore, where: str
) -> None:
    puts = QueuePuts(server)
    # Pending: it waits behind someone else's long job. Finished: it runs in a fraction of the 2 s the client waits.
    h = Harness(server, store, make_profile(server, request_timeout=2))
    requests = RequestLog(h.backend)
    if where.startswith("pending"):
        await post_blocker(server)
    server.comfyui.stall_prompt_response_seconds = 10.0  # queued at once, answered after the client gave up
    job = h.new_job(slow_workflow(steps=2))

    result = await h.backend.submit(job)

    assert result.accepted, result.failure
    assert result.prompt_id == job.prompt_id and result.queue_index is not None
    assert requests.count("/queue") == 1  # looked up, not guessed
    if where.startswith("pending"):
        assert requests.count("/history") == 0  # found in the queue: no need to look further
        await post_to_server(server, "/interrupt", {})  # the blocker ends, ours runs
    else:
        assert requests.count(f"/history/{job.prompt_id}") == 1  # not in the queue any more: found by its id
    server.comfyui.stall_prompt_response_seconds = 0.0
    h.context.apply([JobUpdate(job.id, state=JobState.QUEUED, queue_index=result.queue_index)])
    await h.backend.start()
    try:
        done = await h.finished(job)
        assert done.state is JobState.SUCCEEDED and done.outputs, (done.failure, done.warning)
        assert puts.by_marker[job.id] == 1
        assert await history_ids_of(server, job) == [job.prompt_id]
    finally:
        await h.backend.stop()


async def test_a_dropped_submit_the_server_did_not_take_fails_as_transport(server: SimServer, store: JobStore) -> None:
    puts = QueuePuts(server)
    server.comfyui.drop_prompt_requests = 1  # the whole request is read, then the connection closed unanswered
    h = Harness(server, store, make_profile(server))
    requests = RequestLog(h.backend)
    job = h.new_job(slow_workflow(steps=2))

    result = await h.backend.submit(job)

    assert not result.accepted and result.transport_error
    assert result.failure is not None and result.failure.category is FailureCategory.TRANSPORT
    message = result.failure.message
    assert "cannot reach" in message and "neither /queue nor /history" in message, message
    assert TOKEN not in message
    # Looked up before giving up: the queue, our own prompt_id, the newest history entries.
    assert requests.count("/queue") == 1 and requests.count("/history") == 2, requests.paths
    assert not puts.by_marker
    again = h.new_job(slow_workflow(steps=2))
    assert (await h.backend.submit(again)).accepted  # the server is fine: the next submit goes through


async def test_a_submit_unanswered_while_the_server_goes_away_is_unknown_until_its_history_settles_it(
    server: SimServer, store: JobStore
) -> None:
    puts = QueuePuts(server)
    server.comfyui.stall_prompt_response_seconds = 60.0
    h = Harness(server, store, make_profile(server))
    job = h.new_job(slow_workflow(steps=2))
    sending = asyncio.create_task(h.backend.submit(job))
    await wait_until(lambda: puts.by_marker[job.id] == 1, what="the server to queue it")
    await server.stop_listening()  # the held answer is never sent, and the look-up finds nobody to ask

    result = await sending

    stored = store.get(job.id)
    assert stored.state is JobState.UNKNOWN
    assert stored.warning and "outcome unknown" in stored.warning, stored.warning
    assert "not retried automatically" in stored.warning and job.prompt_id in stored.warning
    assert TOKEN not in stored.warning
    assert result.accepted  # so the engine neither fails it nor retries it: it may run
    server.comfyui.stall_prompt_response_seconds = 0.0
    await server.start_listening()
    await h.backend.start()
    try:
        done = await wait_until(
            lambda: (j := store.get(job.id)).state is JobState.SUCCEEDED and j, what="its history entry to settle it"
        )
        assert done.outputs and done.warning is None and done.failure is None
        assert puts.by_marker[job.id] == 1
        assert await history_ids_of(server, job) == [job.prompt_id]
    finally:
        await h.backend.stop()


async def test_an_unknown_job_the_server_never_ran_stays_unknown_and_says_so(
    server: SimServer, store: JobStore
) -> None:
    puts = QueuePuts(server)
    h = Harness(server, store, make_profile(server, lost_after=0.3))
    requests = RequestLog(h.backend)
    blocker = await post_blocker(server)
    server.comfyui.stall_prompt_response_seconds = 60.0
    job = h.new_job(slow_workflow(steps=2))
    sending = asyncio.create_task(h.backend.submit(job))
    await wait_until(lambda: puts.by_marker[job.id] == 1, what="the server to queue it")
    await post_to_server(server, "/queue", {"delete": [job.prompt_id]})  # gone before it ran: never in /history
    await server.stop_listening()
    await sending
    assert store.get(job.id).state is JobState.UNKNOWN
    server.comfyui.stall_prompt_response_seconds = 0.0
    await server.start_listening()
    await h.backend.start()
    try:
        settled = await wait_until(
            lambda: (j := store.get(job.id)).warning and "most likely never arrived" in j.warning and j,
            what="the long-absence warning",
        )
        assert settled.state is JobState.UNKNOWN  # never turned into a retryable failure: it might have run
        assert settled.failure is None
        looks = requests.count(f"/history/{job.prompt_id}")
        cycles = h.backend.poll_cycles
        await wait_until(lambda: h.backend.poll_cycles >= cycles + 3, what="three more poll cycles")
        assert requests.count(f"/history/{job.prompt_id}") == looks  # no longer looked for
        assert puts.by_marker[job.id] == 1 and await history_ids_of(server, job) == []
    finally:
        await h.backend.stop()
        await post_to_server(server, "/interrupt", {"prompt_id": blocker})
