"""Batches in the core (issue 14): naming, the job-count cap, planning copies and sweeps, sweep parsing, the
store's batch queries, and the terminal notification sequences."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tui.core.batch import (
    BatchError,
    SeedMode,
    batch_progress,
    check_batch_name,
    check_job_count,
    default_batch_name,
    job_seed,
    new_batch_name,
    plan_jobs,
    resolve_batch,
)
from tui.core.jobs import Edition, Job, JobState
from tui.core.notify import notification_sequence
from tui.core.store import JobFilter, JobStore
from tui.core.sweep import SweepAxis, SweepError, parse_sweep
from tui.core.workflow import Workflow, seed_workflow

SEED = seed_workflow().nodes["3"]["inputs"]["seed"]


def _two_samplers() -> Workflow:
    """KSampler + SamplerCustom-style RandomNoise: both seeds vary together."""
    nodes = dict(seed_workflow().nodes)
    nodes["20"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 42}}
    return Workflow(nodes, "two.json")


# ----------------------------------------------------------------------------------------------- plan


def test_copies_vary_every_seed_input_and_the_first_keeps_the_editors() -> None:
    plan = plan_jobs(_two_samplers(), copies=4, rng=random.Random(1))
    firsts = [(job.nodes["3"]["inputs"]["seed"], job.nodes["20"]["inputs"]["noise_seed"]) for job in plan]
    assert firsts[0] == (SEED, 42)
    assert len(set(firsts)) == 4 and len({seed for pair in firsts for seed in pair}) == 8
    assert [job.params for job in plan][0] == {"3.seed": SEED, "20.noise_seed": 42}


def test_same_seed_makes_identical_copies_and_random_changes_the_first_too() -> None:
    same = plan_jobs(seed_workflow(), copies=3, seed_mode=SeedMode.SAME)
    assert all(job.nodes == seed_workflow().nodes for job in same)
    fresh = plan_jobs(seed_workflow(), copies=3, seed_mode=SeedMode.RANDOM, rng=random.Random(2))
    assert SEED not in {job.params["3.seed"] for job in fresh}


def test_plan_shares_unchanged_nodes_and_never_edits_the_workflow() -> None:
    workflow = seed_workflow()
    before = workflow.to_dict()
    plan = plan_jobs(workflow, copies=3, axes=[SweepAxis("3", "cfg", (5.0, 7.0))])
    assert workflow.nodes == before
    assert all(job.nodes["4"] is workflow.nodes["4"] for job in plan)  # no deep copy per job
    assert len({id(job.nodes["3"]) for job in plan}) == 6


def test_a_sweep_is_the_cartesian_product_and_copy_k_has_one_seed_across_the_grid() -> None:
    axes = [SweepAxis("3", "cfg", (5.0, 7.0)), SweepAxis("3", "steps", (20, 30, 40))]
    plan = plan_jobs(seed_workflow(), copies=2, axes=axes, params={"5.width": "64"}, rng=random.Random(3))
    assert len(plan) == 12
    combos = [(job.params["3.cfg"], job.params["3.steps"]) for job in plan]
    assert sorted(set(combos)) == [(5.0, 20), (5.0, 30), (5.0, 40), (7.0, 20), (7.0, 30), (7.0, 40)]
    assert all(job.params["5.width"] == "64" for job in plan)
    assert {job.params["3.seed"] for job in plan[0::2]} == {SEED}  # copy 1 of every combination
    assert len({job.params["3.seed"] for job in plan[1::2]}) == 1  # copy 2: one new seed, the same everywhere


def test_a_swept_seed_is_not_reseeded() -> None:
    plan = plan_jobs(seed_workflow(), copies=2, axes=[SweepAxis("3", "seed", (1, 2))])
    assert sorted(job.nodes["3"]["inputs"]["seed"] for job in plan) == [1, 1, 2, 2]


def test_the_cap_is_checked_before_anything_is_built() -> None:
    with pytest.raises(BatchError, match=r"20,000 jobs, over the cap of 10,000 \(raise it with `max_jobs = 20000`"):
        plan_jobs(seed_workflow(), copies=2, axes=[SweepAxis("3", "steps", tuple(range(10_000)))])
    started = time.perf_counter()
    with pytest.raises(BatchError, match="-n 1000000 makes 1,000,000 jobs"):
        check_job_count(1_000_000, 10_000, what="-n 1000000")
    assert time.perf_counter() - started < 1  # refused, not built (a sanity bound, not a benchmark)


# ----------------------------------------------------------------------------------------------- names


def test_default_names_come_from_the_file_and_the_time() -> None:
    moment = time.mktime((2026, 12, 3, 10, 40, 55, 0, 0, -1))
    assert default_batch_name("/tmp/My Catalog.json", moment) == "My-Catalog-1203-104055"
    assert default_batch_name("<seed sd15_txt2img>", moment) == "sd15_txt2img-1203-104055"
    assert default_batch_name(None, moment) == "batch-1203-104055"


@pytest.mark.parametrize("bad", ["", "two words", "tab\tbed", "x" * 65, "-dash", "new\nline", "\x1b]52"])
def test_a_user_name_is_one_short_word(bad: str) -> None:
    with pytest.raises(BatchError):
        check_batch_name(bad)


def _job(store: JobStore, batch: str | None, state: JobState = JobState.SUCCEEDED, parent: str | None = None) -> Job:
    job = Job(id=f"j{store.total():04d}", profile="p", edition=Edition.DEDICATED, workflow={}, state=state,
              batch=batch, parent_id=parent, timestamps={"submitting": time.time()})
    store.add(job)
    return job


def test_names_resolve_exactly_or_by_a_unique_start_and_defaults_are_made_unique(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        _job(store, "spring")
        _job(store, "spring-2")
        _job(store, "summer")
        assert resolve_batch(store, "spring") == "spring"  # exact wins over a longer name
        assert resolve_batch(store, "su") == "summer"
        with pytest.raises(BatchError, match="could be any of: spring, spring-2, summer"):
            resolve_batch(store, "s")
        with pytest.raises(BatchError, match="no batch 'autumn'"):
            resolve_batch(store, "autumn")
        moment = time.time()
        first = new_batch_name(store, "wf.json", now=moment)
        _job(store, first)
        second = new_batch_name(store, "wf.json", now=moment)
        assert second == f"{first}-2"
        assert new_batch_name(store, "wf.json", "spring") == "spring"  # a chosen name adds to that batch


def test_progress_and_filters_count_the_latest_attempts(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        failed = _job(store, "spring", JobState.FAILED)
        _job(store, "spring", JobState.SUCCEEDED, parent=failed.id)  # its retry
        _job(store, "spring", JobState.RUNNING)
        _job(store, "spring-2", JobState.FAILED)
        progress = batch_progress(store, "spring")
        assert (progress.total, progress.ended, progress.succeeded, progress.failed) == (2, 1, 1, 0)
        assert progress.summary() == "spring 1/2 ✔ 1 ✘ 0" and not progress.done
        assert len(store.batch_latest_ids("spring")) == 2
        assert store.count(JobFilter(batch="spring", batch_exact=True)) == 3
        assert store.count(JobFilter(batch="spring")) == 4  # the query language's batch: is a prefix
        assert JobFilter(batch="spring", batch_exact=True).matches(failed)
        assert [job.batch for job in store.failed(JobFilter(batch="spring", batch_exact=True))] == []


def test_job_seed_reads_params_then_the_graph() -> None:
    assert job_seed({"3.seed": 5}) == 5
    assert job_seed({"3.steps": "7"}, seed_workflow().nodes) == SEED
    assert job_seed({}, None) is None


# ----------------------------------------------------------------------------------------------- sweeps


@pytest.mark.parametrize(
    "spec,values",
    [
        ("3.cfg=5,7.5,9", (5.0, 7.5, 9.0)),
        ("KSampler.steps=20..40:10", (20, 30, 40)),
        ("3.steps=3..1", (3, 2, 1)),
        ("3.cfg=1..2:0.25", (1.0, 1.25, 1.5, 1.75, 2.0)),
        ("3.cfg=1..2:0.1", tuple(round(1 + i / 10, 1) for i in range(11))),  # no float drift at the end
        ("3.sampler_name=euler, dpmpp_2m", ("euler", "dpmpp_2m")),
        ("6.text=a..b", ("a..b",)),  # text is never a range
    ],
)
def test_sweep_values_are_typed_like_the_input(spec: str, values: tuple) -> None:
    axis = parse_sweep(seed_workflow(), spec, cap=10_000)
    assert axis.values == values
    assert [type(v) for v in axis.values] == [type(v) for v in values]


def test_a_file_gives_one_value_a_line(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text("\ufeff# products\n  a red bottle  \n\n#skip\na blue bottle\r\n", encoding="utf-8")
    axis = parse_sweep(seed_workflow(), f"6.text=@{path.name}", cap=10_000, base_dir=tmp_path)
    assert axis.values == ("a red bottle", "a blue bottle") and axis.key == "6.text"


@pytest.mark.parametrize(
    "spec,message",
    [
        ("3.stepz=1,2", 'did you mean "steps"'),
        ("3.steps=abc", "takes an integer"),
        ("3.steps=1.5..3", "whole numbers"),
        ("3.steps=1..5:0", "cannot be 0"),
        ("3.steps=5..1:1", "never gets from 5 to 1 (use 5..1:-1)"),
        ("3.steps=1..", "start..stop"),
        ("3.steps=1,,2", "empty value"),
        ("3.steps=1..99999", "over the cap"),
        ("3.model=1,2", "is a link"),
        ("steps=1", "NODE.INPUT"),
        ("6.text=@nope.txt", "no such file"),
        ("6.text=@", "needs a file name"),
    ],
)
def test_bad_sweeps_say_what_is_wrong(spec: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(SweepError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_sweep(seed_workflow(), spec, cap=10_000, base_dir=tmp_path)


def test_an_empty_or_binary_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("# only a comment\n\n", encoding="utf-8")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(SweepError, match="no values"):
        parse_sweep(seed_workflow(), "6.text=@empty.txt", cap=10, base_dir=tmp_path)
    with pytest.raises(SweepError, match="not UTF-8"):
        parse_sweep(seed_workflow(), "6.text=@bin.txt", cap=10, base_dir=tmp_path)


# ----------------------------------------------------------------------------------------------- notify


def test_notifications_pick_the_terminals_sequence_and_fall_back_to_the_bell() -> None:
    foot = notification_sequence("comfyq: spring", "8/8 ended", env={"TERM": "foot"})
    assert foot == "\x1b]777;notify;comfyq: spring;8/8 ended\a"
    iterm = notification_sequence("comfyq", "done", env={"TERM_PROGRAM": "iTerm.app"})
    assert iterm == "\x1b]9;comfyq: done\a"
    assert notification_sequence("comfyq", "done", env={"TERM": "xterm-256color"}) == "\a"
    assert notification_sequence("comfyq", "done", "bell", env={"TERM": "foot"}) == "\a"
    assert notification_sequence("comfyq", "done", "off", env={"TERM": "foot"}) == ""
    tmux = notification_sequence("t", "b", env={"TERM": "foot", "TMUX": "/tmp/x"})
    assert tmux.startswith("\x1bPtmux;\x1b\x1b]777;") and tmux.endswith("\x1b\\\a")


def test_a_notification_cannot_carry_escapes_from_a_batch_name() -> None:
    sequence = notification_sequence("x\x1b]52;c;AAAA\a", "a;b", env={"TERM": "foot"})
    assert sequence.count("\x1b") == 1 and sequence.count("\a") == 1
    assert ";notify;" in sequence and "a,b" in sequence


# ----------------------------------------------------------------------------------------------- storing a batch


def test_a_batch_is_stored_exactly_as_its_graphs_whatever_they_share(tmp_path: Path) -> None:
    from tui.core.store.rows import SharedNodeEncoder as _SharedNodeEncoder, dumps as _dumps

    workflow = _two_samplers()
    workflow.nodes["7"] = {**workflow.nodes["7"], "inputs": {**workflow.nodes["7"]["inputs"], "text": "ünï \x1b ☃ \ud800"}}
    plan = plan_jobs(workflow, copies=3, axes=[SweepAxis("3", "cfg", (5.0, 7.5))], rng=random.Random(4))
    encode = _SharedNodeEncoder()
    for planned in plan:
        assert encode(planned.nodes) == _dumps(planned.nodes)  # byte for byte what one dumps per job gives
    assert encode(None) is None and encode({1: {}}) == _dumps({1: {}})  # type: ignore[dict-item]
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        jobs = [Job(id=f"b{n}", profile="p", edition=Edition.DEDICATED, workflow=planned.nodes, batch="b")
                for n, planned in enumerate(plan)]
        store.add_many(jobs)
        assert [store.get(job.id).workflow for job in jobs] == [planned.nodes for planned in plan]
        with pytest.raises(ValueError, match="job b1 is already stored"):
            store.add_many([Job(id="new", profile="p", edition=Edition.DEDICATED, workflow=None),
                            Job(id="b1", profile="p", edition=Edition.DEDICATED, workflow=None)])
        assert store.total() == len(plan)  # all or nothing
