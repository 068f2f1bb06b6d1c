"""The durable job store on real SQLite files: write-ahead durability (also across kill -9), idempotent sink
results, look-ups, filters, counts, attempt chains, external jobs, file mode, schema migrations, index use at 100k
jobs (by query plan, never by timing) and thread safety."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tui.core.jobs import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    Edition,
    Failure,
    FailureCategory,
    Job,
    JobState,
    JobUpdate,
    Output,
    Progress,
    new_job_id,
)
from tui.core.store import sink_ledger
from tui.core.store import (
    MIGRATIONS,
    ORDERS,
    RAW_RESULT_LIMIT,
    SCHEMA_VERSION,
    ActiveJob,
    AmbiguousJobId,
    JobFilter,
    JobNotFound,
    JobStore,
    SinkResult,
    StoreError,
    job_search_text,
)

S = JobState
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "jobs.sqlite3"


@pytest.fixture
def store(store_path: Path):
    with JobStore(store_path) as opened:
        yield opened


def job(
    job_id: str | None = None,
    *,
    profile: str = "local",
    state: JobState = S.SUBMITTING,
    at: float = 1_000.0,
    edition: Edition = Edition.DEDICATED,
    **fields: object,
) -> Job:
    stamps = {"submitting": at}
    if state is not S.SUBMITTING:
        stamps[state.value] = at + 1
    return Job(
        id=job_id or new_job_id(),
        profile=profile,
        edition=edition,
        workflow={"3": {"class_type": "KSampler", "inputs": {"seed": 1}}},
        state=state,
        timestamps=stamps,
        **fields,  # type: ignore[arg-type]
    )


def png(name: str, subfolder: str = "") -> Output:
    return Output("9", "output", subfolder, name)


# ----- write-ahead and durability ----------------------------------------------------------------------------------


def test_add_stores_before_anything_else_and_survives_reopening(store_path: Path) -> None:
    first = Job(id=new_job_id(), profile="local", edition=Edition.DEDICATED, workflow={"1": {"inputs": {}}},
                prompt_id="p-1")
    with JobStore(store_path) as store:
        returned = store.add(first)
        assert returned is first
        assert first.submitted_at is not None  # set when missing
        assert store.get(first.id) == first
    with JobStore(store_path) as reopened:
        assert reopened.get(first.id) == first
        assert reopened.total() == 1


def test_add_keeps_a_given_submission_time(store: JobStore) -> None:
    given = job(at=123.5)
    store.add(given)
    assert store.get(given.id).submitted_at == 123.5


def test_adding_the_same_id_twice_is_refused(store: JobStore) -> None:
    first = job("same")
    store.add(first)
    with pytest.raises(ValueError, match="already stored"):
        store.add(job("same"))
    # add_many is all or nothing.
    with pytest.raises(ValueError, match="already stored"):
        store.add_many([job("fresh"), job("same")])
    with pytest.raises(JobNotFound):
        store.get("fresh")
    assert store.total() == 1


def test_add_many_and_get_many(store: JobStore) -> None:
    jobs = [job(f"id{i:02d}", at=1_000 + i) for i in range(30)]
    assert store.add_many(jobs) == jobs
    wanted = ["id05", "nope", "id01", "id29"]
    got = store.get_many(wanted)
    assert list(got) == ["id05", "id01", "id29"]
    assert got["id29"] == jobs[29]
    assert store.get_many([]) == {}


def test_get_many_handles_more_ids_than_sqlite_variables(store: JobStore) -> None:
    jobs = [job() for _ in range(1_200)]
    store.add_many(jobs)
    got = store.get_many([j.id for j in jobs])
    assert len(got) == 1_200 and got[jobs[-1].id] == jobs[-1]


def _run_and_get_killed(code: str) -> str:
    """Run `code` in a fresh interpreter that SIGKILLs itself at the end; return what it printed."""
    script = code + "\nimport os, signal, sys\nsys.stdout.flush()\nos.kill(os.getpid(), signal.SIGKILL)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    return result.stdout


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_stored_sink_result_survives_kill_9(store_path: Path) -> None:
    with JobStore(store_path) as store:
        ours = job(profile="api", edition=Edition.API, task_id="comfyq-abc", state=S.QUEUED)
        store.add(ours)
    printed = _run_and_get_killed(
        textwrap.dedent(
            f"""
            from tui.core.jobs import JobState, Output
            from tui.core.store import JobStore, SinkResult
            store = JobStore({str(store_path)!r})
            changed = store.upsert_sink_results([
                SinkResult("api", 41, "comfyq-abc", "req-1", JobState.SUCCEEDED,
                           outputs=(Output("9", "output", "", "kept.png"),)),
                SinkResult("api", 42, "someone-else", "req-2", JobState.FAILED),
            ])
            print(len(changed))
            # No close(), no checkpoint: the process dies right after the call returned.
            """
        )
    )
    assert printed.strip() == "2"
    with JobStore(store_path) as store:
        stored = store.get(ours.id)
        assert stored.state is S.SUCCEEDED
        assert stored.outputs == (png("kept.png"),)
        assert stored.sink_index == 41
        external = store.by_sink_index("api", 42)
        assert external is not None and external.external and external.task_id == "someone-else"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_write_ahead_row_survives_kill_9(store_path: Path) -> None:
    printed = _run_and_get_killed(
        textwrap.dedent(
            f"""
            from tui.core.jobs import Edition, Job
            from tui.core.store import JobStore
            store = JobStore({str(store_path)!r})
            job = store.add(Job(id="written-ahead", profile="local", edition=Edition.DEDICATED,
                                workflow={{"1": {{}}}}, prompt_id="pp"))
            print(job.id)
            """
        )
    )
    assert printed.strip() == "written-ahead"
    with JobStore(store_path) as store:
        found = store.get("written-ahead")
        assert found.state is S.SUBMITTING and found.prompt_id == "pp"
        assert [j.id for j in store.active("local")] == ["written-ahead"]


# ----- updates -----------------------------------------------------------------------------------------------------


def test_apply_goes_through_the_transition_function(store: JobStore) -> None:
    queued = job(state=S.QUEUED)
    store.add(queued)
    running = store.apply(JobUpdate(queued.id, state=S.RUNNING, at=2_000, progress=Progress("3", "KSampler", 1, 20)))
    assert running is not None and running.state is S.RUNNING
    assert store.get(queued.id) == running
    # The same update again changes nothing, and a late `queued` is refused.
    assert store.apply(JobUpdate(queued.id, state=S.RUNNING, at=2_000, progress=Progress("3", "KSampler", 1, 20))) is None
    assert store.apply(JobUpdate(queued.id, state=S.QUEUED, queue_position=3)) is None
    done = store.apply(JobUpdate(queued.id, state=S.SUCCEEDED, at=2_010))
    assert done is not None
    # A late `running` after `succeeded` is ignored, in the store too.
    assert store.apply(JobUpdate(queued.id, state=S.RUNNING, progress=Progress("3", "KSampler", 9, 20))) is None
    assert store.get(queued.id) == done


def test_apply_to_an_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        store.apply(JobUpdate("missing", state=S.RUNNING))


def test_outputs_are_filled_in_later_on_a_succeeded_job(store: JobStore) -> None:
    first = job(state=S.RUNNING)
    store.add(first)
    store.apply(JobUpdate(first.id, state=S.SUCCEEDED, outputs=()))
    assert store.get(first.id).outputs == ()
    filled = store.apply(JobUpdate(first.id, state=S.SUCCEEDED, outputs=(png("late.png"),)))
    assert filled is not None and filled.outputs == (png("late.png"),)
    assert store.page(JobFilter(text="late.png")) == [filled]  # the search text follows
    assert store.apply(JobUpdate(first.id, outputs=())) is None
    assert store.get(first.id).outputs == (png("late.png"),)


def test_apply_many_is_one_transaction_and_reports_each_change_once(store: JobStore) -> None:
    a, b = job("a"), job("b")
    store.add_many([a, b])
    changed = store.apply_many(
        [
            JobUpdate("a", prompt_id="pa", queue_index=1),
            JobUpdate("a", state=S.QUEUED),  # chains on the update before it
            JobUpdate("ghost", state=S.RUNNING),  # not stored: skipped
            JobUpdate("b", state=S.RUNNING),
            JobUpdate("a", state=S.QUEUED),  # duplicate: no second change
            JobUpdate("b", state=S.QUEUED),  # illegal: refused
        ]
    )
    assert [j.id for j in changed] == ["a", "b"]
    stored_a = store.get("a")
    assert (stored_a.state, stored_a.prompt_id, stored_a.queue_index) == (S.QUEUED, "pa", 1)
    assert store.get("b").state is S.RUNNING
    assert changed[0] == stored_a
    assert store.apply_many([JobUpdate("a", state=S.QUEUED)]) == []
    assert store.apply_many([]) == []


def test_a_write_the_database_refuses_is_a_clear_error_and_changes_nothing(store: JobStore) -> None:
    store.add_many([job("a", profile="api"), job("b", profile="api")])
    store.apply(JobUpdate("a", sink_index=1))
    with pytest.raises(StoreError, match="cannot write the job store"):
        store.apply_many([JobUpdate("b", state=S.QUEUED), JobUpdate("b", sink_index=1)])  # (profile, index) is taken
    assert store.get("b").state is S.SUBMITTING  # the whole batch was rolled back
    assert store.apply(JobUpdate("b", state=S.QUEUED)) is not None  # and the store still works


# ----- sink results --------------------------------------------------------------------------------------------------


def test_a_sink_result_reaches_our_job_by_task_id(store: JobStore) -> None:
    ours = job(profile="api", edition=Edition.API, task_id="comfyq-1", state=S.QUEUED)
    store.add(ours)
    result = SinkResult("api", 7, "comfyq-1", "req-7", S.SUCCEEDED, outputs=(png("x.png", "day1"),),
                        raw_result="[...]", prompt_id="pid", at=5_000)
    changed = store.upsert_sink_results([result])
    assert [j.id for j in changed] == [ours.id]
    stored = store.get(ours.id)
    assert (stored.state, stored.sink_index, stored.request_id, stored.prompt_id) == (S.SUCCEEDED, 7, "req-7", "pid")
    assert stored.outputs == (png("x.png", "day1"),) and stored.raw_result == "[...]"
    assert stored.timestamps["succeeded"] == 5_000
    assert not stored.external
    assert store.by_sink_index("api", 7) == stored


def test_a_sink_result_stored_twice_is_one_result(store: JobStore) -> None:
    ours = job(profile="api", edition=Edition.API, task_id="t1", state=S.QUEUED)
    store.add(ours)
    result = SinkResult("api", 3, "t1", "r", S.FAILED, failure=Failure(FailureCategory.EXECUTION, "boom"))
    assert len(store.upsert_sink_results([result])) == 1
    assert store.upsert_sink_results([result]) == []  # redelivered after a crash
    external = SinkResult("api", 4, "not-ours", "r2", S.SUCCEEDED)
    assert len(store.upsert_sink_results([external, external])) == 1  # even within one batch
    assert store.upsert_sink_results([external]) == []
    assert store.total() == 2
    assert store.get(ours.id).failure == Failure(FailureCategory.EXECUTION, "boom")


def test_a_recreated_sink_that_reuses_an_index_is_a_new_result(store: JobStore) -> None:
    # Found in the demo: a new emulator (or a recreated EAS service) starts its sink indexes at 1 again. A result
    # for another task at an index an old job holds must reach its job, not be dropped as a "redelivery".
    old = job(profile="api", edition=Edition.API, task_id="old-task", state=S.QUEUED)
    new = job(profile="api", edition=Edition.API, task_id="new-task", state=S.QUEUED)
    store.add_many([old, new])
    store.upsert_sink_results([SinkResult("api", 1, "old-task", "req-old", S.SUCCEEDED, outputs=(png("a.png"),))])
    changed = store.upsert_sink_results([SinkResult("api", 1, "new-task", "req-new", S.SUCCEEDED)])
    assert [j.id for j in changed] == [new.id]
    assert store.get(new.id).state is S.SUCCEEDED
    assert store.get(old.id).state is S.SUCCEEDED and store.get(old.id).outputs == (png("a.png"),)
    assert store.by_sink_index("api", 1).id == new.id
    # ... and the new result redelivered is still one result.
    assert store.upsert_sink_results([SinkResult("api", 1, "new-task", "req-new", S.SUCCEEDED)]) == []


def test_a_redelivered_older_result_does_not_undo_a_newer_one(store: JobStore) -> None:
    ours = job(profile="api", edition=Edition.API, task_id="t", state=S.QUEUED)
    store.add(ours)
    older = SinkResult("api", 3, "t", None, S.SUCCEEDED, outputs=(png("a.png"),))
    newer = SinkResult("api", 4, "t", None, S.SUCCEEDED, outputs=(png("a.png"), png("b.png")))
    store.upsert_sink_results([older])
    store.upsert_sink_results([newer])
    assert store.upsert_sink_results([older]) == []  # keyed by (profile, sink index): already stored
    assert store.get(ours.id).outputs == (png("a.png"), png("b.png"))


def test_any_text_a_result_carries_is_stored_exactly(store: JobStore) -> None:
    odd = "bytes \udcff\udcfe kept, 中文 prompt, nul \x00 and emoji 🎨"
    changed = store.upsert_sink_results(
        [SinkResult("api", 5, "t", None, S.UNKNOWN, raw_result=odd, outputs=(png("x\udcff.png"),),
                    warning="unrecognised result 中文")]
    )
    again = store.get(changed[0].id)
    assert again.raw_result == odd and again.outputs == (png("x\udcff.png"),)
    assert store.ids(JobFilter(text="中文")) == [again.id]


def test_a_redelivered_result_without_a_task_id_is_one_result(store: JobStore) -> None:
    garbage = SinkResult("api", 9, None, None, S.UNKNOWN, raw_result="\xff\xfe not json")
    assert len(store.upsert_sink_results([garbage])) == 1
    assert store.upsert_sink_results([garbage]) == []
    assert store.total() == 1


def test_the_same_sink_index_on_another_profile_is_another_result(store: JobStore) -> None:
    store.upsert_sink_results([SinkResult("api-a", 1, "x", None, S.SUCCEEDED)])
    changed = store.upsert_sink_results([SinkResult("api-b", 1, "x", None, S.SUCCEEDED)])
    assert len(changed) == 1 and changed[0].profile == "api-b"
    assert store.total() == 2


def test_results_for_a_task_we_never_submitted_become_external_jobs(store: JobStore) -> None:
    changed = store.upsert_sink_results(
        [
            SinkResult("api", 10, "foreign", "req", S.FAILED, failure=Failure(FailureCategory.EXECUTION, "OOM"),
                       raw_result="raw", at=9_000),
            SinkResult("api", 11, None, None, S.UNKNOWN, raw_result="\x00\x01"),
        ]
    )
    assert len(changed) == 2
    foreign, anonymous = changed
    assert foreign.external and foreign.workflow is None and foreign.edition is Edition.API
    assert (foreign.task_id, foreign.request_id, foreign.sink_index, foreign.state) == ("foreign", "req", 10, S.FAILED)
    assert foreign.submitted_at == 9_000 and foreign.timestamps["failed"] == 9_000
    assert store.get(foreign.id) == foreign
    assert store.find("foreign") == foreign
    assert anonymous.task_id is None and anonymous.raw_result == "\x00\x01"
    # A second result for the same foreign task updates the external job instead of making another.
    late = store.upsert_sink_results([SinkResult("api", 12, "foreign", "req", S.FAILED, outputs=(png("partial.png"),))])
    assert [j.id for j in late] == [foreign.id] and late[0].outputs == (png("partial.png"),)
    assert store.total() == 2
    # External jobs cannot be resubmitted (no workflow): failed() leaves them out unless asked.
    assert store.failed() == []
    assert {j.id for j in store.failed(include_external=True)} == {foreign.id, anonymous.id}


def test_a_result_for_a_task_of_another_profile_is_not_ours(store: JobStore) -> None:
    store.add(job(profile="api-a", edition=Edition.API, task_id="t", state=S.QUEUED))
    changed = store.upsert_sink_results([SinkResult("api-b", 1, "t", None, S.SUCCEEDED)])
    assert changed[0].external and changed[0].profile == "api-b"


def test_a_sink_result_does_not_move_a_finished_job_backwards(store: JobStore) -> None:
    done = job(profile="api", edition=Edition.API, task_id="t", state=S.CANCELLED)
    store.add(done)
    assert store.upsert_sink_results([SinkResult("api", 1, "t", None, S.SUCCEEDED)]) == []
    assert store.get(done.id).state is S.CANCELLED


def test_a_failed_sink_batch_stores_nothing(store: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = job(profile="api", edition=Edition.API, task_id="t", state=S.QUEUED)
    store.add(ours)

    def broken(*args: object, **kwargs: object) -> Job:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(sink_ledger, "external_job", broken)
    with pytest.raises(RuntimeError):
        store.upsert_sink_results([SinkResult("api", 1, "t", None, S.SUCCEEDED), SinkResult("api", 2, "x", None, S.FAILED)])
    assert store.get(ours.id).state is S.QUEUED  # rolled back: the first result was not kept either
    assert store.by_sink_index("api", 1) is None


def _one_by_one_and_batched(tmp_path: Path, jobs: list[Job], results: list[SinkResult]) -> tuple[list, list]:
    """The same results stored one per call and all in one call, on two stores holding the same jobs: what each
    ends with (every job as a dict, by task_id / sink index, since external jobs get new ids)."""
    ends = []
    for name, batches in (("single", [[r] for r in results]), ("batch", [results])):
        with JobStore(tmp_path / f"{name}.sqlite3") as store:
            store.add_many([Job.from_dict(j.to_dict()) for j in jobs])
            for batch in batches:
                store.upsert_sink_results(batch)
            rows = []
            for stored in store.page(limit=1000):
                data = stored.to_dict()
                for volatile in ("id", "timestamps") if stored.external else ():
                    data.pop(volatile)
                rows.append(data)
            ends.append(sorted(rows, key=lambda d: (str(d["task_id"]), str(d["sink_index"]), d["state"])))
    return ends[0], ends[1]


def test_a_batch_ends_exactly_as_one_result_at_a_time(tmp_path: Path) -> None:
    # Every path of upsert_sink_results inside ONE batch: a redelivery of a result of this same batch, a task's
    # second result, an index reused by a recreated sink (its old holder stored before and one stored in this
    # batch), an external task seen twice, a result without task_id, one for a finished job.
    ours = [job(f"ours-{n}", profile="api", edition=Edition.API, task_id=f"t{n}", state=S.QUEUED) for n in range(4)]
    held = job("held", profile="api", edition=Edition.API, task_id="old", state=S.SUCCEEDED, sink_index=7,
               request_id="req-old")
    done = job("done", profile="api", edition=Edition.API, task_id="t-cancelled", state=S.CANCELLED)
    results = [
        SinkResult("api", 1, "t0", "r1", S.SUCCEEDED, outputs=(png("a.png"),), raw_result="[1]", at=10.0),
        SinkResult("api", 1, "t0", "r1", S.SUCCEEDED, outputs=(png("a.png"),), raw_result="[1]", at=10.0),
        SinkResult("api", 2, "t1", "r2", S.FAILED, failure=Failure(FailureCategory.EXECUTION, "boom"), at=11.0),
        SinkResult("api", 3, "t1", "r3", S.FAILED, warning="second word on t1", at=12.0),
        SinkResult("api", 7, "t2", "r7", S.SUCCEEDED, outputs=(png("c.png"),), at=13.0),  # 7 was "old"'s
        SinkResult("api", 4, "ext", "r4", S.SUCCEEDED, outputs=(png("e.png"),), at=14.0),
        SinkResult("api", 5, "ext", "r5", S.SUCCEEDED, outputs=(png("e.png"), png("f.png")), at=15.0),
        SinkResult("api", 4, "t3", "r4-again", S.SUCCEEDED, outputs=(png("d.png"),), at=16.0),  # 4 reused
        SinkResult("api", 6, None, None, S.UNKNOWN, raw_result="garbage", at=17.0),
        SinkResult("api", 8, "t-cancelled", "r8", S.SUCCEEDED, at=18.0),
    ]
    single, batched = _one_by_one_and_batched(tmp_path, [*ours, held, done], results)
    assert batched == single
    by_task = {row["task_id"]: row for row in batched}
    assert by_task["t2"]["sink_index"] == 7 and by_task["old"]["sink_index"] is None
    assert by_task["t3"]["sink_index"] == 4 and by_task["t-cancelled"]["state"] == "cancelled"


def test_a_batch_reports_each_changed_job_once_in_order(store: JobStore) -> None:
    a = job("a", profile="api", edition=Edition.API, task_id="ta", state=S.QUEUED)
    b = job("b", profile="api", edition=Edition.API, task_id="tb", state=S.RUNNING)
    store.add_many([a, b])
    changed = store.upsert_sink_results(
        [
            SinkResult("api", 1, "tb", "r1", S.SUCCEEDED, outputs=(png("b1.png"),)),
            SinkResult("api", 2, "ta", "r2", S.SUCCEEDED),
            SinkResult("api", 3, "tb", "r3", S.SUCCEEDED, outputs=(png("b1.png"), png("b2.png"))),
        ]
    )
    assert [j.id for j in changed] == ["b", "a"]
    assert changed[0].outputs == (png("b1.png"), png("b2.png"))  # its final version
    assert changed[0] == store.get("b") and changed[1] == store.get("a")
    # Every look-up the columns serve agrees with what was written.
    assert store.by_sink_index("api", 1).id == "b" and store.by_sink_index("api", 2).id == "a"
    assert store.ids(JobFilter(states=frozenset({S.SUCCEEDED}))) == ["b", "a"]
    assert store.count(JobFilter(text="b2.png")) == 1


def test_a_big_batch_is_stored_whole(store: JobStore) -> None:
    ours = [job(f"j{n:04d}", profile="api", edition=Edition.API, task_id=f"t{n}", state=S.QUEUED) for n in range(1200)]
    store.add_many(ours)
    results = [SinkResult("api", n + 1, f"t{n}", f"r{n}", S.SUCCEEDED, outputs=(png(f"{n}.png"),)) for n in range(1200)]
    results += [SinkResult("api", 5000 + n, f"x{n}", None, S.SUCCEEDED) for n in range(600)]  # external
    changed = store.upsert_sink_results(results)
    assert len(changed) == 1800  # more than SQLite's variables per IN (...) list, in chunks
    assert store.counts_by_state("api")[S.SUCCEEDED] == 1800
    assert store.upsert_sink_results(results) == []  # all redelivered


# ----- raw results are kept, but not without end -------------------------------------------------------------------------


def test_a_huge_raw_result_is_capped_and_says_so(store: JobStore) -> None:
    ours = job(profile="api", edition=Edition.API, task_id="big", state=S.QUEUED)
    store.add(ours)
    huge = "[" + "x" * (5 * RAW_RESULT_LIMIT) + "]"
    failure = Failure(FailureCategory.EXECUTION, "node 3 KSampler: OOM", node_id="3")
    (changed,) = store.upsert_sink_results(
        [SinkResult("api", 1, "big", "r", S.FAILED, outputs=(png("partial.png"),), failure=failure, raw_result=huge)]
    )
    stored = store.get(ours.id)
    assert stored == changed
    assert stored.raw_result is not None and len(stored.raw_result) < RAW_RESULT_LIMIT + 200
    assert stored.raw_result.startswith(huge[:1000])
    assert "truncated" in stored.raw_result and f"{len(huge):,}" in stored.raw_result  # says how long it was
    # What was parsed from the whole answer is kept whole.
    assert stored.failure == failure and stored.outputs == (png("partial.png"),)
    # A redelivery of the same huge result is still the same result.
    assert store.upsert_sink_results(
        [SinkResult("api", 1, "big", "r", S.FAILED, failure=failure, raw_result=huge)]
    ) == []


def test_a_huge_raw_result_from_a_history_answer_is_capped(store: JobStore) -> None:
    ours = job(state=S.RUNNING)
    store.add(ours)
    huge = json.dumps({"outputs": {}, "padding": "y" * (2 * RAW_RESULT_LIMIT)})
    store.apply_many([JobUpdate(ours.id, state=S.SUCCEEDED, outputs=(png("a.png"),), raw_result=huge)])
    stored = store.get(ours.id)
    assert len(stored.raw_result or "") < RAW_RESULT_LIMIT + 200 and "truncated" in (stored.raw_result or "")
    assert stored.outputs == (png("a.png"),)
    small = job(state=S.RUNNING)
    store.add(small)
    store.apply(JobUpdate(small.id, state=S.SUCCEEDED, raw_result="x" * RAW_RESULT_LIMIT))
    assert store.get(small.id).raw_result == "x" * RAW_RESULT_LIMIT  # at the limit: kept exactly


def test_a_token_across_the_cut_is_masked_not_half_kept(store: JobStore) -> None:
    from tui.core import secrets

    token = "tok-ACROSS-THE-CUT-0123456789"
    secrets.register_secret(token)
    try:
        raw = "a" * (RAW_RESULT_LIMIT - 10) + token + "b" * 100
        (changed,) = store.upsert_sink_results([SinkResult("api", 1, "t", None, S.UNKNOWN, raw_result=raw)])
        kept = store.get(changed.id).raw_result or ""
        assert token[:10] not in kept and "tok-" in kept  # the mask's visible start, not the token's
    finally:
        secrets.forget_secrets()


# ----- look-ups ------------------------------------------------------------------------------------------------------


def test_find_by_id_prefix_task_id_and_prompt_id(store: JobStore) -> None:
    a = job("aaaa1111bbbb", profile="api", edition=Edition.API, task_id="comfyq-task")
    b = job("aaaa2222cccc", prompt_id="5f0c-prompt")
    c = job("dddd3333eeee")
    store.add_many([a, b, c])
    assert store.find("aaaa1111bbbb") == a
    assert store.find("aaaa1") == a
    assert store.find("  dd ") == c
    assert store.find("AAAA2") == b  # ids are lowercase hex; typing in upper case still finds them
    assert store.find("comfyq-task") == a
    assert store.find("5f0c-prompt") == b
    with pytest.raises(AmbiguousJobId) as ambiguous:
        store.find("aaaa")
    message = str(ambiguous.value)
    assert "aaaa1111" in message and "aaaa2222" in message
    assert ambiguous.value.candidates == ("aaaa1111bbbb", "aaaa2222cccc")
    with pytest.raises(JobNotFound, match="zzz"):
        store.find("zzz")
    with pytest.raises(JobNotFound):
        store.find("")


def test_ambiguous_candidates_are_shown_long_enough_to_tell_apart(store: JobStore) -> None:
    store.add_many([job("0123456789ab"), job("0123456789cd")])
    with pytest.raises(AmbiguousJobId) as ambiguous:
        store.find("0123")
    assert "0123456789a" in str(ambiguous.value) and "0123456789c" in str(ambiguous.value)


def test_an_ambiguous_prefix_lists_at_most_ten(store: JobStore) -> None:
    store.add_many([job(f"ff{i:02d}") for i in range(15)])
    with pytest.raises(AmbiguousJobId) as ambiguous:
        store.find("ff")
    assert len(ambiguous.value.candidates) == 10 and "…" in str(ambiguous.value)


def test_a_task_id_shared_by_two_profiles_is_ambiguous(store: JobStore) -> None:
    store.add_many([job("one", profile="a", task_id="shared"), job("two", profile="b", task_id="shared")])
    with pytest.raises(AmbiguousJobId):
        store.find("shared")
    assert store.by_task_id("b", "shared").id == "two"  # type: ignore[union-attr]


def test_by_remote_ids(store: JobStore) -> None:
    a = job(profile="api", edition=Edition.API, task_id="t-1")
    b = job(profile="local", prompt_id="p-1")
    store.add_many([a, b])
    assert store.by_task_id("api", "t-1") == a
    assert store.by_task_id("local", "t-1") is None
    assert store.by_prompt_id("p-1") == b
    assert store.by_prompt_id("p-1", profile="local") == b
    assert store.by_prompt_id("p-1", profile="api") is None
    assert store.by_sink_index("api", 1) is None


# ----- filters, pages and counts -------------------------------------------------------------------------------------


@pytest.fixture
def mixed(store: JobStore) -> JobStore:
    store.add_many(
        [
            job("s1", profile="local", state=S.SUCCEEDED, at=1, outputs=(png("Bottle_00001_.png", "shots"),)),
            job("f1", profile="sim-api", state=S.FAILED, at=2, edition=Edition.API,
                failure=Failure(FailureCategory.EXECUTION, "CUDA out of memory", class_type="KSampler")),
            job("r1", profile="local", state=S.RUNNING, at=3),
            job("q1", profile="sim-api", state=S.QUEUED, at=4, edition=Edition.API, task_id="comfyq-Q1"),
            job("l1", profile="local", state=S.LOST, at=5),
            job("f2", profile="local", state=S.FAILED, at=6,
                failure=Failure(FailureCategory.REJECTED, "node 4 CheckpointLoaderSimple: bottle.ckpt not in []")),
        ]
    )
    return store


def _ids(jobs: list[Job]) -> list[str]:
    return [j.id for j in jobs]


def test_page_is_newest_first(mixed: JobStore) -> None:
    assert _ids(mixed.page()) == ["f2", "l1", "q1", "r1", "f1", "s1"]
    assert _ids(mixed.page(limit=2)) == ["f2", "l1"]
    assert _ids(mixed.page(limit=2, offset=2)) == ["q1", "r1"]
    assert mixed.page(offset=10) == []


def test_same_submission_time_keeps_insertion_order(store: JobStore) -> None:
    store.add_many([job(f"z{i}", at=50) for i in range(5)])
    assert _ids(store.page()) == ["z4", "z3", "z2", "z1", "z0"]
    assert store.ids(descending=False) == ["z0", "z1", "z2", "z3", "z4"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["f2", "l1", "q1", "r1", "f1", "s1"]),
        ("state:failed", ["f2", "f1"]),
        ("state:failed,lost", ["f2", "l1", "f1"]),
        ("state:active", ["q1", "r1"]),
        ("state:done", ["f2", "l1", "f1", "s1"]),
        ("STATE:Fail", ["f2", "f1"]),  # the start of a state name, typed so far
        ("profile:sim-api", ["q1", "f1"]),
        ("state:failed profile:sim-api", ["f1"]),
        ("bottle", ["f2", "s1"]),  # a filename and an error message
        ("BOTTLE state:succeeded", ["s1"]),
        ("shots/bottle", ["s1"]),  # subfolder/filename
        ("cuda memory", ["f1"]),  # every word must match
        ("cuda bottle", []),
        ("ksampler", ["f1"]),
        ("comfyq-q1", ["q1"]),  # task ids, case-insensitive
        ("l1", ["l1"]),
        ("state:nonsense", []),
        ("100%", []),  # LIKE wildcards mean nothing here
    ],
)
def test_filters(mixed: JobStore, query: str, expected: list[str]) -> None:
    flt = JobFilter.parse(query)
    assert _ids(mixed.page(flt)) == expected
    assert mixed.ids(flt) == expected
    assert mixed.count(flt) == len(expected)
    # The in-memory test agrees with SQL (the job table uses it for live updates).
    assert [j.id for j in mixed.page(limit=1000) if flt.matches(j)] == expected


def test_filter_parsing() -> None:
    flt = JobFilter.parse("state:failed profile:sim-api bottle  red")
    assert flt == JobFilter(states=frozenset({S.FAILED}), profile="sim-api", text="bottle red", profile_prefix=True)
    assert flt.terms == ("bottle", "red")
    assert JobFilter.parse(flt.to_query()) == flt
    assert JobFilter.parse("state:active").states == ACTIVE_STATES
    assert JobFilter.parse("state:done").states == TERMINAL_STATES
    assert JobFilter.parse("state:failed state:lost").states == frozenset({S.FAILED, S.LOST})
    assert JobFilter.parse("state:").states is None  # still typing: no constraint yet
    assert JobFilter.parse("profile:").profile is None
    assert JobFilter.parse("oss://bucket/x").text == "oss://bucket/x"
    bad = JobFilter.parse("state:bogus")
    assert bad.states == frozenset() and bad.problems and "bogus" in bad.problems[0]
    assert JobFilter.parse("").is_empty and JobFilter().is_empty


def test_search_text_covers_ids_errors_and_filenames() -> None:
    text = job_search_text(
        job("ABC", task_id="T-1", prompt_id="P-1", outputs=(png("Out.PNG", "Sub"),),
            failure=Failure(FailureCategory.EXECUTION, "Boom", exception_type="RuntimeError"))
    )
    for word in ("abc", "t-1", "p-1", "sub/out.png", "boom", "runtimeerror"):
        assert word in text
    assert text == text.lower()


def _oom(job_id: str, **fields: object) -> Job:
    return job(job_id, state=S.FAILED, failure=Failure(
        FailureCategory.EXECUTION, "CUDA out of memory. Tried to allocate 2.00 GiB.", node_id="3",
        class_type="KSampler", exception_type="torch.OutOfMemoryError"), **fields)


def test_free_text_finds_what_the_row_shows(store: JobStore) -> None:
    # The table shows the state and the failure's short form (`OOM · KSampler`): typing either finds the row.
    store.add(_oom("f1"))
    store.add(job("ok", state=S.SUCCEEDED))
    store.add(job("r", state=S.RUNNING))
    for typed in ("oom", "OOM · ksampler", "fail", "failed oom"):
        assert store.ids(JobFilter.parse(typed)) == ["f1"], typed
        assert JobFilter.parse(typed).matches(store.get("f1")), typed
    assert store.ids(JobFilter.parse("succeeded")) == ["ok"]
    store.apply(JobUpdate("r", state=S.FAILED, failure=Failure(FailureCategory.REJECTED, "bad", node_errors=())))
    assert set(store.ids(JobFilter.parse("fail"))) == {"f1", "r"}  # the searched text follows the state


def test_migrating_a_version_5_file_makes_its_rows_findable_by_what_they_show(store_path: Path) -> None:
    old = _oom("v5-oom")
    raw = _build_version(store_path, 5)
    raw.execute(  # version 5 searched ids, messages and file names only
        "INSERT INTO jobs (id, profile, edition, state, submitted_at, updated_at, search_text, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (old.id, old.profile, old.edition.value, old.state.value, old.submitted_at, 0.0, "v5-oom\ncuda out of memory",
         json.dumps({k: v for k, v in old.to_dict().items() if k != "workflow"})),
    )
    raw.commit()
    raw.close()
    with JobStore(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.ids(JobFilter.parse("oom failed")) == ["v5-oom"]
        assert store.get("v5-oom") == dataclasses.replace(old, workflow=None)


def test_ids_orders(mixed: JobStore) -> None:
    mixed.apply(JobUpdate("r1", state=S.SUCCEEDED, at=100, outputs=(png("a.png"), png("b.png"))))
    assert mixed.ids(order="submitted", descending=False) == ["s1", "f1", "r1", "q1", "l1", "f2"]
    # By state: lifecycle order (active first when ascending), newest first within a state.
    assert mixed.ids(order="state", descending=False) == ["q1", "r1", "s1", "f2", "f1", "l1"]
    assert mixed.ids(order="profile", descending=False) == ["f2", "l1", "r1", "s1", "q1", "f1"]
    assert mixed.ids(order="outputs")[:2] == ["r1", "s1"]
    assert mixed.ids(order="duration")[0] == "q1"  # still queued since t=4: longest so far
    assert sorted(mixed.ids(order="id")) == mixed.ids(order="id", descending=False)
    assert set(ORDERS) >= {"submitted", "state", "profile", "duration", "outputs"}
    with pytest.raises(ValueError, match="cannot order"):
        mixed.ids(order="colour")


def test_counts(mixed: JobStore) -> None:
    counts = mixed.counts_by_state()
    assert set(counts) == set(JobState)
    assert counts[S.FAILED] == 2 and counts[S.CANCELLED] == 0 and sum(counts.values()) == 6
    assert mixed.counts_by_state("sim-api") == {**dict.fromkeys(JobState, 0), S.FAILED: 1, S.QUEUED: 1}
    assert mixed.counts_by_state("nobody") == dict.fromkeys(JobState, 0)
    assert mixed.total() == 6 and mixed.count() == 6


def test_active_jobs(mixed: JobStore) -> None:
    assert _ids(mixed.active()) == ["r1", "q1"]  # oldest first
    assert _ids(mixed.active("sim-api")) == ["q1"]
    assert all(j.workflow is not None for j in mixed.active())
    light = mixed.active(with_workflow=False)
    assert _ids(light) == ["r1", "q1"] and all(j.workflow is None for j in light)
    assert [dataclasses_replace_workflow(j) for j in light] == [dataclasses_replace_workflow(j) for j in mixed.active()]


def dataclasses_replace_workflow(found: Job) -> Job:
    import dataclasses

    return dataclasses.replace(found, workflow=None)


def test_active_summaries(store: JobStore) -> None:
    queued = job("q", profile="api", edition=Edition.API, state=S.QUEUED, task_id="tq", queue_index=12,
                 queue_position=3, at=1)
    running = job("r", profile="api", edition=Edition.API, state=S.RUNNING, task_id="tr", queue_index=11, at=2)
    writing = job("w", profile="api", edition=Edition.API, task_id="tw", at=3)  # submitting, no index yet
    other = job("o", profile="local", state=S.RUNNING, at=4)
    store.add_many([queued, running, writing, other, job("d", profile="api", state=S.SUCCEEDED, at=0)])
    assert store.active_summaries("api") == [
        ActiveJob("q", "api", S.QUEUED, "tq", 12, 3),
        ActiveJob("r", "api", S.RUNNING, "tr", 11, None),
        ActiveJob("w", "api", S.SUBMITTING, "tw", None, None),
    ]
    assert [a.id for a in store.active_summaries()] == ["q", "r", "w", "o"]


# ----- resubmit chains -----------------------------------------------------------------------------------------------


def test_children_chain_and_failed(store: JobStore) -> None:
    root = job("root", state=S.FAILED, at=1)
    second = job("second", state=S.FAILED, at=2, parent_id="root", attempt=2)
    sibling = job("sibling", state=S.RUNNING, at=3, parent_id="root", attempt=2)
    third = job("third", state=S.SUCCEEDED, at=4, parent_id="second", attempt=3)
    other = job("other", state=S.CANCELLED, at=5)
    lone_lost = job("lone", state=S.LOST, at=6, profile="sim-api")
    store.add_many([root, second, sibling, third, other, lone_lost])
    assert _ids(store.children("root")) == ["second", "sibling"]
    assert store.children("third") == []
    for member in ("root", "second", "sibling", "third"):
        assert _ids(store.chain(member)) == ["root", "second", "sibling", "third"]
    assert _ids(store.chain("other")) == ["other"]
    with pytest.raises(JobNotFound):
        store.chain("missing")
    # Still failing: root and second have later attempts; a cancelled job is the user's choice, not a failure.
    assert _ids(store.failed()) == ["lone"]
    assert store.failing_count() == 1
    # Asked for by state, a cancelled job can be resubmitted too.
    assert _ids(store.failed(JobFilter(states=frozenset({S.FAILED, S.CANCELLED})))) == ["other"]
    assert _ids(store.failed(JobFilter(profile="sim-api"))) == ["lone"]
    assert store.failed(JobFilter(states=frozenset({S.SUCCEEDED}))) == []


def test_a_chain_whose_parent_is_missing_starts_at_the_orphan(store: JobStore) -> None:
    store.add(job("orphan", parent_id="gone", attempt=2))
    assert _ids(store.chain("orphan")) == ["orphan"]


# ----- the file --------------------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_the_file_is_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "new" / "jobs.sqlite3"
    old = os.umask(umask)
    try:
        with JobStore(path) as store:
            store.add(job())
            assert _mode(path) == 0o600
            for suffix in ("-wal", "-shm"):
                sidecar = Path(f"{path}{suffix}")
                assert sidecar.exists()  # WAL mode
                assert _mode(sidecar) & 0o077 == 0
    finally:
        os.umask(old)


def test_an_existing_readable_file_is_made_private(store_path: Path) -> None:
    JobStore(store_path).close()
    os.chmod(store_path, 0o644)
    JobStore(store_path).close()
    assert _mode(store_path) == 0o600


def test_wal_mode(store: JobStore, store_path: Path) -> None:
    with sqlite3.connect(store_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_store_has_the_latest_schema(store: JobStore, store_path: Path) -> None:
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 1
    with sqlite3.connect(store_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("kind", ["empty file", "empty database"])
def test_migrating_a_version_0_file(store_path: Path, kind: str) -> None:
    store_path.parent.mkdir(parents=True)
    if kind == "empty file":
        store_path.write_bytes(b"")
    else:
        with sqlite3.connect(store_path) as raw:
            raw.execute("CREATE TABLE unrelated (x)")
            assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
    with JobStore(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.add(job("after-migration"))
    with JobStore(store_path) as store:  # opening again migrates nothing and keeps the data
        assert store.get("after-migration").id == "after-migration"
    with sqlite3.connect(store_path) as raw:
        indexes = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"jobs_by_submitted", "jobs_by_state", "jobs_by_profile", "jobs_by_task_id", "jobs_by_prompt_id",
                "jobs_by_sink_index", "jobs_by_parent"} <= indexes


def _build_version(path: Path, version: int) -> sqlite3.Connection:
    """A file at schema `version`, made by running the first migrations as a comfyq of that version did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    for migration in MIGRATIONS[:version]:
        for step in migration:
            step(raw) if callable(step) else raw.execute(step)
    raw.execute(f"PRAGMA user_version = {version}")
    raw.commit()
    return raw


def test_migrating_a_version_1_file_moves_workflows_to_their_column(store_path: Path) -> None:
    old = job("v1-job", state=S.RUNNING, task_id="t-v1", outputs=(png("old.png"),))
    bare = Job("v1-external", "api", Edition.API, None, state=S.UNKNOWN, timestamps={"submitting": 5.0}, external=True)
    raw = _build_version(store_path, 1)
    for row in (old, bare):  # version 1 kept the whole job, workflow included, in `data`
        raw.execute(
            "INSERT INTO jobs (id, profile, edition, state, submitted_at, updated_at, task_id, external, output_count,"
            " search_text, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.profile, row.edition.value, row.state.value, row.submitted_at, 0.0, row.task_id,
             int(row.external), len(row.outputs), job_search_text(row), json.dumps(row.to_dict())),
        )
    raw.commit()
    raw.close()
    with JobStore(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get("v1-job") == old
        assert store.get("v1-external") == bare
        # Updating a migrated job keeps its workflow.
        store.apply(JobUpdate("v1-job", state=S.SUCCEEDED))
    with JobStore(store_path) as store:
        assert store.get("v1-job").workflow == old.workflow
        assert store.find("t-v1").id == "v1-job"
    with sqlite3.connect(store_path) as raw:
        data, workflow = raw.execute("SELECT data, workflow FROM jobs WHERE id = 'v1-job'").fetchone()
        assert "workflow" not in json.loads(data) and json.loads(workflow) == old.workflow


def test_a_state_change_leaves_the_stored_workflow_alone(store: JobStore, store_path: Path) -> None:
    first = job("w")
    store.add(first)
    with sqlite3.connect(store_path) as raw:
        before = raw.execute("SELECT workflow FROM jobs WHERE id = 'w'").fetchone()[0]
    store.apply(JobUpdate("w", state=S.RUNNING, progress=Progress("3", "KSampler", 1, 2)))
    with sqlite3.connect(store_path) as raw:
        assert raw.execute("SELECT workflow FROM jobs WHERE id = 'w'").fetchone()[0] == before
    assert store.get("w").workflow == first.workflow


def test_a_store_from_a_newer_comfyq_is_refused_clearly(store_path: Path) -> None:
    JobStore(store_path).close()
    with sqlite3.connect(store_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this comfyq"):
        JobStore(store_path)


def test_a_file_that_is_not_a_database_is_refused_clearly(store_path: Path) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_text("these are not the jobs you are looking for\n" * 200)
    with pytest.raises(StoreError, match=str(store_path.name)):
        JobStore(store_path)


def test_an_unwritable_place_is_refused_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        JobStore(blocker / "jobs.sqlite3")


def test_two_stores_on_one_file_see_each_others_writes(store_path: Path) -> None:
    # The TUI and a CLI command may share the file.
    with JobStore(store_path) as tui, JobStore(store_path) as cli:
        added = cli.add(job("from-cli"))
        assert tui.get("from-cli") == added
        tui.apply(JobUpdate("from-cli", state=S.QUEUED))
        assert cli.get("from-cli").state is S.QUEUED


# ----- 100k jobs: indexes, not scans ------------------------------------------------------------------------------------

BIG = 100_000
_STATES = list(JobState)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("big") / "jobs.sqlite3"
    jobs = []
    for i in range(BIG):
        state = _STATES[i % len(_STATES)]
        jobs.append(
            Job(
                id=f"{i:08x}" + "0" * 24,
                profile=("sim-api", "local", "artlab")[i % 3],
                edition=Edition.API,
                workflow=None,
                state=state,
                task_id=f"task-{i}",
                prompt_id=f"prompt-{i}",
                sink_index=i if i % 2 else None,
                parent_id=f"{i - 1:08x}" + "0" * 24 if i % 10 == 9 else None,
                timestamps={"submitting": 1_000_000.0 + i, state.value: 1_000_001.0 + i},
                outputs=(Output("9", "output", "", f"img_{i}.png"),) if state is S.SUCCEEDED else (),
                failure=Failure(FailureCategory.EXECUTION, f"error {i}") if state is S.FAILED else None,
            )
        )
    with JobStore(path) as store:
        store.add_many(jobs)
        yield store


def _newest_ids(n: int, states: set[JobState] | None = None) -> list[str]:
    ids = []
    for i in range(BIG - 1, -1, -1):
        if states is None or _STATES[i % len(_STATES)] in states:
            ids.append(f"{i:08x}" + "0" * 24)
            if len(ids) == n:
                break
    return ids


def _assert_indexed(plan: list[str], *, sorted_by_index: bool = True) -> None:
    text = "\n".join(plan)
    assert "USING INDEX" in text or "USING COVERING INDEX" in text, plan
    for line in plan:
        if line.startswith("SCAN"):
            assert "INDEX" in line, plan  # never a scan of the table itself
    if sorted_by_index:
        assert "TEMP B-TREE" not in text, plan  # the order comes from the index, no sort of all rows


def test_100k_newest_page_and_ids_use_indexes(big_store: JobStore) -> None:
    assert big_store.total() == BIG
    assert _ids(big_store.page(limit=50)) == _newest_ids(50)
    _assert_indexed(big_store.query_plan("page"))
    ids = big_store.ids()
    assert len(ids) == BIG and ids[:50] == _newest_ids(50) and ids[-1] == "0" * 32
    plan = big_store.query_plan("ids")
    _assert_indexed(plan)
    assert any("COVERING INDEX" in line for line in plan), plan  # only the index is read, not the rows


def test_100k_filtered_pages_use_indexes(big_store: JobStore) -> None:
    failed = JobFilter(states=frozenset({S.FAILED}))
    assert _ids(big_store.page(failed, limit=20)) == _newest_ids(20, {S.FAILED})
    _assert_indexed(big_store.query_plan("page", failed))
    _assert_indexed(big_store.query_plan("ids", failed))
    profile = JobFilter(profile="local")
    _assert_indexed(big_store.query_plan("page", profile))
    _assert_indexed(big_store.query_plan("ids", profile))
    # A list of states is answered from the state index (then merged): still no table scan.
    several = JobFilter(states=frozenset({S.FAILED, S.LOST}))
    assert _ids(big_store.page(several, limit=20)) == _newest_ids(20, {S.FAILED, S.LOST})
    _assert_indexed(big_store.query_plan("page", several), sorted_by_index=False)
    assert big_store.count(failed) == BIG // len(_STATES)


def test_100k_look_ups_use_indexes(big_store: JobStore) -> None:
    statements: list[str] = []
    big_store._db.set_trace_callback(statements.append)
    try:
        i = 77_777
        wanted = f"{i:08x}" + "0" * 24
        assert big_store.get(wanted).id == wanted
        assert big_store.find(wanted[:8]).id == wanted
        assert big_store.find(f"task-{i}").id == wanted
        assert big_store.by_task_id(("sim-api", "local", "artlab")[i % 3], f"task-{i}").id == wanted  # type: ignore[union-attr]
        assert big_store.by_prompt_id(f"prompt-{i}").id == wanted  # type: ignore[union-attr]
        assert big_store.by_sink_index(("sim-api", "local", "artlab")[i % 3], i).id == wanted  # type: ignore[union-attr]
        assert _ids(big_store.children(f"{77_778:08x}" + "0" * 24)) == [f"{77_779:08x}" + "0" * 24]
        assert len(big_store.get_many(_newest_ids(40))) == 40
        assert big_store.counts_by_state()[S.FAILED] == BIG // len(_STATES)
    finally:
        big_store._db.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) >= 8
    for statement in selects:
        plan = [str(row[3]) for row in big_store._db.execute("EXPLAIN QUERY PLAN " + statement)]
        if "GROUP BY" in statement:
            # Counting by state reads the whole state index (never the rows): fine, it is the answer.
            assert any("COVERING INDEX" in line for line in plan), (statement, plan)
            continue
        for line in plan:
            assert not line.startswith("SCAN"), (statement, plan)  # SEARCH ... USING INDEX, never a scan


def test_100k_failed_not_resubmitted_uses_indexes(big_store: JobStore) -> None:
    failed = big_store.failed(JobFilter(states=frozenset({S.FAILED}), profile="local"))
    assert failed and all(j.state is S.FAILED and j.profile == "local" for j in failed)
    assert all(not big_store.children(j.id) for j in failed[:20])


# ----- threads -----------------------------------------------------------------------------------------------------------


def test_two_threads_applying_updates_concurrently(store: JobStore) -> None:
    ours = [job(f"t{i:03d}", profile="api", edition=Edition.API, task_id=f"task-{i}") for i in range(300)]
    store.add_many(ours)
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def loop_side() -> None:  # the asyncio side: queued, running with progress, one at a time
        try:
            start.wait()
            for j in ours:
                store.apply(JobUpdate(j.id, state=S.QUEUED, queue_position=3))
                store.apply_many([JobUpdate(j.id, state=S.RUNNING, progress=Progress("3", "KSampler", 1, 20))])
                store.page(limit=20)
                store.ids(JobFilter(states=ACTIVE_STATES))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def watcher_side() -> None:  # the sink watcher thread: the results, in batches of 10
        try:
            start.wait()
            for first in range(0, len(ours), 10):
                batch = [
                    SinkResult("api", 1_000 + i, f"task-{i}", f"req-{i}", S.SUCCEEDED, outputs=(png(f"o{i}.png"),))
                    for i in range(first, first + 10)
                ]
                store.upsert_sink_results(batch)
                store.upsert_sink_results(batch[:3])  # a redelivery
        except BaseException as error:  # pragma: no cover
            errors.append(error)

    threads = [threading.Thread(target=loop_side), threading.Thread(target=watcher_side)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: interleave inside every store call
    try:
        for thread in threads:
            thread.start()
        start.wait()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    # Whatever the interleaving, every job ended succeeded with its one result, and nothing else was created.
    assert store.total() == 300
    for i, j in enumerate(ours):
        final = store.get(j.id)
        assert final.state is S.SUCCEEDED, final
        assert final.sink_index == 1_000 + i and final.outputs == (png(f"o{i}.png"),)
        assert final.progress is None and final.queue_position is None
    assert store.counts_by_state()[S.SUCCEEDED] == 300


def test_a_second_process_change_is_seen_and_fetched(store_path: Path) -> None:
    """The TUI keeps one store open while `comfyq submit` (another connection) adds and settles jobs."""
    tui_side = JobStore(store_path)
    cli_side = JobStore(store_path)
    try:
        assert tui_side.changed_elsewhere() is False  # first call: a baseline
        own = job(profile="p")
        tui_side.add(own)
        assert tui_side.changed_elsewhere() is False  # our own commit is not "elsewhere"
        before = time.time() - 1
        other = job(profile="p")
        cli_side.add(other)
        assert tui_side.changed_elsewhere() is True
        assert tui_side.changed_elsewhere() is False
        assert other.id in [j.id for j in tui_side.changed_since(before)]
    finally:
        tui_side.close()
        cli_side.close()


def test_a_token_a_service_echoes_back_is_masked_before_it_is_stored(store_path: Path) -> None:
    from tui.core import secrets

    token = "tok-ECHOED-0123456789"
    secrets.register_secret(token)
    try:
        with JobStore(store_path) as store:
            ours = job(profile="api", edition=Edition.API, task_id="t-echo", state=S.QUEUED)
            store.add(ours)
            failure = Failure(FailureCategory.AUTH, f"401: bad Authorization {token}", traceback=(f"at {token}",))
            changed = store.apply(JobUpdate(ours.id, state=S.FAILED, failure=failure, raw_result=f"echo {token}"))
            sink = store.upsert_sink_results([SinkResult("api", 1, "other", "r", S.UNKNOWN, raw_result=token)])
            for seen in (changed, store.get(ours.id), *sink):
                assert token not in json.dumps(seen.to_dict())
            assert "401: bad Authorization" in store.get(ours.id).failure.message
        assert token.encode() not in store_path.read_bytes()
        wal = store_path.with_name(store_path.name + "-wal")
        assert not wal.exists() or token.encode() not in wal.read_bytes()
    finally:
        secrets.forget_secrets()


def _open_after(path: str, barrier: Any, results: Any) -> None:
    """In a child process: wait for the other one, then open (create) the store at the same moment."""
    barrier.wait()
    try:
        JobStore(path).close()
        results.put("ok")
    except Exception as error:  # noqa: BLE001 - the test prints what went wrong
        results.put(f"{type(error).__name__}: {error}")


def test_two_processes_creating_the_same_store_at_once_both_open_it(tmp_path: Path) -> None:
    # `comfyq` in one terminal and `comfyq watch` in another, on a data dir nobody used yet: both create the
    # database and switch it to WAL at the same moment. SQLite answers one of them "database is locked" at once
    # (no busy wait for a journal-mode change that would deadlock), which must not stop that process.
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(5):
        path = str(tmp_path / f"run{attempt}" / "jobs.sqlite3")
        barrier = context.Barrier(2)
        results = context.Queue()
        children = [context.Process(target=_open_after, args=(path, barrier, results)) for _ in range(2)]
        for child in children:
            child.start()
        for child in children:
            child.join(30)
        assert [results.get(timeout=5) for _ in children] == ["ok", "ok"]
        with JobStore(path) as store:
            assert store.schema_version == SCHEMA_VERSION


# ----- batches ---------------------------------------------------------------------------------------------------


def test_a_batch_is_stored_filtered_by_prefix_and_survives_reopening(store_path: Path) -> None:
    with JobStore(store_path) as store:
        store.add_many([job("a1", batch="spring-catalog"), job("a2", batch="spring-catalog"),
                        job("b1", batch="summer"), job("n1")])
        flt = JobFilter.parse("batch:spring")
        assert flt.batch == "spring" and flt.to_query() == "batch:spring"
        assert sorted(store.ids(flt)) == ["a1", "a2"]
        assert store.count(JobFilter.parse("batch:summer")) == 1
        # A LIKE wildcard in the name is a plain character.
        assert store.count(JobFilter.parse("batch:%")) == 0
        assert [flt.matches(store.get(i)) for i in ("a1", "b1", "n1")] == [True, False, False]
        store.apply(JobUpdate("a1", state=S.FAILED, failure=Failure(FailureCategory.EXECUTION, "boom")))
        assert [j.id for j in store.failed(JobFilter.parse("batch:spring"))] == ["a1"]
        assert store.failed(JobFilter.parse("batch:summer")) == []
    with JobStore(store_path) as store:
        assert store.get("a2").batch == "spring-catalog"
        assert any("jobs_by_batch" in line for line in store.query_plan("ids", JobFilter.parse("batch:spring")))


def test_migrating_a_version_3_file_fills_the_batch_column(store_path: Path) -> None:
    with JobStore(store_path) as store:
        store.add(job("old", batch="night-run"))
    with sqlite3.connect(store_path) as raw:  # back to version 3: no batch column, the batch only in `data`
        _undo_version_5(raw)
        raw.execute("DROP INDEX jobs_by_batch")
        raw.execute("ALTER TABLE jobs DROP COLUMN batch")
        raw.execute("PRAGMA user_version = 3")
    with JobStore(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.ids(JobFilter.parse("batch:night")) == ["old"]


def test_origin_filter_external_and_mine(tmp_path) -> None:
    from tui.core.jobs import Edition, Job, JobState

    with JobStore(tmp_path / "o.sqlite3") as store:
        mine = Job(id="m1", profile="p", edition=Edition.DEDICATED, workflow=None, prompt_id="a")
        theirs = Job(id="e1", profile="p", edition=Edition.DEDICATED, workflow=None, prompt_id="b", external=True,
                     state=JobState.QUEUED)
        store.add(mine)
        assert store.add_external_prompts([(theirs, None)]) == [theirs]
        # The same prompt found again (by this or another process): stored once.
        again = Job(id="e2", profile="p", edition=Edition.DEDICATED, workflow=None, prompt_id="b", external=True)
        assert store.add_external_prompts([(again, None)]) == []
        assert [j.id for j in store.page(JobFilter.parse("origin:external"))] == ["e1"]
        assert [j.id for j in store.page(JobFilter.parse("origin:mine"))] == ["m1"]
        assert [j.id for j in store.page(JobFilter.parse("origin:ext"))] == ["e1"]  # a prefix, while typing
        assert JobFilter.parse("origin:external").matches(theirs) and not JobFilter.parse("origin:mine").matches(theirs)
        assert JobFilter.parse("origin:bogus").problems
        assert JobFilter.parse("origin:mine state:queued").to_query() == "state:queued origin:mine"
        assert store.known_prompt_ids("p", ["a", "b", "c"]) == {"a", "b"}
# ----- statistics columns (v5) -----------------------------------------------------------------------------------


def _undo_version_5(raw: sqlite3.Connection) -> None:
    """Take a file back to version 4: no wait / run / failure columns, no finished-window indexes."""
    for index in ("profile_state_finished", "finished", "wait", "run", "failure"):
        raw.execute(f"DROP INDEX jobs_by_{index}")
    for column in ("wait_s", "run_s", "failure_category", "failure_node"):
        raw.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
    raw.execute("PRAGMA user_version = 4")


def _stats_columns(path: Path) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT id, wait_s, run_s, failure_category, failure_node FROM jobs").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_stats_columns_follow_the_job_and_a_version_4_file_is_filled_the_same_way(store_path: Path) -> None:
    from tui.core.jobs import NodeError

    rejected = Failure(
        FailureCategory.REJECTED, "Prompt outputs failed validation",
        node_errors=(NodeError("4", "CheckpointLoaderSimple", "value_not_in_list", "not in list", "", "ckpt_name"),),
    )
    executed = Failure(FailureCategory.EXECUTION, "CUDA out of memory", node_id="3", class_type="KSampler")
    with JobStore(store_path) as store:
        store.add_many([job("ran"), job("rej"), job("exe"), job("bare"), job("wait")])
        store.apply(JobUpdate("ran", state=S.RUNNING, at=1000.0))
        store.apply(JobUpdate("ran", state=S.SUCCEEDED, at=1010.0))
        store.apply(JobUpdate("rej", state=S.FAILED, failure=rejected))
        store.apply(JobUpdate("exe", state=S.RUNNING, at=2000.0))
        store.apply(JobUpdate("exe", state=S.FAILED, failure=executed))
        store.apply(JobUpdate("bare", state=S.FAILED, failure=Failure(FailureCategory.TRANSPORT, "timed out")))
    expected = {  # submitted at 1000.0 (job()): wait = running - 1000, run = finished - running
        "ran": (0.0, 10.0, None, None),
        "rej": (None, None, "rejected", "ckpt_name"),
        "exe": (1000.0, None, "execution", "KSampler"),  # finished "now": run time checked below
        "bare": (None, None, "transport", None),
        "wait": (None, None, None, None),
    }
    columns = _stats_columns(store_path)
    assert columns["exe"][1] is not None and columns["exe"][1] > 0
    columns["exe"] = (columns["exe"][0], None, *columns["exe"][2:])
    assert columns == expected
    before = _stats_columns(store_path)
    with sqlite3.connect(store_path) as raw:
        _undo_version_5(raw)
    with JobStore(store_path) as store:
        assert store.schema_version == SCHEMA_VERSION
    assert _stats_columns(store_path) == before  # the migration's SQL agrees with job_wait_run() and failure_node()


def test_latest_attempts_and_the_latest_only_filter(store: JobStore) -> None:
    root = job("root", state=S.FAILED, at=1)
    second = job("second", state=S.FAILED, at=2, parent_id="root", attempt=2)
    third = job("third", state=S.SUCCEEDED, at=4, parent_id="second", attempt=3)
    lone = job("lone", state=S.FAILED, at=5)
    store.add_many([root, second, third, lone])
    latest = store.latest_attempts(["root", "second", "third", "lone"])
    assert {key: value.id for key, value in latest.items()} == {"root": "third", "second": "third"}
    assert latest["root"].state is S.SUCCEEDED and latest["root"].attempt == 3
    flt = JobFilter.parse("state:failed is:latest")
    assert flt.latest_only and flt.to_query() == "state:failed is:latest"
    assert _ids(store.page(flt)) == ["lone"]
    assert store.count(JobFilter.parse("state:failed")) == 3  # every failed attempt stays findable
    assert store.failing_count() == 1


def test_a_typed_profile_is_a_prefix_and_a_given_one_is_exact(store: JobStore) -> None:
    store.add_many([job("a", profile="sim-api"), job("b", profile="sim-dedicated"), job("c", profile="local")])
    assert sorted(store.ids(JobFilter.parse("profile:sim"))) == ["a", "b"]
    assert store.ids(JobFilter.parse("profile:sim-d")) == ["b"]
    assert store.ids(JobFilter(profile="sim")) == []  # the CLI's -p names one profile
    assert JobFilter.parse("profile:sim").matches(store.get("a"))
    assert not JobFilter(profile="sim").matches(store.get("a"))
