"""Shared pieces of the benchmarks: result rows, statistics, memory, job factories, an app config.

Every figure produces `Row`s: one measured quantity for comfyq and its baseline, each a `Stat` (median of the runs,
with min and max), the ratio, the target and whether it was met. A row that could not be measured says why in
`note` and carries no numbers — a number is never invented.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, Output, Progress

# The size the headless apps are run at: a roomy terminal, so the job table shows ~35 rows.
SCREEN_SIZE = (160, 48)


@dataclass(frozen=True)
class Stat:
    """The median of a figure's runs, with the smallest and largest run."""

    median: float
    low: float
    high: float
    runs: int
    unit: str = ""

    @classmethod
    def of(cls, values: Sequence[float], unit: str = "") -> Stat:
        if not values:
            raise ValueError("no values")
        return cls(statistics.median(values), min(values), max(values), len(values), unit)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Row:
    """One line of the printed table."""

    figure: str
    comfyq: Stat | None
    baseline: Stat | None
    ratio: float | None  # how many times better comfyq is (or comfyq/baseline where the target says so)
    ratio_label: str  # what the ratio means, e.g. "× faster", "× bare"
    target: str
    met: bool | None  # None: no target on this row, or not measured
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "comfyq": self.comfyq.to_dict() if self.comfyq else None,
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "ratio": self.ratio,
            "ratio_label": self.ratio_label,
            "target": self.target,
            "met": self.met,
            "note": self.note,
            "extra": self.extra,
        }


def not_measured(figure: str, target: str, why: str) -> Row:
    return Row(figure, None, None, None, "", target, None, note=f"not measured: {why}")


def speedup(baseline: Stat | None, comfyq: Stat | None) -> float | None:
    """baseline / comfyq on medians (for lower-is-better figures)."""
    if baseline is None or comfyq is None or comfyq.median <= 0:
        return None
    return baseline.median / comfyq.median


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc/self/status (psutil is not installed)."""
    current = peak = float("nan")
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    current = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return current, peak


def temp_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"comfyq-bench-{prefix}-")


def compiled_env(pycache: Path) -> dict[str, str]:
    """The environment for a measured subprocess: this one's, without COMFYQ_* settings, and with compiled modules
    read from and written to a private cache (`pycache`), as an installed program has them. Without it, a
    PYTHONDONTWRITEBYTECODE here would make comfyq recompile its own modules on every run while its baseline's
    imports come precompiled from site-packages. Fill the cache with one unmeasured run of each side."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------- jobs

PROFILE = "bench"
_NODE_CLASSES = ("KSampler", "VAEDecode", "CLIPTextEncode", "SaveImage")


def bench_workflow() -> dict[str, Any]:
    """The seed's SD1.5 graph (what every stored job carries)."""
    from tui.core.workflow import seed_workflow

    return seed_workflow().to_dict()


def make_jobs(
    count: int,
    *,
    active: int = 500,
    profile: str = PROFILE,
    edition: Edition = Edition.DEDICATED,
    workflow: dict[str, Any] | None = None,
    seed: int = 7,
) -> list[Job]:
    """`count` jobs as a busy user's store holds them: the `active` newest running or queued, the rest finished
    (mostly succeeded with one output, about 1 in 10 failed). Submission times one second apart, newest last."""
    rng = random.Random(seed)
    now = time.time()
    jobs: list[Job] = []
    for number in range(count):
        submitted = now - (count - number)
        age_rank = count - 1 - number  # 0 = newest
        job_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        prompt_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        stamps = {JobState.SUBMITTING.value: submitted, JobState.QUEUED.value: submitted + 0.05}
        job = Job(
            id=job_id,
            profile=profile,
            edition=edition,
            workflow=workflow,
            prompt_id=prompt_id if edition is Edition.DEDICATED else None,
            task_id=f"comfyq-{job_id}" if edition is Edition.API else None,
            timestamps=stamps,
        )
        if age_rank < active:
            if age_rank % 3 == 0:
                job.state = JobState.QUEUED
                job.queue_position = age_rank
            else:
                job.state = JobState.RUNNING
                stamps[JobState.RUNNING.value] = submitted + 0.5
                job.progress = Progress("3", "KSampler", rng.randint(0, 19), 20)
        elif number % 10 == 3:
            job.state = JobState.FAILED
            stamps[JobState.FAILED.value] = submitted + 0.8
            job.failure = Failure(
                FailureCategory.EXECUTION,
                "Error(s) in KSampler: CUDA out of memory",
                node_id="3",
                class_type="KSampler",
                exception_type="torch.OutOfMemoryError",
            )
        else:
            job.state = JobState.SUCCEEDED
            stamps[JobState.RUNNING.value] = submitted + 0.1
            stamps[JobState.SUCCEEDED.value] = submitted + 0.9
            job.outputs = (Output("9", "output", "", f"ComfyUI_{number:08d}_.png"),)
        jobs.append(job)
    return jobs


def fill_store(path: Path, jobs: Sequence[Job], batch: int = 5000) -> None:
    from tui.core.store import JobStore

    store = JobStore(path)
    try:
        for start in range(0, len(jobs), batch):
            store.add_many(jobs[start : start + batch])
    finally:
        store.close()


def progress_event(job: Job, value: int) -> Job:
    """The job as a websocket `progress` message leaves it: running, KSampler at step `value` of 20."""
    return dataclasses.replace(
        job,
        state=JobState.RUNNING,
        queue_position=None,
        progress=Progress("3", _NODE_CLASSES[value % len(_NODE_CLASSES)], value % 21, 20),
    )


# --------------------------------------------------------------------------------------------------- the app


def app_config_text(url: str = "http://127.0.0.1:9") -> str:
    """One dedicated profile; the benchmarks that open the app never start the engine, so nothing is contacted."""
    return (
        "[defaults]\npoll_interval = 1.0\n\n"
        f"[profiles.{PROFILE}]\nedition = \"dedicated\"\nurl = \"{url}\"\n"
        'oss_bucket_path = "oss://bench-bucket/data"\n'
    )


def make_launch(data_dir: Path, *, config_text: str | None = None) -> Any:
    """LaunchOptions for ComfyqApp over `data_dir` (config written there), engine not started."""
    from tui.app import LaunchOptions
    from tui.core.config import load_config
    from tui.core.locations import resolve_locations
    from tui.core.workflow import seed_workflow

    config_file = data_dir / "config.toml"
    config_file.write_text(config_text or app_config_text(), encoding="utf-8")
    locations = resolve_locations(config_file, data_dir)
    config = load_config(locations.config_file, explicit=True)
    return LaunchOptions(config=config, locations=locations, workflow=seed_workflow(), start_engine=False)


def table_cells(job: Job, now: float) -> tuple[str, ...]:
    """The same cell texts comfyq's table shows, for the DataTable baselines (same content, same work to format)."""
    from tui.core.presentation import (
        STATE_ICONS,
        error_summary,
        format_clock,
        format_duration,
        progress_text,
        remote_id,
        short_id,
    )

    return (
        f"{STATE_ICONS[job.state]} {job.state.value}",
        short_id(job.id),
        job.profile,
        remote_id(job),
        progress_text(job, 26),
        format_clock(job.submitted_at, now),
        format_duration(job.duration(now)),
        str(len(job.outputs)) if job.outputs else ("" if job.state.is_active else "0"),
        error_summary(job),
    )


TABLE_COLUMNS = ("state", "id", "profile", "task / prompt id", "queue / progress", "submitted", "duration", "out", "error")
