"""The job model's one transition function (design.md §3): every legal and illegal move, idempotence, field rules,
and the exact round trip of a Job through to_dict/from_dict (how the store keeps it)."""

from __future__ import annotations

import itertools
import json

import pytest

from tui.core.jobs import (
    Edition,
    Failure,
    FailureCategory,
    Job,
    JobState,
    JobUpdate,
    NodeError,
    Output,
    Progress,
    apply_update,
    is_legal_move,
)

S = JobState
T0 = 1_000.0

# Written out by hand (not derived from the code under test): the moves a job may make.
LEGAL_MOVES: frozenset[tuple[str, str]] = frozenset(
    {
        ("submitting", "queued"),
        ("submitting", "running"),
        ("queued", "running"),
        *((active, end) for active in ("submitting", "queued", "running")
          for end in ("succeeded", "failed", "cancelled", "lost", "unknown")),
        # A late, real result may still settle a job we gave up on or could not read.
        ("lost", "succeeded"),
        ("lost", "failed"),
        ("lost", "cancelled"),
        ("unknown", "succeeded"),
        ("unknown", "failed"),
        ("unknown", "cancelled"),
    }
)
ALL_PAIRS = [(a, b) for a, b in itertools.product(JobState, JobState) if a is not b]


def make_job(state: JobState = S.SUBMITTING, **fields: object) -> Job:
    stamps = {"submitting": T0}
    if state is not S.SUBMITTING:
        stamps[state.value] = T0 + 1
    base: dict = dict(id="j1", profile="p", edition=Edition.DEDICATED, workflow={"1": {}}, state=state,
                      timestamps=stamps)
    base.update(fields)
    return Job(**base)  # type: ignore[arg-type]


def test_the_hand_written_table_covers_every_pair() -> None:
    assert len(ALL_PAIRS) == 56
    assert len(LEGAL_MOVES) == 3 + 15 + 6


@pytest.mark.parametrize(("current", "new"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_move(current: JobState, new: JobState) -> None:
    job = make_job(current)
    result = apply_update(job, JobUpdate("j1", state=new, at=T0 + 5, prompt_id="late-id"))
    legal = (current.value, new.value) in LEGAL_MOVES
    assert is_legal_move(current, new) is legal
    if legal:
        assert result is not None
        assert result.state is new
        assert result.timestamps[new.value] == T0 + 5
        assert result.timestamps["submitting"] == T0  # earlier stamps are kept
        assert result.prompt_id == "late-id"
    else:
        # Refused whole: none of the update's fields are applied.
        assert result is None
    assert job.state is current  # the input is never mutated


@pytest.mark.parametrize("state", list(JobState))
def test_the_same_state_again_is_no_change(state: JobState) -> None:
    assert is_legal_move(state, state)
    assert apply_update(make_job(state), JobUpdate("j1", state=state, at=T0 + 9)) is None


def test_the_same_update_twice_changes_once() -> None:
    job = make_job(S.QUEUED)
    update = JobUpdate("j1", state=S.RUNNING, at=T0 + 2, progress=Progress("3", "KSampler", 1, 20))
    once = apply_update(job, update)
    assert once is not None and once.state is S.RUNNING
    assert apply_update(once, update) is None


def test_a_late_running_after_succeeded_is_ignored() -> None:
    done = make_job(S.SUCCEEDED, outputs=(Output("9", "output", "", "a.png"),))
    assert apply_update(done, JobUpdate("j1", state=S.RUNNING, progress=Progress("3", None, 5, 20))) is None
    assert apply_update(done, JobUpdate("j1", state=S.QUEUED, queue_position=2)) is None
    # ... and so is a state-less progress report arriving after the end.
    assert apply_update(done, JobUpdate("j1", progress=Progress("3", None, 6, 20))) is None
    assert apply_update(done, JobUpdate("j1", queue_position=1)) is None


def test_a_late_queued_after_running_is_ignored() -> None:
    assert apply_update(make_job(S.RUNNING), JobUpdate("j1", state=S.QUEUED, queue_position=4)) is None


def test_the_first_time_a_state_was_entered_is_kept() -> None:
    job = make_job(S.SUBMITTING, timestamps={"submitting": T0, "running": T0 + 3})
    moved = apply_update(job, JobUpdate("j1", state=S.RUNNING, at=T0 + 7))
    assert moved is not None and moved.timestamps["running"] == T0 + 3


def test_at_defaults_to_now() -> None:
    moved = apply_update(make_job(), JobUpdate("j1", state=S.QUEUED), now=T0 + 42)
    assert moved is not None and moved.timestamps["queued"] == T0 + 42


def test_queue_position_only_while_queued() -> None:
    queued = apply_update(make_job(), JobUpdate("j1", state=S.QUEUED, queue_position=3))
    assert queued is not None and queued.queue_position == 3
    closer = apply_update(queued, JobUpdate("j1", queue_position=1))
    assert closer is not None and closer.queue_position == 1
    assert apply_update(closer, JobUpdate("j1", queue_position=1)) is None
    running = apply_update(closer, JobUpdate("j1", state=S.RUNNING, queue_position=7))
    assert running is not None and running.queue_position is None  # cleared when it left the queue
    assert apply_update(running, JobUpdate("j1", queue_position=2)) is None
    # A position reported before the job is known to be queued is not a queue position yet.
    assert apply_update(make_job(), JobUpdate("j1", queue_position=5)) is None


def test_progress_is_cleared_at_the_end_and_never_comes_back() -> None:
    running = make_job(S.RUNNING, progress=Progress("3", "KSampler", 10, 20))
    stepped = apply_update(running, JobUpdate("j1", progress=Progress("3", "KSampler", 11, 20)))
    assert stepped is not None and stepped.progress == Progress("3", "KSampler", 11, 20)
    ended = apply_update(stepped, JobUpdate("j1", state=S.SUCCEEDED, progress=Progress("3", "KSampler", 20, 20)))
    assert ended is not None and ended.progress is None


def test_outputs_are_filled_in_later_on_a_succeeded_job() -> None:
    # The /history race: the entry says success before its outputs are there.
    done = make_job(S.SUCCEEDED, raw_result='{"outputs": {}}')
    outputs = (Output("9", "output", "", "ComfyUI_00001_.png"), Output("9", "temp", "", "t.png"))
    filled = apply_update(done, JobUpdate("j1", state=S.SUCCEEDED, outputs=outputs, raw_result='{"outputs": 1}'))
    assert filled is not None
    assert filled.outputs == outputs
    assert filled.raw_result == '{"outputs": 1}'  # the raw result that came with the outputs replaces the empty one
    assert filled.timestamps == done.timestamps
    # A late, empty duplicate never erases them; the same outputs again are no change.
    assert apply_update(filled, JobUpdate("j1", state=S.SUCCEEDED, outputs=())) is None
    assert apply_update(filled, JobUpdate("j1", outputs=outputs)) is None


def test_a_finished_jobs_raw_result_is_not_replaced_by_a_duplicate() -> None:
    done = make_job(S.SUCCEEDED, raw_result="first")
    assert apply_update(done, JobUpdate("j1", state=S.SUCCEEDED, raw_result="second")) is None
    unset = make_job(S.SUCCEEDED)
    set_once = apply_update(unset, JobUpdate("j1", raw_result="first"))
    assert set_once is not None and set_once.raw_result == "first"


def test_the_first_failure_of_a_finished_job_stays() -> None:
    first = Failure(FailureCategory.EXECUTION, "boom", node_id="3")
    failed = apply_update(make_job(S.RUNNING), JobUpdate("j1", state=S.FAILED, failure=first))
    assert failed is not None and failed.failure == first
    later = Failure(FailureCategory.TRANSPORT, "timeout")
    assert apply_update(failed, JobUpdate("j1", state=S.FAILED, failure=later)) is None
    assert apply_update(failed, JobUpdate("j1", failure=later)) is None


def test_a_late_result_settles_a_lost_job_and_drops_its_old_failure() -> None:
    lost = make_job(S.LOST, failure=Failure(FailureCategory.TRANSPORT, "no result for 10 minutes"))
    settled = apply_update(lost, JobUpdate("j1", state=S.SUCCEEDED, outputs=(Output("9", "output", "", "a.png"),)))
    assert settled is not None
    assert settled.state is S.SUCCEEDED
    assert settled.failure is None
    assert settled.timestamps["lost"] == T0 + 1  # history is kept
    failed = apply_update(lost, JobUpdate("j1", state=S.FAILED, failure=Failure(FailureCategory.EXECUTION, "oom")))
    assert failed is not None and failed.failure == Failure(FailureCategory.EXECUTION, "oom")


def test_an_unknown_result_is_replaced_by_a_parseable_one() -> None:
    unknown = make_job(S.UNKNOWN, raw_result="\x00garbage")
    failed = apply_update(
        unknown, JobUpdate("j1", state=S.FAILED, raw_result="{}", failure=Failure(FailureCategory.EXECUTION, "x"))
    )
    assert failed is not None and failed.raw_result == "{}" and failed.state is S.FAILED


def test_ids_are_only_filled_in_never_overwritten() -> None:
    job = make_job(S.QUEUED, prompt_id="ours", queue_index=4)
    update = JobUpdate("j1", prompt_id="theirs", queue_index=9, request_id="r-1", sink_index=12)
    changed = apply_update(job, update)
    assert changed is not None
    assert (changed.prompt_id, changed.queue_index, changed.request_id, changed.sink_index) == ("ours", 4, "r-1", 12)
    assert apply_update(changed, update) is None


def test_ids_reach_a_finished_job_without_a_state() -> None:
    # The engine stores the submit answer's ids on their own, since a fast result may already have ended the job.
    done = make_job(S.SUCCEEDED)
    changed = apply_update(done, JobUpdate("j1", queue_index=7, request_id="r"))
    assert changed is not None and (changed.queue_index, changed.request_id, changed.state) == (7, "r", S.SUCCEEDED)


def test_a_warning_can_be_set_and_cleared() -> None:
    warned = apply_update(make_job(S.SUCCEEDED), JobUpdate("j1", warning="no outputs in /history yet"))
    assert warned is not None and warned.warning == "no outputs in /history yet"
    cleared = apply_update(warned, JobUpdate("j1", warning=""))
    assert cleared is not None and cleared.warning is None
    assert apply_update(cleared, JobUpdate("j1", warning="")) is None


def test_an_empty_update_is_no_change() -> None:
    for state in JobState:
        assert apply_update(make_job(state), JobUpdate("j1")) is None


def test_durations() -> None:
    job = make_job(S.SUBMITTING)
    assert job.duration(now=T0 + 4) == 4
    done = apply_update(job, JobUpdate("j1", state=S.FAILED, at=T0 + 10))
    assert done is not None and done.duration(now=T0 + 99) == 10 and done.finished_at == T0 + 10


# ----- round trip --------------------------------------------------------------------------------------------------


def full_job() -> Job:
    return Job(
        id="0123456789abcdef0123456789abcdef",
        profile="artlab-api",
        edition=Edition.API,
        workflow={"3": {"class_type": "KSampler", "inputs": {"seed": 5, "cfg": 7.5, "model": ["4", 0]}}},
        state=S.FAILED,
        task_id="comfyq-0123",
        prompt_id="p-1",
        client_id="c-1",
        queue_index=17,
        request_id="req-9",
        sink_index=3,
        timestamps={"submitting": 1.25, "queued": 2.5, "running": 3.0, "failed": 4.125},
        progress=Progress("3", "KSampler", 2.5, 20),
        queue_position=2,
        outputs=(Output("9", "output", "sub/dir", "ComfyUI_00001_.png"), Output("10", "temp", "", "t é.png")),
        failure=Failure(
            FailureCategory.REJECTED,
            "node 4 CheckpointLoaderSimple: ckpt_name 'x.safetensors' not in []",
            node_id="4",
            class_type="CheckpointLoaderSimple",
            exception_type="ValueError",
            traceback=("line 1\n", "line 2\n"),
            node_errors=(NodeError("4", "CheckpointLoaderSimple", "value_not_in_list", "not in list", "d", "ckpt_name"),),
        ),
        warning="careful",
        raw_result='{"error": "\u2603"}',
        parent_id="fedcba",
        attempt=3,
        external=True,
        params={"3.seed": 5, "6.text": "a cat"},
    )


@pytest.mark.parametrize("job", [full_job(), make_job(), Job("x", "p", Edition.API, None)], ids=["full", "small", "bare"])
def test_a_job_round_trips_exactly_through_json(job: Job) -> None:
    again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job
    assert type(again.outputs) is tuple and type(again.failure.traceback if again.failure else ()) is tuple
    assert again.edition is job.edition and again.state is job.state


def test_from_dict_fills_in_what_an_older_version_did_not_write() -> None:
    job = Job.from_dict({"id": "x", "profile": "p", "edition": "dedicated"})
    assert job == Job("x", "p", Edition.DEDICATED, None)


def test_unreachable_since_is_set_once_cleared_by_zero_and_dropped_when_the_job_ends() -> None:
    running = make_job(S.RUNNING)
    marked = apply_update(running, JobUpdate("j1", unreachable_since=T0 + 5))
    assert marked is not None and marked.unreachable_since == T0 + 5
    # The first moment counts: a later failed look does not move it.
    assert apply_update(marked, JobUpdate("j1", unreachable_since=T0 + 9)) is None
    cleared = apply_update(marked, JobUpdate("j1", unreachable_since=0))
    assert cleared is not None and cleared.unreachable_since is None
    assert apply_update(cleared, JobUpdate("j1", unreachable_since=0)) is None  # clearing nothing is no change
    lost = apply_update(marked, JobUpdate("j1", state=S.LOST, failure=Failure(FailureCategory.LOST, "forgotten")))
    assert lost is not None and lost.unreachable_since is None and lost.failure is not None
    assert lost.failure.category is FailureCategory.LOST
    # A finished job is never marked.
    assert apply_update(make_job(S.SUCCEEDED), JobUpdate("j1", unreachable_since=T0)) is None
    assert Job.from_dict(marked.to_dict()) == marked
