"""scale: 100k jobs in the store — first frame, memory, newest page and a filter — vs the same jobs in DataTable.

Method: the store is filled once (`JobStore.add_many`, every job carrying the seed workflow, like real ones). Each
measurement runs in a fresh subprocess (`python -m bench.scale child KIND DATA_DIR`) so memory is that app's alone;
module imports happen before the clock starts. Headless `App.run_test(size=SCREEN_SIZE)`.
- first frame: comfyq = `ComfyqApp` over the store, to the end of the first frame in which the job table painted
  (bench/_probe.py); DataTable = the same jobs (same generator and seed) already in memory — reading them from the
  store is not counted, which favours the baseline — a DataTable with the same cell texts (`add_row` per job,
  keyed by id), run to its first painted frame.
- RSS: VmRSS of the child after the first frame (/proc/self/status; psutil is not installed), and peak (VmHWM).
- newest page: comfyq = the store query the CLI and detail views use (`JobStore.page(limit=100)`, newest first);
  DataTable = `sort(submitted, reverse=True)` of the loaded rows, to the next painted frame.
- filter `state:failed`: comfyq = `JobTable.set_filter(...)` (index rebuilt from one store query) to the next
  painted frame; DataTable = `clear()` + `add_row` of the matching jobs (filtered in Python) to the next frame.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import (
    SCREEN_SIZE,
    TABLE_COLUMNS,
    Row,
    Stat,
    bench_workflow,
    fill_store,
    make_jobs,
    make_launch,
    rss_mib,
    speedup,
    table_cells,
    temp_dir,
)

FIGURE = "scale"
TARGET_RATIO = 50.0
FILTER = "state:failed"
REPO = Path(__file__).resolve().parents[1]
_WAIT = 600.0


async def _until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + _WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


async def _painted_after(probe: Any, start: float) -> float:
    await _until(lambda: probe.paint_ends and probe.paint_ends[-1] > start, "a frame")
    return next(end for end in probe.paint_ends if end > start)


async def child_comfyq(data_dir: Path) -> dict[str, float]:
    import screens.main  # noqa: F401 - the app imports its screen on first use: imports stay outside the clock
    from bench._probe import FirstPaint, FrameProbe
    from tui.app import ComfyqApp
    from tui.core.store import JobFilter
    from tui.widgets.job_table import JobTable

    options = make_launch(data_dir)
    frames = FrameProbe()
    with FirstPaint(JobTable).installed() as first, frames.installed():
        start = time.perf_counter()
        app = ComfyqApp(options)
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await _until(lambda: first.painted_at is not None, "the first frame")
            assert first.painted_at is not None
            first_paint = first.painted_at - start
            current, peak = rss_mib()
            await pilot.pause()
            query_start = time.perf_counter()
            newest = app.store.page(limit=100)
            newest_ms = (time.perf_counter() - query_start) * 1000
            assert len(newest) == 100
            table = app.screen.query_one(JobTable)
            filter_start = time.perf_counter()
            table.set_filter(JobFilter.parse(FILTER))
            filter_end = await _painted_after(frames, filter_start)
            rows = table.row_count
    await app.shutdown()
    return {"first_paint": first_paint, "rss": current, "peak": peak, "newest": newest_ms,
            "filter": (filter_end - filter_start) * 1000, "filtered_rows": rows}


async def child_datatable(jobs_count: int) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from bench._probe import FirstPaint, FrameProbe
    from tui.core.jobs import JobState

    # The same jobs the store holds (same generator, same seed), already in memory: reading them from the store
    # (≈ 3/4 of a naive app's start at 100k, decoding every workflow) is NOT counted — this favours the baseline.
    jobs = make_jobs(jobs_count)

    class JobsApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.jobs = jobs

        def compose(self) -> ComposeResult:
            yield DataTable(id="jobs", cursor_type="row")

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            self.columns = table.add_columns(*TABLE_COLUMNS)
            now = time.time()
            for job in self.jobs:
                table.add_row(*table_cells(job, now), key=job.id)
            table.focus()

    frames = FrameProbe()
    with FirstPaint(DataTable).installed() as first, frames.installed():
        start = time.perf_counter()
        app = JobsApp()
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await _until(lambda: first.painted_at is not None, "the first frame")
            assert first.painted_at is not None
            first_paint = first.painted_at - start
            current, peak = rss_mib()
            await pilot.pause()
            table = app.query_one(DataTable)
            sort_start = time.perf_counter()
            table.sort(app.columns[5], reverse=True)
            sort_end = await _painted_after(frames, sort_start)
            filter_start = time.perf_counter()
            now = time.time()
            table.clear()
            failed = [job for job in app.jobs if job.state is JobState.FAILED]
            for job in failed:
                table.add_row(*table_cells(job, now), key=job.id)
            filter_end = await _painted_after(frames, filter_start)
            rows = table.row_count
    return {"first_paint": first_paint, "rss": current, "peak": peak, "newest": (sort_end - sort_start) * 1000,
            "filter": (filter_end - filter_start) * 1000, "filtered_rows": rows}


def _child(kind: str, data_dir: Path, jobs: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "child", kind, str(data_dir), str(jobs)],
        cwd=REPO,
        env={key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")},
        capture_output=True,
        text=True,
        timeout=_WAIT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale child {kind} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(jobs: int = 100_000, runs: int = 5) -> list[Row]:
    from tui.core.locations import resolve_locations

    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    with temp_dir("scale") as tmp:
        data_dir = Path(tmp)
        fill_store(resolve_locations(data_dir / "config.toml", data_dir).store_file,
                   make_jobs(jobs, workflow=bench_workflow()))
        for _ in range(runs):
            ours.append(_child("comfyq", data_dir, jobs))
            base.append(_child("datatable", data_dir, jobs))
    if {r["filtered_rows"] for r in ours} != {r["filtered_rows"] for r in base}:
        raise RuntimeError("the two filters did not find the same jobs")

    def stat(results: list[dict[str, float]], key: str, unit: str, scale: float = 1.0) -> Stat:
        return Stat.of([r[key] * scale for r in results], unit)

    label = f"scale {jobs // 1000}k jobs"
    paint_ours, paint_base = stat(ours, "first_paint", "ms", 1000), stat(base, "first_paint", "ms", 1000)
    rss_ours, rss_base = stat(ours, "rss", "MiB"), stat(base, "rss", "MiB")
    newest_ours, newest_base = stat(ours, "newest", "ms"), stat(base, "newest", "ms")
    filter_ours, filter_base = stat(ours, "filter", "ms"), stat(base, "filter", "ms")
    paint_ratio = speedup(paint_base, paint_ours)
    return [
        Row(f"{label}: start to first frame", paint_ours, paint_base, paint_ratio, "× faster",
            f"≥ {TARGET_RATIO:g}× DataTable", None if paint_ratio is None else paint_ratio >= TARGET_RATIO,
            extra={"peak_rss_mib": {"comfyq": [r["peak"] for r in ours], "datatable": [r["peak"] for r in base]}}),
        Row(f"{label}: RSS after first frame", rss_ours, rss_base, speedup(rss_base, rss_ours), "× less", "—",
            None),
        Row(f"{label}: newest page", newest_ours, newest_base, speedup(newest_base, newest_ours), "× faster", "—",
            None, note="comfyq: store query; DataTable: sort + repaint"),
        Row(f"{label}: filter {FILTER}", filter_ours, filter_base, speedup(filter_base, filter_ours), "× faster",
            "—", None, note="to the repainted table"),
    ]


def run(runs: int = 5, jobs: int = 100_000) -> list[Row]:
    return measure(jobs, runs)


def _child_main(argv: list[str]) -> int:
    kind, data_dir, jobs = argv[0], Path(argv[1]), int(argv[2])
    result = asyncio.run(child_comfyq(data_dir) if kind == "comfyq" else child_datatable(jobs))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "child":
        raise SystemExit(_child_main(sys.argv[2:]))
    raise SystemExit("usage: python -m bench.scale child comfyq|datatable DATA_DIR JOBS (use python -m bench)")
