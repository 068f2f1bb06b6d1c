"""Engine logic that needs no network: write-ahead, bounded concurrency, coalescing across threads, retry rules.

The backend here is a small scripted Backend subclass (the service is not the subject); the store is the real
SQLite JobStore. Everything that talks to a service is covered in tests/integration/test_engine.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from tui.core.backends.base import Backend, BackendContext, Capabilities, SourceState, SourceStatus, SubmitResult
from tui.core.batch import SeedMode
from tui.core.config import Config, parse_config_text
from tui.core.engine import CancelNotSupported, Engine, EngineUsageError, SubmissionRequest, UnknownProfile
from tui.core.events import EngineError, Event, JobChanged, SourceStatusChanged
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow

from tests.waiting import wait_until

CONFIG = """
[profiles.dedi]
edition = "dedicated"
url = "http://127.0.0.1:9"
max_concurrent_submits = 3
retry = { max = 2, on = ["execution"] }

[profiles.api]
edition = "api"
input_url = "http://127.0.0.1:9/api/predict/svc"
token = "secret-token-value"
"""


class ScriptedBackend(Backend):
    """Accepts every job (or rejects, when told), records what it saw, never talks to a network."""

    capabilities = Capabilities(can_cancel=True, has_progress=False, has_queue_position=False)

    def __init__(self, profile, context: BackendContext) -> None:
        super().__init__(profile, context)
        self.in_flight = 0
        self.max_in_flight = 0
        self.states_seen_at_submit: list[JobState] = []
        self.submitted: list[str] = []
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.reject_with: Failure | None = None
        self.reconcile_updates: list[JobUpdate] = []
        self.reconciled: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def submit(self, job: Job) -> SubmitResult:
        stored = self.context.store.get(job.id)  # write-ahead: the row exists before any network call
        self.states_seen_at_submit.append(stored.state)
        self.started.append(job.id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        self.submitted.append(job.id)
        if self.reject_with is not None:
            return SubmitResult(accepted=False, failure=self.reject_with)
        return SubmitResult(accepted=True, prompt_id=job.prompt_id, queue_index=len(self.submitted))

    async def cancel(self, job: Job) -> None:
        self.cancelled.append(job.id)

    async def start(self) -> None:
        self.context.report_status(SourceStatus(self.profile.name, SourceState.CONNECTED))

    async def stop(self) -> None:
        pass

    async def reconcile(self, jobs: Sequence[Job]) -> list[JobUpdate]:
        self.reconciled.extend(job.id for job in jobs)
        return list(self.reconcile_updates)

    async def check_connection(self) -> tuple[bool, str]:
        return True, "ok"


class NoCancelBackend(ScriptedBackend):
    capabilities = Capabilities(can_cancel=False, has_progress=False, has_queue_position=True)


@pytest.fixture
def config() -> Config:
    return parse_config_text(CONFIG)


@pytest.fixture
def store(tmp_path: Path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    yield store
    store.close()


def make_engine(config: Config, store: JobStore, **kwargs) -> tuple[Engine, dict[str, ScriptedBackend], list[Event]]:
    backends: dict[str, ScriptedBackend] = {}

    def factory(profile, context):
        cls = NoCancelBackend if profile.name == "api" else ScriptedBackend
        backends[profile.name] = cls(profile, context)
        return backends[profile.name]

    engine = Engine(config, store, backend_factory=factory, retry_delay=lambda failure, attempt: 0.0, **kwargs)
    events: list[Event] = []
    engine.subscribe(events.append)
    return engine, backends, events


async def settle(engine: Engine) -> None:
    """Let scheduled drains run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_submit_writes_every_row_before_sending_and_bounds_concurrency(config, store) -> None:
    engine, backends, events = make_engine(config, store)
    backend = engine.backend("dedi")
    backend.gate.clear()
    request = SubmissionRequest("dedi", seed_workflow(), count=10, seed_mode=SeedMode.RANDOM)
    task = asyncio.create_task(engine.submit(request))
    for _ in range(50):
        await asyncio.sleep(0)
    # All ten rows are stored before the (blocked) first submissions return; only 3 are in flight at once.
    assert store.count() == 10
    assert backend.in_flight == 3
    backend.gate.set()
    jobs = await task
    assert backend.max_in_flight == 3
    assert all(state is JobState.SUBMITTING for state in backend.states_seen_at_submit)
    assert [job.state for job in jobs] == [JobState.QUEUED] * 10
    seeds = {job.workflow["3"]["inputs"]["seed"] for job in jobs}
    assert len(seeds) == 10  # a different seed per job
    assert len({job.prompt_id for job in jobs}) == 10
    assert all(job.client_id == config.profiles["dedi"].client_id for job in jobs)
    await settle(engine)
    changed = [event.job for event in events if isinstance(event, JobChanged)]
    assert {job.id for job in changed} == {job.id for job in jobs}
    await engine.stop()


async def test_api_jobs_get_unique_task_ids_and_params_are_applied(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    jobs = await engine.submit(SubmissionRequest("api", seed_workflow(), count=3, params={"3.steps": "7"}))
    assert len({job.task_id for job in jobs}) == 3
    assert all(job.task_id and job.task_id.startswith("comfyq-") for job in jobs)
    assert all(job.prompt_id is None for job in jobs)
    assert all(job.workflow["3"]["inputs"]["steps"] == 7 for job in jobs)
    # The params carry the --set values and each job's seed (copy 1 keeps the workflow's, the others get their own).
    assert all(job.params == {"3.steps": "7", "3.seed": job.workflow["3"]["inputs"]["seed"]} for job in jobs)
    assert jobs[0].params["3.seed"] == seed_workflow().nodes["3"]["inputs"]["seed"]
    assert len({job.params["3.seed"] for job in jobs}) == 3
    await engine.stop()



def test_a_request_is_a_snapshot_of_what_was_asked(config, store) -> None:
    # A big batch is planned on a worker thread while the caller goes on: changing its dict or list meanwhile
    # must not change the jobs.
    engine, _, _ = make_engine(config, store)
    params = {"3.steps": "7"}
    request = SubmissionRequest("api", seed_workflow(), count=2, params=params)
    params["3.steps"] = "99"
    jobs = engine.plan_submission(request)
    assert [job.workflow["3"]["inputs"]["steps"] for job in jobs] == [7, 7]
    assert store.count() == 0  # planned only: nothing stored
    assert (SeedMode.from_flags(), SeedMode.from_flags(same_seed=True)) == (SeedMode.VARY, SeedMode.SAME)
    assert SeedMode.from_flags(random_seed=True, same_seed=True) is SeedMode.RANDOM  # as the engine always chose

async def test_a_batch_carries_the_callers_graph_and_never_edits_it(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    workflow = seed_workflow()
    original = workflow.to_dict()
    same = await engine.submit(SubmissionRequest("api", workflow, count=4, seed_mode=SeedMode.SAME))
    seeded = await engine.submit(SubmissionRequest("api", workflow, count=4, seed_mode=SeedMode.RANDOM))
    assert workflow.nodes == original  # the caller's graph is untouched
    assert all(job.workflow == original and job.workflow is not workflow.nodes for job in same)
    assert all(store.get(job.id).workflow == original for job in same)
    seeds = [job.workflow["3"]["inputs"]["seed"] for job in seeded]
    assert len(set(seeds)) == 4 and original["3"]["inputs"]["seed"] not in seeds
    for job in seeded:  # only the seed differs, and each job's stored graph is the one it was sent with
        assert {**job.workflow, "3": original["3"]} == original
        assert {**job.workflow["3"]["inputs"], "seed": original["3"]["inputs"]["seed"]} == original["3"]["inputs"]
        assert store.get(job.id).workflow == job.workflow
    await engine.stop()


async def test_answers_are_stored_as_they_come_and_each_job_gets_its_own(config, store) -> None:
    engine, backends, _ = make_engine(config, store)
    jobs = await engine.submit(SubmissionRequest("dedi", seed_workflow(), count=20))
    assert [job.state for job in jobs] == [JobState.QUEUED] * 20
    # Each job came back with its own answer (the backend numbers its answers), stored, whatever the batching.
    assert sorted(job.queue_index for job in jobs) == list(range(1, 21))
    assert all(store.get(job.id).queue_index == job.queue_index for job in jobs)
    assert engine._sender.answers.settled  # nothing left waiting to be stored
    await engine.stop()


async def test_a_store_failure_while_storing_answers_fails_the_submit_and_keeps_the_rows(config, store) -> None:
    from tui.core.store import StoreError

    engine, backends, _ = make_engine(config, store)
    engine.backend("dedi")

    def broken(updates):  # noqa: ANN001, ANN202
        raise StoreError("disk full")

    store.apply_many = broken  # the write-ahead rows are in; storing the answers fails
    with pytest.raises(StoreError, match="disk full"):
        await asyncio.wait_for(engine.submit(SubmissionRequest("dedi", seed_workflow(), count=5)), 10)
    # The batch's other sends finish in the background, and fail to store the same way.
    for _ in range(1000):
        if engine._sender.answers.settled:
            break
        await asyncio.sleep(0.001)
    # The jobs stay `submitting` (a reconcile looks them up by their own ids); nothing was lost or sent twice.
    assert store.count() == 5
    assert {job.state for job in store.active("dedi")} == {JobState.SUBMITTING}
    sent = backends["dedi"].submitted
    assert len(sent) == len(set(sent)) >= 3
    del store.apply_many
    await engine.stop()


async def test_rejected_submission_fails_with_the_backend_failure(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    engine.backend("dedi").reject_with = Failure(FailureCategory.REJECTED, "node 4 CheckpointLoaderSimple: bad")
    (job,) = await engine.submit(SubmissionRequest("dedi", seed_workflow()))
    assert job.state is JobState.FAILED
    assert job.failure.message == "node 4 CheckpointLoaderSimple: bad"
    assert store.get(job.id).state is JobState.FAILED
    await engine.stop()


async def test_unknown_profile_and_bad_count_are_usage_errors(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    with pytest.raises(UnknownProfile, match="nope"):
        await engine.submit(SubmissionRequest("nope", seed_workflow()))
    with pytest.raises(EngineUsageError):
        await engine.submit(SubmissionRequest("dedi", seed_workflow(), count=0))
    assert store.count() == 0


async def test_publishes_from_other_threads_are_coalesced_and_never_regress(config, store) -> None:
    engine, _, events = make_engine(config, store)
    (job,) = await engine.submit(SubmissionRequest("dedi", seed_workflow()))
    await settle(engine)
    events.clear()
    context = engine._contexts["dedi"]
    running = store.apply(JobUpdate(job.id, state=JobState.RUNNING))
    done = store.apply(JobUpdate(job.id, state=JobState.SUCCEEDED))

    def burst() -> None:
        # A newer state published first, then a stale one from a slower path: the newer one must win.
        context.publish([done])
        context.publish([running])

    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    await settle(engine)
    changed = [event.job for event in events if isinstance(event, JobChanged)]
    assert [j.state for j in changed] == [JobState.SUCCEEDED]  # one event for the burst, the newest state
    await engine.stop()


async def test_source_status_becomes_events_and_errors_are_reported_once(config, store) -> None:
    engine, _, events = make_engine(config, store)
    await engine.start(["dedi"])
    await settle(engine)
    assert engine.source_statuses["dedi"].state is SourceState.CONNECTED
    context = engine._contexts["dedi"]
    for _ in range(3):
        context.report_status(SourceStatus("dedi", SourceState.RECONNECTING, error="connection refused"))
        await settle(engine)
    statuses = [event for event in events if isinstance(event, SourceStatusChanged)]
    errors = [event for event in events if isinstance(event, EngineError)]
    assert len(statuses) == 4
    assert [error.message for error in errors] == ["connection refused"]
    await engine.stop()


async def test_resubmit_links_parent_and_counts_attempts(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    (first,) = await engine.submit(SubmissionRequest("dedi", seed_workflow()))
    (second,) = await engine.resubmit([first.id[:6]])
    (third,) = await engine.resubmit([second.id], new_seed=True, profile="api")
    assert (second.parent_id, second.attempt) == (first.id, 2)
    assert second.workflow == first.workflow
    assert (third.parent_id, third.attempt, third.profile) == (second.id, 3, "api")
    assert third.task_id is not None and third.prompt_id is None
    assert third.workflow["3"]["inputs"]["seed"] != second.workflow["3"]["inputs"]["seed"]
    await engine.stop()


async def test_automatic_retry_follows_policy_and_wait_follows_the_chain(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    await engine.start(["dedi"])
    (job,) = await engine.submit(SubmissionRequest("dedi", seed_workflow()))
    context = engine._contexts["dedi"]
    execution = Failure(FailureCategory.EXECUTION, "CUDA out of memory", node_id="3", class_type="KSampler")

    async def fail_latest(job_id: str) -> None:
        context.apply([JobUpdate(job_id, state=JobState.FAILED, failure=execution)])
        for _ in range(200):
            await asyncio.sleep(0)
            if engine.retry_child(job_id) is not None:
                return

    await fail_latest(job.id)
    child_id = engine.retry_child(job.id)
    assert child_id is not None
    child = store.get(child_id)
    assert (child.parent_id, child.attempt) == (job.id, 2)
    await fail_latest(child_id)
    grandchild_id = engine.retry_child(child_id)
    assert grandchild_id is not None and store.get(grandchild_id).attempt == 3
    await fail_latest(grandchild_id)
    for _ in range(20):
        await asyncio.sleep(0)
    assert engine.retry_child(grandchild_id) is None  # attempt 3 > max 2: no more retries
    (final,) = await engine.wait([job.id], timeout=5)
    assert final.id == grandchild_id and final.state is JobState.FAILED
    await engine.stop()


async def test_no_retry_for_categories_not_in_policy(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    (job,) = await engine.submit(SubmissionRequest("dedi", seed_workflow()))
    engine._contexts["dedi"].apply(
        [JobUpdate(job.id, state=JobState.FAILED, failure=Failure(FailureCategory.REJECTED, "bad"))]
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert engine.retry_child(job.id) is None
    assert store.children(job.id) == []
    await engine.stop()


async def test_cancel_submitting_is_local_and_unsupported_cancel_is_explained(config, store) -> None:
    engine, backends, _ = make_engine(config, store)
    backend = engine.backend("dedi")
    backend.gate.clear()
    task = asyncio.create_task(engine.submit(SubmissionRequest("dedi", seed_workflow(), count=4)))
    for _ in range(50):
        await asyncio.sleep(0)
    assert backend.in_flight == 3
    # The fourth job waits for a submission slot: cancelling it is local and it is never sent.
    (queued_behind,) = [job for job in store.active("dedi") if job.id not in backend.started]
    cancelled = await engine.cancel(queued_behind.id)
    assert cancelled.state is JobState.CANCELLED
    backend.gate.set()
    jobs = await task
    assert queued_behind.id not in backend.submitted
    assert {job.id: job.state for job in jobs}[queued_behind.id] is JobState.CANCELLED

    (api_job,) = await engine.submit(SubmissionRequest("api", seed_workflow()))
    with pytest.raises(CancelNotSupported, match="cannot cancel"):
        await engine.cancel(api_job.id)
    done = next(job for job in jobs if job.state is JobState.QUEUED)
    engine._contexts["dedi"].apply([JobUpdate(done.id, state=JobState.SUCCEEDED)])
    with pytest.raises(EngineUsageError, match="already ended"):
        await engine.cancel(done.id)
    await engine.stop()


async def test_start_reconciles_unfinished_rows_before_following(config, store) -> None:
    engine, backends, _ = make_engine(config, store)
    jobs = await engine.submit(SubmissionRequest("dedi", seed_workflow(), count=2))
    await engine.stop()
    # A new engine (a new process) finds the two queued rows and asks the backend about them.
    engine2, backends2, _ = make_engine(config, store)
    backend = engine2.backend("dedi")
    backend.reconcile_updates = [JobUpdate(jobs[0].id, state=JobState.SUCCEEDED)]
    await engine2.start(["dedi"])
    assert sorted(backend.reconciled) == sorted(job.id for job in jobs)
    assert store.get(jobs[0].id).state is JobState.SUCCEEDED
    assert backend.submitted == []  # nothing was sent again
    await engine2.stop()


async def test_a_start_while_another_process_sends_leaves_its_jobs_in_flight_alone(config, store, tmp_path) -> None:
    # Process A (its own store connection, as another comfyq process has) is sending; its jobs wait at the service.
    store_a = JobStore(tmp_path / "jobs.sqlite3")
    sender, backends_a, _ = make_engine(config, store_a)
    backend_a = sender.backend("dedi")
    backend_a.gate.clear()
    sending = asyncio.create_task(sender.submit(SubmissionRequest("dedi", seed_workflow(), count=5)))
    for _ in range(50):
        await asyncio.sleep(0)
    assert {job.state for job in store.active("dedi")} == {JobState.SUBMITTING}
    # Process B starts meanwhile (a TUI, `comfyq watch`): A's rows are not a crash's leftovers, so B does not judge
    # them — a reconcile of a `submitting` row found nowhere would fail a job that is about to be accepted.
    watcher, backends_b, _ = make_engine(config, store)
    backend_b = watcher.backend("dedi")
    backend_b.reconcile_updates = []
    await watcher.start(["dedi"])
    assert backend_b.reconciled == []
    backend_a.gate.set()
    jobs = await sending
    assert {store.get(job.id).state for job in jobs} == {JobState.QUEUED}
    # Once nobody sends, B's next look covers them (queued now), and a row a killed sender left is judged at once.
    await watcher.reconcile()
    assert sorted(backend_b.reconciled) == sorted(job.id for job in jobs)
    await sender.stop()
    store_a.close()
    await watcher.stop()


async def test_rows_left_submitting_by_a_dead_process_are_reconciled_at_once(config, store) -> None:
    from tui.core.jobs import Edition, new_job_id

    orphan = Job(id=new_job_id(), profile="dedi", edition=Edition.DEDICATED, workflow=seed_workflow().to_dict(),
                 state=JobState.SUBMITTING, timestamps={}, prompt_id="p-1")
    store.add(orphan)  # a process stored it and was killed before sending: no one holds the sending lock
    engine, backends, _ = make_engine(config, store)
    backend = engine.backend("dedi")
    await engine.start(["dedi"])
    assert backend.reconciled == [orphan.id]
    await engine.stop()


async def test_wait_times_out_with_active_jobs(config, store) -> None:
    engine, _, _ = make_engine(config, store)
    (job,) = await engine.submit(SubmissionRequest("dedi", seed_workflow()))
    (still,) = await engine.wait([job.id], timeout=0.05)
    assert still.state is JobState.QUEUED
    await engine.stop()


def test_job_json_shape_has_every_documented_field(config) -> None:
    import json

    from tui.core.jobs import Edition, Output, Progress
    from tui.core.render import job_to_dict, job_to_json

    import dataclasses

    config.profiles["api"] = dataclasses.replace(config.profiles["api"], oss_bucket_path="oss://bucket/prefix")
    job = Job(
        id="a" * 32,
        profile="api",
        edition=Edition.API,
        workflow={},
        state=JobState.FAILED,
        task_id="comfyq-x",
        timestamps={"submitting": 0.0, "running": 1.5, "failed": 2.25},
        outputs=(Output("9", "output", "sub", "a.png"), Output("10", "temp", "", "b.png")),
        failure=Failure(FailureCategory.EXECUTION, "boom", node_id="3", class_type="KSampler"),
        parent_id="b" * 32,
        attempt=2,
        progress=Progress("3", "KSampler", 2, 4),
    )
    data = job_to_dict(job, config.profiles["api"])
    assert set(data) >= {
        "id", "profile", "edition", "state", "failure", "task_id", "prompt_id", "queue_index", "sink_index",
        "request_id", "submitted_at", "started_at", "finished_at", "progress", "outputs", "parent_id", "attempt",
    }
    assert data["failure"] == {"category": "execution", "message": "boom", "node_id": "3", "class_type": "KSampler"}
    assert (data["submitted_at"], data["started_at"], data["finished_at"]) == (
        "1970-01-01T00:00:00.000+00:00", "1970-01-01T00:00:01.500+00:00", "1970-01-01T00:00:02.250+00:00"
    )
    assert data["outputs"] == [
        {"node_id": "9", "type": "output", "subfolder": "sub", "filename": "a.png",
         "oss_path": "oss://bucket/prefix/output/sub/a.png"},
        {"node_id": "10", "type": "temp", "subfolder": "", "filename": "b.png", "oss_path": None},
    ]
    assert (data["parent_id"], data["attempt"], data["edition"], data["state"]) == ("b" * 32, 2, "api", "failed")
    assert json.loads(job_to_json(job, config.profiles)) == data
    assert job_to_dict(job, None)["outputs"][0]["oss_path"] is None  # profile no longer configured


async def test_reload_config_rebuilds_changed_profiles_and_starts_new_ones(config, store) -> None:
    engine, backends, events = make_engine(config, store)
    await engine.start()
    old_dedi, old_api = engine.backend("dedi"), engine.backend("api")
    edited = parse_config_text(CONFIG.replace("max_concurrent_submits = 3", "max_concurrent_submits = 5") + """
[profiles.extra]
edition = "dedicated"
url = "http://127.0.0.1:9"
""")
    await engine.reload_config(edited)
    assert engine.backend("dedi") is not old_dedi  # changed: rebuilt with the new profile
    assert engine.backend("dedi").profile.max_concurrent_submits == 5
    assert engine.backend("api") is old_api  # unchanged: untouched
    await settle(engine)
    assert engine.source_statuses["extra"].state is SourceState.CONNECTED  # new: started
    without_api = parse_config_text(CONFIG.split("[profiles.api]")[0])
    await engine.reload_config(without_api)
    await settle(engine)
    assert "api" not in engine.source_statuses
    with pytest.raises(UnknownProfile):
        engine.backend("api")
    await engine.stop()


async def test_a_big_submit_runs_a_bounded_number_of_tasks(config, store) -> None:
    """Issue 11 item 5: not one task per job (1,000 jobs made 1,000 tasks waiting on 3 slots)."""
    engine, backends, events = make_engine(config, store)
    backend = engine.backend("dedi")
    backend.gate.clear()
    before = len(asyncio.all_tasks())
    task = asyncio.create_task(engine.submit(SubmissionRequest("dedi", seed_workflow(), count=1000)))
    # A big batch is planned and stored on a worker thread (issue 14), then sent: wait for the three slots to fill.
    await wait_until(lambda: store.count() == 1000 and backend.in_flight == 3, 10, "1,000 stored, three in flight")
    assert store.count() == 1000 and backend.in_flight == 3
    assert len(asyncio.all_tasks()) - before <= 1 + 2 * 3 + 1, "one task per job"
    backend.gate.set()
    jobs = await task
    assert len(jobs) == 1000 and all(job.state is JobState.QUEUED for job in jobs)
    assert [job.id for job in jobs] == [job.id for job in sorted(jobs, key=lambda job: job.submitted_at or 0)]
