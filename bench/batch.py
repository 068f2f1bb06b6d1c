"""batch: build and store a 10,000-job sweep before any network call, vs the naive loop (issue 14).

Method, both sides in this process, each run on a fresh job store (SQLite, WAL) in a temporary directory:
- comfyq: what `comfyq submit WF.json --sweep 3.cfg=1..10 --sweep 3.steps=1..10 --sweep 3.seed=1..100` does
  before its first request: parse the three sweeps (typed like `--set`), plan the 10,000 jobs
  (`Engine.plan_submission`: every job's graph shares the nodes it does not change; seeds, params, batch name, ids)
  and write them ahead (`JobStore.add_many`: shared nodes encoded once, one executemany, one transaction).
- baseline, the naive way: a plain Python loop over the same 10,000 combinations that deep-copies the workflow
  for each job, sets the three inputs, builds the same Job, and stores it with `JobStore.add` (one row per
  transaction).
Each run checks the store then holds exactly the 10,000 jobs with the 10,000 distinct combinations.
Target: comfyq ≤ 2 s (the issue's bound); the ratio says how much the naive loop costs more.
"""

from __future__ import annotations

import copy
import itertools
import time
from pathlib import Path

from bench._common import PROFILE, Row, Stat, speedup, temp_dir

FIGURE = "batch"
TARGET_SECONDS = 2.0
SEEDS = 100  # the third axis: 10 × 10 × SEEDS jobs


def _sweeps(seeds: int) -> tuple[str, ...]:
    return ("3.cfg=1..10", "3.steps=1..10", f"3.seed=1..{seeds}")


def _config(path: Path):  # type: ignore[no-untyped-def]
    from tui.core.config import parse_config_text

    return parse_config_text(f'[profiles.{PROFILE}]\nedition = "dedicated"\nurl = "http://127.0.0.1:9"\n', str(path))


def _check(store, jobs: int) -> None:  # type: ignore[no-untyped-def]
    stored = store.page(limit=jobs + 1)
    combos = {(job.workflow["3"]["inputs"]["cfg"], job.workflow["3"]["inputs"]["steps"],
               job.workflow["3"]["inputs"]["seed"]) for job in stored}
    if len(stored) != jobs or len(combos) != jobs:
        raise RuntimeError(f"expected {jobs} stored jobs with distinct combinations, got {len(stored)} / {len(combos)}")


def _comfyq(directory: Path, seeds: int = SEEDS) -> float:
    from tui.core.engine import Engine, SubmissionRequest
    from tui.core.store import JobStore
    from tui.core.sweep import parse_sweep
    from tui.core.workflow import seed_workflow

    store = JobStore(directory / "jobs.sqlite3")
    try:
        engine = Engine(_config(directory / "config.toml"), store)
        workflow = seed_workflow()
        started = time.perf_counter()
        axes = [parse_sweep(workflow, spec, cap=10_000) for spec in _sweeps(seeds)]
        jobs = engine.plan_submission(SubmissionRequest(PROFILE, workflow, sweep=axes))
        store.add_many(jobs)
        elapsed = time.perf_counter() - started
        _check(store, len(jobs))
        return elapsed
    finally:
        store.close()


def _naive(directory: Path, seeds: int = SEEDS) -> float:
    from tui.core.engine import Engine
    from tui.core.store import JobStore
    from tui.core.workflow import seed_workflow

    store = JobStore(directory / "jobs.sqlite3")
    try:
        engine = Engine(_config(directory / "config.toml"), store)
        profile = engine.profile(PROFILE)
        workflow = seed_workflow().nodes
        started = time.perf_counter()
        values = (
            [float(v) for v in range(1, 11)], list(range(1, 11)), list(range(1, seeds + 1)),
        )
        count = 0
        for cfg, steps, seed in itertools.product(*values):
            nodes = copy.deepcopy(workflow)
            nodes["3"]["inputs"].update(cfg=cfg, steps=steps, seed=seed)
            job = engine._new_job(profile, nodes, params={"3.cfg": cfg, "3.steps": steps, "3.seed": seed},
                                  batch="naive")
            store.add(job)
            count += 1
        elapsed = time.perf_counter() - started
        _check(store, count)
        return elapsed
    finally:
        store.close()


def run(runs: int = 5, seeds: int = SEEDS) -> list[Row]:
    ours: list[float] = []
    naive: list[float] = []
    for _ in range(runs):
        with temp_dir("batch") as name:
            ours.append(_comfyq(Path(name), seeds))
        with temp_dir("batch-naive") as name:
            naive.append(_naive(Path(name), seeds))
    comfyq = Stat.of(ours, "s")
    baseline = Stat.of(naive, "s")
    return [
        Row(
            f"batch: {100 * seeds:,}-job sweep built and written ahead (10 × 10 × {seeds})",
            comfyq,
            baseline,
            speedup(baseline, comfyq),
            "× faster",
            f"≤ {TARGET_SECONDS:g} s",
            comfyq.median <= TARGET_SECONDS if seeds == SEEDS else None,  # the bound is for 10,000 jobs
            note="comfyq: parse, plan (shared nodes), one executemany; naive: deepcopy + one transaction per job",
        )
    ]
