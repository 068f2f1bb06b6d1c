"""EasQueueBackend against the EAS queue emulator over loopback: httpx for the input queue, the SDK's QueueClient
(URL, headers, codec, commit) + websocket-client for the sink watch.

The engine's side (publish, report_status) is a small recorder; the store is a real JobStore in tmp_path. Paths:
success, batch, cached, validation failure, execution failure, lost, wrong token, server down and back, sink
redelivery after a watcher restart, external results, queue positions, reconcile of `submitting` rows.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tui.core.backends.base import SourceState
from tui.core.jobs import FailureCategory, JobState
from tui.core.store import JobStore
from tui.sim.server import SimServer

from tests.integration.backend_helpers import (
    EAS_SERVICE,
    EAS_TOKEN,
    SimServerFactory,
    fixture_workflow,
    missing_checkpoint_workflow,
    put_results,
    slow_workflow,
    window_profile,
)
from tests.integration.backend_helpers import EasHarness as Harness
from tests.integration.backend_helpers import eas_profile as make_profile
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

TOKEN = EAS_TOKEN
SERVICE = EAS_SERVICE


@pytest.fixture
async def server(sim_servers: SimServerFactory) -> SimServer:
    return await sim_servers(token=TOKEN, instances=2)


@pytest.fixture
async def harness(server: SimServer, store: JobStore) -> AsyncIterator[Harness]:
    async with Harness(server, store, make_profile(server)).started() as h:
        yield h


async def test_capabilities_and_connection(harness: Harness) -> None:
    caps = type(harness.backend).capabilities
    assert (caps.can_cancel, caps.has_progress, caps.has_queue_position) == (True, False, True)
    assert caps.can_cancel_running is False  # only a task still waiting in the input queue can be withdrawn
    ok, message = await harness.backend.check_connection()
    assert ok, message


async def test_a_waiting_task_is_withdrawn_and_never_reaches_an_instance_a_taken_one_is_refused(
    tmp_path: Path, store: JobStore
) -> None:
    from tui.core.backends import BackendError

    sim = SimServer(token=TOKEN, step_seconds=0.01, instances=1, output_dir=tmp_path / "out", seed=5)
    await sim.start()
    handled: list[str] = []  # the task_id of every item an instance ran
    for worker in sim.pools[SERVICE].workers:
        original = worker.handler.handle

        async def recording(item: Any, original: Any = original) -> Any:
            handled.append(dict(item.tags).get("task_id", ""))
            return await original(item)

        worker.handler.handle = recording  # type: ignore[method-assign]
    h = Harness(sim, store, make_profile(sim))
    await h.backend.start()
    try:
        running = await h.submit(slow_workflow(steps=150))
        waiting = await h.submit(slow_workflow(steps=2))
        await wait_until(lambda: store.get(running.id).state is JobState.RUNNING, what="the first one taken")
        await wait_until(lambda: store.get(waiting.id).queue_position == 0, what="the second one waiting")
        await h.backend.cancel(store.get(waiting.id))
        cancelled = store.get(waiting.id)
        assert cancelled.state is JobState.CANCELLED
        assert cancelled.failure is not None and "removed from the input queue" in cancelled.failure.message
        with pytest.raises(BackendError, match="cannot interrupt"):
            await h.backend.cancel(store.get(running.id))
        assert (await h.finished(running, timeout=30)).state is JobState.SUCCEEDED
        after = await h.submit(slow_workflow(steps=1))  # the instance takes the next one: ours is not there
        assert (await h.finished(after, timeout=30)).state is JobState.SUCCEEDED
        assert waiting.task_id not in handled and running.task_id in handled and after.task_id in handled
        assert store.get(waiting.id).state is JobState.CANCELLED
    finally:
        await h.backend.stop()
        await sim.stop()


async def test_success_is_stored_then_committed(harness: Harness) -> None:
    job = await harness.submit(slow_workflow(steps=3))
    done = await harness.finished(job)
    assert done.state is JobState.SUCCEEDED, (done.failure, done.warning, done.raw_result)
    assert done.outputs and all(o.filename for o in done.outputs)
    assert done.sink_index is not None
    await wait_until(lambda: harness.sink_length() == 0, what="the sink to be committed empty")
    assert harness.backend.watcher is not None and done.sink_index in harness.backend.watcher.committed
    status = await wait_until(
        lambda: (s := harness.recorder.last_status()) and s.state is SourceState.CONNECTED and s, what="connected"
    )
    assert status.error is None
    # Service health from the input queue's attributes: its consumers are the two service instances.
    assert status.consumers == 2 and status.queue_length is not None


async def test_batch_and_cached(harness: Harness) -> None:
    batch = await harness.finished(await harness.submit(fixture_workflow("batch4_save_plus_preview.json")))
    assert batch.state is JobState.SUCCEEDED
    kinds = sorted(o.type for o in batch.outputs)
    assert kinds.count("output") == 4 and kinds.count("temp") == 4, kinds
    workflow = fixture_workflow("single_emptyimage_blur_scale_save.json")
    first = await harness.finished(await harness.submit(workflow))
    # Two instances, round-robin: at least one rerun lands on the instance that ran it first, fully cached (its
    # sink data is then only the outputs object, with no `executed` events).
    again = [await harness.finished(await harness.submit(workflow)) for _ in range(3)]
    assert all(done.state is JobState.SUCCEEDED and done.outputs for done in again)
    cached = [done for done in again if [o.filename for o in done.outputs] == [o.filename for o in first.outputs]]
    assert cached, [done.outputs for done in again]
    assert any(len(json.loads(done.raw_result or "[]")) == 1 for done in cached)


async def test_many_jobs_are_committed_in_batches(harness: Harness) -> None:
    jobs = [await harness.submit(slow_workflow(steps=1)) for _ in range(12)]
    for job in jobs:
        assert (await harness.finished(job)).state is JobState.SUCCEEDED
    await wait_until(lambda: harness.sink_length() == 0, what="sink empty")
    watcher = harness.backend.watcher
    assert watcher is not None
    assert sorted(watcher.committed) == sorted({harness.store.get(j.id).sink_index for j in jobs})


async def test_validation_failure_arrives_on_the_sink(harness: Harness) -> None:
    job = await harness.submit(missing_checkpoint_workflow())
    done = await harness.finished(job)
    assert done.state is JobState.FAILED
    assert done.failure is not None and done.failure.category is FailureCategory.REJECTED
    assert any(e.class_type == "CheckpointLoaderSimple" for e in done.failure.node_errors), done.failure
    assert "node 4" in done.failure.message and "no_such_model_v1.safetensors" in done.failure.message
    await wait_until(lambda: harness.sink_length() == 0, what="sink committed")


async def test_execution_failure(tmp_path: Path, store: JobStore) -> None:
    sim = SimServer(token=TOKEN, step_seconds=0.01, fail_rate=1.0, output_dir=tmp_path / "out", seed=3)
    await sim.start()
    h = Harness(sim, store, make_profile(sim))
    await h.backend.start()
    try:
        done = await h.finished(await h.submit(slow_workflow(steps=3)))
        assert done.state is JobState.FAILED
        assert done.failure is not None and done.failure.category is FailureCategory.EXECUTION
        assert done.failure.message
    finally:
        await h.backend.stop()
        await sim.stop()


async def test_external_result_is_stored_not_dropped(harness: Harness) -> None:
    outputs = {"9": {"images": [{"filename": "someone_else_00001_.png", "subfolder": "", "type": "output"}]}}
    harness.server.queues.sink_queue(SERVICE).put(json.dumps([outputs]).encode(), {"task_id": "not-ours-42"})
    external = await wait_until(lambda: harness.store.by_task_id(harness.profile.name, "not-ours-42"), what="external")
    assert external.external
    assert external.state is JobState.SUCCEEDED
    assert [o.filename for o in external.outputs] == ["someone_else_00001_.png"]
    await wait_until(lambda: harness.sink_length() == 0, what="sink committed")


async def test_a_burst_is_stored_in_batches_and_nothing_is_committed_before_it_is_stored(
    server: SimServer, store: JobStore
) -> None:
    h = Harness(server, store, window_profile(server, 64))
    committed_unstored: list[int] = []
    calls: list[int] = []

    def checking_commit(queue: Any, indexes: list[int]) -> Any:
        # On the committer's thread: every index must already be in the store (durable: another thread reads it).
        committed_unstored.extend(i for i in indexes if store.by_sink_index("wide", i) is None)
        calls.append(len(indexes))
        return queue.commit(indexes)

    indexes = put_results(server, 0, 300)
    await h.backend.start()
    try:
        assert h.backend.watcher is not None
        h.backend.watcher.commit_fn = checking_commit
        await wait_until(lambda: h.sink_length() == 0, what="all 300 results committed")
        assert committed_unstored == []
        assert sorted(h.backend.watcher.committed) == indexes  # each once
        assert sum(calls) == 300 and len(calls) < 300  # many indexes per commit call
        stored = [store.by_sink_index("wide", i) for i in indexes]
        assert all(j is not None and j.external and j.state is JobState.SUCCEEDED for j in stored)
        assert len({j.id for j in stored if j is not None}) == 300
    finally:
        await h.backend.stop()


async def test_results_are_stored_while_a_commit_is_still_travelling(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, window_profile(server, 64))
    release = threading.Event()
    first_call = threading.Event()
    held: list[int] = []

    def slow_first_commit(queue: Any, indexes: list[int]) -> Any:
        if not first_call.is_set():
            held.extend(indexes)
            first_call.set()
            assert release.wait(20), "the test never released the first commit"
        return queue.commit(indexes)

    await h.backend.start()
    try:
        assert h.backend.watcher is not None
        h.backend.watcher.commit_fn = slow_first_commit
        put_results(server, 0, 5)
        await wait_until(first_call.is_set, what="the first commit to start")
        later = put_results(server, 5, 5)
        # The first commit is held; the next results are stored all the same (the window has room), and the
        # held commit's items are still in the sink: only a commit that went through removes them.
        await wait_until(lambda: all(store.by_sink_index("wide", i) for i in later), what="later results stored")
        sink = server.queues.sink_queue(SERVICE)
        assert held and all(sink.item(i) is not None for i in held)
        assert not set(held) & set(h.backend.watcher.committed)
        release.set()
        await wait_until(lambda: h.sink_length() == 0, what="everything committed")
    finally:
        release.set()
        await h.backend.stop()


async def test_sink_redelivery_after_a_watcher_restart(harness: Harness) -> None:
    watcher = harness.backend.watcher
    assert watcher is not None

    def crash_before_commit(queue: Any, indexes: list[int]) -> None:
        raise RuntimeError("simulated crash between store and commit")

    watcher.commit_fn = crash_before_commit
    job = await harness.submit(slow_workflow(steps=2))
    done = await harness.finished(job)
    assert done.state is JobState.SUCCEEDED
    await harness.backend.stop()
    assert harness.sink_length() == 1  # stored, never committed
    total_before = harness.store.total()

    await harness.backend.start()  # a new watcher with the real commit
    await wait_until(lambda: harness.sink_length() == 0, what="the redelivered item to be committed")
    assert harness.store.total() == total_before  # stored once: the redelivery changed nothing
    again = harness.store.get(job.id)
    assert again.state is JobState.SUCCEEDED and again.sink_index == done.sink_index
    assert harness.backend.watcher is not None and done.sink_index in harness.backend.watcher.committed


async def test_queue_positions(tmp_path: Path, store: JobStore) -> None:
    sim = SimServer(token=TOKEN, step_seconds=0.05, instances=1, output_dir=tmp_path / "out", seed=4)
    await sim.start()
    h = Harness(sim, store, make_profile(sim))
    await h.backend.start()
    try:
        jobs = [await h.submit(slow_workflow(steps=30)) for _ in range(3)]
        await wait_until(lambda: h.store.get(jobs[0].id).state is JobState.RUNNING, what="first running")
        await wait_until(
            lambda: [h.store.get(j.id).queue_position for j in jobs[1:]] == [0, 1], what="positions 0 and 1"
        )
        for job in jobs:
            assert (await h.finished(job, timeout=30)).state is JobState.SUCCEEDED
    finally:
        await h.backend.stop()
        await sim.stop()


async def test_lost_when_the_queue_never_had_it(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server, lost_after=0.3))
    ghost = h.new_job(slow_workflow(steps=1), state=JobState.QUEUED, queue_index=987654)
    await h.backend.start()
    try:
        done = await h.finished(ghost)
        assert done.state is JobState.LOST
        assert done.warning
        assert done.failure is not None and done.failure.category is FailureCategory.LOST
    finally:
        await h.backend.stop()


async def test_wrong_token(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server, token="wrong-token-abcdef"))
    result = await h.backend.submit(h.new_job(slow_workflow(steps=1)))
    assert not result.accepted and not result.transport_error
    assert result.failure is not None and result.failure.category is FailureCategory.AUTH
    assert "wrong-token-abcdef" not in result.failure.message
    await h.backend.start()
    try:
        status = await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.ERROR and s, what="auth error"
        )
        assert status.error and "unauthorized" in status.error and "wrong-token" not in status.error
        await asyncio.sleep(1.5)  # the watcher must back off, not spin on the 401
        assert h.backend.watcher is not None and h.backend.watcher.connection_attempts <= 3
    finally:
        await h.backend.stop()


async def test_server_down_then_back(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server))
    await h.backend.start()
    try:
        await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.CONNECTED, what="connected"
        )
        watcher = h.backend.watcher
        assert watcher is not None
        await server.stop()  # down: connections dropped, port closed
        await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.RECONNECTING, what="reconnecting"
        )
        before = watcher.connection_attempts
        await asyncio.sleep(2.0)
        assert watcher.connection_attempts - before <= 4  # backoff, never a tight loop
        await server.start()  # back on the same port
        await wait_until(
            lambda: (s := h.recorder.last_status()) and s.state is SourceState.CONNECTED, timeout=40, what="back"
        )
        done = await h.finished(await h.submit(slow_workflow(steps=2)))
        assert done.state is JobState.SUCCEEDED
    finally:
        await h.backend.stop()


async def test_reconcile_submitting_rows(tmp_path: Path, store: JobStore) -> None:
    sim = SimServer(token=TOKEN, step_seconds=0.05, instances=1, output_dir=tmp_path / "out", seed=5)
    await sim.start()
    h = Harness(sim, store, make_profile(sim, lost_after=0.5))
    try:
        blocker = await h.submit(slow_workflow(steps=20))  # keeps the single instance busy
        # A crash right after the POST: the row is `submitting`, the input queue has the item.
        sent = h.new_job(slow_workflow(steps=2))
        async with httpx.AsyncClient(headers={"Authorization": TOKEN}) as client:
            response = await client.post(
                f"{sim.api_input_url}/api_prompt", params={"task_id": sent.task_id}, content=json.dumps(sent.workflow)
            )
            assert response.status_code == 200
        index = int(response.text)
        # A crash before the POST: nobody has it.
        never_sent = h.new_job(slow_workflow(steps=2))
        updates = await h.backend.reconcile(store.active(h.profile.name))
        h.context.apply(updates)
        assert store.get(sent.id).queue_index == index
        assert store.get(sent.id).state is JobState.QUEUED
        assert store.get(never_sent.id).state is JobState.SUBMITTING  # not resubmitted, not failed yet
        await h.backend.start()
        assert (await h.finished(sent, timeout=30)).state is JobState.SUCCEEDED
        assert (await h.finished(blocker, timeout=30)).state is JobState.SUCCEEDED
        lost = await h.finished(never_sent)
        assert lost.state is JobState.LOST
        assert lost.warning and "resubmit" in lost.warning
        # Nothing was submitted twice: the input queue never saw the never-sent task.
        assert not any(i.tags.get("task_id") == never_sent.task_id for i in sim.queues.input_queue(SERVICE).ordered())
    finally:
        await h.backend.stop()
        await sim.stop()


async def test_stop_ends_the_watcher_thread_and_start_again_works(harness: Harness) -> None:
    first = harness.backend.watcher
    assert first is not None and first.running
    await harness.backend.stop()
    assert not first.running
    assert harness.recorder.last_status() is not None and harness.recorder.last_status().state is SourceState.STOPPED
    await harness.backend.start()
    second = harness.backend.watcher
    assert second is not None and second is not first and second.running
    done = await harness.finished(await harness.submit(slow_workflow(steps=2)))
    assert done.state is JobState.SUCCEEDED
    await harness.backend.stop()
    await harness.backend.start()  # the fixture stops it again


async def test_results_waiting_on_the_sink_are_stored_and_committed_in_batches(
    server: SimServer, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eas_prediction import QueueClient

    h = Harness(server, store, make_profile(server))  # the default window (64): all five come in one go
    jobs = [await h.submit(slow_workflow(steps=1)) for _ in range(5)]
    await wait_until(lambda: h.sink_length() == 5, what="five results waiting on the sink")
    commits: list[list[int]] = []
    stored: list[int] = []
    real_commit = QueueClient.commit
    real_upsert = store.upsert_sink_results

    def recording_commit(self: QueueClient, index: Any) -> Any:
        commits.append(list(index))
        return real_commit(self, index)

    def recording_upsert(results: Any) -> Any:
        stored.append(len(results))
        return real_upsert(results)

    monkeypatch.setattr(QueueClient, "commit", recording_commit)
    monkeypatch.setattr(store, "upsert_sink_results", recording_upsert)
    await h.backend.start()
    try:
        for job in jobs:
            assert (await h.finished(job)).state is JobState.SUCCEEDED
        await wait_until(lambda: h.sink_length() == 0, what="sink committed")
        assert sorted(i for batch in commits for i in batch) == sorted(store.get(j.id).sink_index for j in jobs)
        assert len(commits) < 5 and max(len(batch) for batch in commits) > 1, commits  # batched, not one by one
        assert len(stored) == len(commits)  # one store transaction per committed batch
    finally:
        await h.backend.stop()


async def test_the_queue_length_is_read_again_when_a_job_leaves_it(harness: Harness) -> None:
    """`queue N` (the input queue's length, read every HEALTH_INTERVAL) is read again when the profile's jobs in
    flight change — a job sent, a job finished — instead of saying "queue 1" for up to 10 s after the last one ended."""
    await wait_until(lambda: (s := harness.recorder.last_status()) and s.queue_length == 0, what="queue 0 at start")
    harness.backend.health_interval = 3600.0  # from now on only a change of the jobs in flight may read it
    job = await harness.submit(slow_workflow(steps=600))  # about 3 s in: the length is read while it is there
    await wait_until(lambda: harness.recorder.last_status().queue_length == 1, what="queue 1 once the job is in")
    assert (await harness.finished(job)).state is JobState.SUCCEEDED
    await wait_until(lambda: harness.recorder.last_status().queue_length == 0, timeout=3.0,
                     what=lambda: f"queue 0 after it ended (says {harness.recorder.last_status().queue_length})")
