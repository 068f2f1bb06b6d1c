"""stats: service statistics over 100k jobs (target ≤ 100 ms) — the SQL over v5's indexes vs a naive Python pass.

Method: the store is filled once with `make_jobs(jobs)` (the 500 newest active, about 1 in 10 finished ones failed;
one second apart, so a last-hour window holds ~3,600 of them and `all` every one). Queue waits and run times are
spread (0–30 s wait, 5–125 s run, from the job's number) so the percentiles walk real distributions.

- comfyq: `compute_stats(store, window, JobFilter(profile=…))` — exactly what `comfyq stats -p bench --since W`
  computes (counts, success rate, per hour, wait/run p50/p95/max, failures by node, outputs, run-time total,
  per-profile lines, the run-time histogram), on a store opened before the clock starts.
- baseline: the naive way — read every row (`SELECT data`), build each Job, keep those that finished in the window,
  and compute the same figures in Python (sort for the percentiles). The two results are compared: a row whose
  figures differ is reported as not measured, never as a speed.
Rows: the `all` window (every job) and the last hour, both for one profile. Medians of `runs` runs, alternating.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

from bench._common import PROFILE, Row, Stat, fill_store, make_jobs, not_measured, speedup, temp_dir
from tui.core.jobs import Job, JobState

FIGURE = "stats"
TARGET_MS = 100.0
_BAD = ("failed", "lost", "unknown")


def _spread(jobs: list[Job]) -> list[Job]:
    """Waits and runs that vary from job to job (make_jobs gives every job the same ones)."""
    spread = []
    for number, job in enumerate(jobs):
        stamps = dict(job.timestamps)
        submitted = stamps[JobState.SUBMITTING.value]
        if JobState.RUNNING.value in stamps:
            started = submitted + (number * 7919 % 3001) / 100.0  # 0–30 s in the queue
            stamps[JobState.RUNNING.value] = started
            if job.state.is_terminal:
                stamps[job.state.value] = started + 5 + (number * 104729 % 12001) / 100.0  # 5–125 s running
        elif job.state.is_terminal:
            stamps[job.state.value] = submitted + 1
        spread.append(dataclasses.replace(job, timestamps=stamps))
    return spread


def _naive(path: Path, window_seconds: float | None, now: float) -> dict[str, object]:
    """Every row read and parsed; the figures computed in Python."""
    import sqlite3

    from tui.core.stats import nearest_rank

    since = None if window_seconds is None else now - window_seconds
    db = sqlite3.connect(str(path))
    try:
        jobs = [Job.from_dict(json.loads(data)) for (data,) in db.execute("SELECT data FROM jobs")]
    finally:
        db.close()
    chosen = [
        job for job in jobs
        if job.profile == PROFILE and job.finished_at is not None and (since is None or job.finished_at >= since)
    ]
    waits = sorted(max(0.0, job.started_at - job.submitted_at) for job in chosen if job.started_at is not None)
    runs = sorted(max(0.0, job.finished_at - job.started_at) for job in chosen if job.started_at is not None)
    failures: dict[tuple[str, str | None], int] = {}
    for job in chosen:
        if job.failure is not None:
            key = (job.failure.category.value, job.failure.class_type)
            failures[key] = failures.get(key, 0) + 1
    return {
        "finished": len(chosen),
        "succeeded": sum(job.state is JobState.SUCCEEDED for job in chosen),
        "failed": sum(job.state.value in _BAD for job in chosen),
        "wait": (nearest_rank(waits, 50), nearest_rank(waits, 95), waits[-1]) if waits else None,
        "run": (nearest_rank(runs, 50), nearest_rank(runs, 95), runs[-1]) if runs else None,
        "outputs": sum(len(job.outputs) for job in chosen if job.state is JobState.SUCCEEDED),
        "run_total": sum(runs),
        "failures": sorted(failures.items()),
    }


def _ours(store: object, window_seconds: float | None, now: float) -> dict[str, object]:
    from tui.core.stats import Window, compute_stats
    from tui.core.store import JobFilter

    window = Window("all", None) if window_seconds is None else Window(f"{window_seconds:g}s", window_seconds)
    stats = compute_stats(store, window, JobFilter(profile=PROFILE), now=now)  # type: ignore[arg-type]
    return {
        "finished": stats.finished,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "wait": (stats.wait.p50, stats.wait.p95, stats.wait.max) if stats.wait.count else None,
        "run": (stats.run.p50, stats.run.p95, stats.run.max) if stats.run.count else None,
        "outputs": stats.outputs_total,
        "run_total": stats.run_time_total,
        "failures": sorted(((f.category, f.node), f.count) for f in stats.failures),
    }


def _same(mine: dict[str, object], theirs: dict[str, object]) -> bool:
    """Equal figures; the run-time totals only to rounding (SQLite and Python add in different orders)."""
    totals = (float(mine["run_total"]), float(theirs["run_total"]))  # type: ignore[arg-type]
    rest = [{k: v for k, v in figures.items() if k != "run_total"} for figures in (mine, theirs)]
    return rest[0] == rest[1] and math.isclose(*totals, rel_tol=1e-9, abs_tol=1e-6)


def run(runs: int = 5, jobs: int = 100_000) -> list[Row]:
    from tui.core.store import JobStore

    rows: list[Row] = []
    with temp_dir(FIGURE) as directory:
        path = Path(directory) / "jobs.sqlite3"
        fill_store(path, _spread(make_jobs(jobs)))
        store = JobStore(path)
        try:
            for label, seconds in (("all", None), ("last hour", 3600.0)):
                ours: list[float] = []
                naive: list[float] = []
                now = time.time()
                same = True
                for _ in range(runs):
                    start = time.perf_counter()
                    mine = _ours(store, seconds, now)
                    ours.append((time.perf_counter() - start) * 1000)
                    start = time.perf_counter()
                    theirs = _naive(path, seconds, now)
                    naive.append((time.perf_counter() - start) * 1000)
                    same = same and _same(mine, theirs)
                title = f"stats over {jobs:,} jobs, window {label} (profile)"
                target = f"≤ {TARGET_MS:g} ms"
                if not same:
                    rows.append(not_measured(title, target, f"figures differ from the naive pass: {mine} vs {theirs}"))
                    continue
                mine_stat, naive_stat = Stat.of(ours, "ms"), Stat.of(naive, "ms")
                finished = mine["finished"]
                rows.append(Row(title, mine_stat, naive_stat, speedup(naive_stat, mine_stat), "× faster", target,
                                mine_stat.median <= TARGET_MS and not math.isnan(mine_stat.median),
                                note=f"{finished:,} finished jobs in the window"))
        finally:
            store.close()
    return rows
