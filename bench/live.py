"""live updates: job events offered at a fixed rate into a 10k-job table, vs the same feed into Textual's DataTable.

Method (both sides, in this process, headless at SCREEN_SIZE):
- The store holds `rows` jobs (the newest `active` running or queued). A producer thread — standing in for the sink
  watcher / websocket — offers `rate` events per second for `seconds`: each event is a new version of one of the
  `active` newest jobs (a KSampler progress step), handed over exactly the way sources do it:
  `BackendContext.publish([job])` → the Engine's cross-thread coalescing → `JobChanged` on the event loop.
- comfyq: the real `ComfyqApp` (main screen, engine not connected to anything): JobChanged → `JobsDirty`
  (replaceable) → `jobs_signal` → `MainScreen._jobs_changed` → `JobTable.update_jobs` → `refresh_line`.
- baseline: a bare app with a `DataTable` of the same rows and cell texts, subscribed to the same Engine with the
  same coalescing (latest job per id, one replaceable message), calling `update_cell` for the state and progress
  cells of every changed job. Only the widget differs.
- event→screen latency: the producer timestamps every event (perf_counter) and notes its sequence number. A render
  hook sees which job version each painted line shows (comfyq: `JobTable._render_row(job, ...)`; DataTable:
  `_render_line_in_row(row_key, ...)` plus the version last given to `update_cell`); the events of that row up to
  that version are on screen at the end of that frame (`Screen._compositor_refresh`, see bench/_probe.py). Latency
  = frame end − event time. Events superseded before a paint count as shown by the paint of the newer version.
  Only events for rows in the viewport can reach the screen, so only those are measured (the rest still cost
  their handling); any measured event still not painted 1 s after the feed stops counts with its age then.
- key response: every 100 ms a `down` key is sent through the driver (as a terminal would); the time until the
  frame that paints the cursor on the next row. An `up` follows (not measured) so the cursor stays on screen.
- update frame: the main-thread cost of one frame under load = the feed handler's time since the previous frame
  (comfyq: `MainScreen._jobs_changed`; DataTable: the `update_cell` loop) + the periodic update (layout + paint,
  `Screen._on_timer_update`). Median over the frames of a run. Information (no target): what a person feels is
  the latency and the CPU below.
- CPU: the CPU time of this process (every thread: the app's event loop, the engine's coalescing) while the feed
  runs, minus the producer thread's own (it stands in for the sources, identical on both sides), as a share of one
  core.
- achieved rate: events the producer got through per second (the hand-over must never block a source thread).
Each app is started once per rate; the `runs` windows run back to back in it with a pause between them.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Both apps paint at the frame rate comfyq's launch sets (tui/commands/ui.py), which Textual reads once, when
# first imported: set before the import below (a value set by the user wins, as in the app; each row's note says
# the rate that was used).
os.environ.setdefault("TEXTUAL_FPS", "120")

from textual import events  # noqa: E402 - after TEXTUAL_FPS, see above
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import DataTable

from bench._common import (
    PROFILE,
    SCREEN_SIZE,
    TABLE_COLUMNS,
    Row,
    Stat,
    bench_workflow,
    fill_store,
    make_jobs,
    make_launch,
    percentile,
    progress_event,
    speedup,
    table_cells,
    temp_dir,
)
from bench._probe import FrameProbe, patched
from tui.core.jobs import Job
from tui.core.locations import resolve_locations

FIGURE = "live updates"
KEY_INTERVAL = 0.1
SETTLE_SECONDS = 1.0
TARGET_P99_MS = {1000: 30.0, 10000: 100.0}
TARGET_KEY_MS = 16.0  # one frame at 60 Hz
TARGET_CPU_CORES = {1000: 0.25}


# ------------------------------------------------------------------------------------------ measurement state


@dataclass
class Recorder:
    """What one window of load measured. Producer thread writes events; the UI thread writes paints."""

    visible: frozenset[str]
    pending: dict[str, collections.deque[tuple[int, float]]] = field(default_factory=dict)
    shown_this_frame: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    key_latencies: list[float] = field(default_factory=list)
    key_expect: int | None = None
    key_sent_at: float = 0.0
    key_painted: bool = False
    key_done: asyncio.Event = field(default_factory=asyncio.Event)  # set on the loop thread, by on_paint
    frame_costs: list[float] = field(default_factory=list)
    frame_handlers: list[float] = field(default_factory=list)  # the feed handler's share of each frame
    frame_paints: list[float] = field(default_factory=list)  # the periodic update's (layout + paint) share
    handler_time: float = 0.0
    offered: int = 0
    elapsed: float = 0.0
    producer_cpu: float = 0.0  # CPU seconds of the producer thread (not the app's: it stands in for the sources)
    active: bool = False

    def __post_init__(self) -> None:
        self.pending = {job_id: collections.deque() for job_id in self.visible}

    # ----- UI thread -----
    def shown(self, job_id: str, version: int | None) -> None:
        """A line showing `job_id` at `version` is being painted."""
        if version is None:
            return
        queue = self.pending.get(job_id)
        while queue and queue[0][0] <= version:
            self.shown_this_frame.append(queue.popleft()[1])

    def cursor_painted(self, row: int) -> None:
        if self.key_expect is not None and row == self.key_expect:
            self.key_painted = True

    def on_paint(self, now: float) -> None:
        if self.shown_this_frame:
            self.latencies.extend(now - sent for sent in self.shown_this_frame)
            self.shown_this_frame.clear()
        if self.key_painted and self.key_expect is not None:
            self.key_latencies.append(now - self.key_sent_at)
            self.key_expect = None
            self.key_painted = False
            self.key_done.set()

    def on_update(self, duration: float) -> None:
        if self.active:
            self.frame_costs.append(duration + self.handler_time)
            self.frame_handlers.append(self.handler_time)
            self.frame_paints.append(duration)
        self.handler_time = 0.0

    def unpainted(self, now: float) -> list[float]:
        return [now - sent for queue in self.pending.values() for _, sent in queue]


def sequence_of(job: Job) -> int | None:
    """The event sequence number the producer stamped on this job version (None: not one of ours)."""
    return getattr(job, "_bench_sequence", None)


def produce(
    recorder: Recorder,
    publish: Callable[[Sequence[Job]], None],
    targets: Sequence[str],
    base: dict[str, Job],
    rate: int,
    seconds: float,
) -> None:
    """The producer thread: `rate` events/s for `seconds`, one publish per event (as a websocket handler does)."""
    cpu_start = time.thread_time()
    start = time.perf_counter()
    end = start + seconds
    sequence = 0
    count = len(targets)
    visible = recorder.visible
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        due = int((now - start) * rate)
        while sequence < due:
            job_id = targets[sequence % count]
            job = progress_event(base[job_id], sequence)
            job._bench_sequence = sequence  # type: ignore[attr-defined]  # rides along; nothing else is kept
            if job_id in visible:
                recorder.pending[job_id].append((sequence, time.perf_counter()))
            publish([job])
            sequence += 1
        time.sleep(0.001)
    recorder.offered = sequence
    recorder.elapsed = time.perf_counter() - start
    recorder.producer_cpu = time.thread_time() - cpu_start


# ------------------------------------------------------------------------------------------ the baseline app


class JobsDirtyBaseline(Message):
    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsDirtyBaseline)


class DataTableApp(App[None]):
    """The same rows in Textual's DataTable, fed through the same Engine hand-over and coalescing."""

    def __init__(self, jobs: Sequence[Job], engine: Any, size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.jobs = jobs
        self.table_size = size
        self.engine = engine
        self.pending: dict[str, Job] = {}
        self.recorder: Recorder | None = None
        self.applied: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield DataTable(id="jobs", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        now = time.time()
        keys = table.add_columns(*TABLE_COLUMNS)
        self.state_column, self.progress_column = keys[0], keys[4]
        for job in self.jobs:
            table.add_row(*table_cells(job, now), key=job.id)
        if self.table_size is not None:
            # The same viewport as comfyq's job table: the same number of lines to paint.
            table.styles.width, table.styles.height = self.table_size
        table.focus()
        self.engine.subscribe(self._on_engine_event)

    def _on_engine_event(self, event: object) -> None:
        from tui.core.events import JobChanged

        if isinstance(event, JobChanged):
            self.pending[event.job.id] = event.job
            self.post_message(JobsDirtyBaseline())

    def on_jobs_dirty_baseline(self, message: JobsDirtyBaseline) -> None:
        if not self.pending:
            return
        start = time.perf_counter()
        jobs = list(self.pending.values())
        self.pending.clear()
        table = self.query_one(DataTable)
        recorder = self.recorder
        now = time.time()
        for job in jobs:
            cells = table_cells(job, now)
            table.update_cell(job.id, self.state_column, cells[0])
            table.update_cell(job.id, self.progress_column, cells[4])
            if recorder is not None:
                version = sequence_of(job)
                if version is not None:
                    self.applied[job.id] = version
        if recorder is not None:
            recorder.handler_time += time.perf_counter() - start


def _datatable_rows(jobs: Sequence[Job]) -> list[Job]:
    """Newest first, as comfyq's table orders them by default."""
    return sorted(jobs, key=lambda job: job.submitted_at or 0, reverse=True)


# ------------------------------------------------------------------------------------------ running a window


def _capture_engine(store: Any, options: Any) -> tuple[Any, dict[str, Any]]:
    """An Engine whose backend factory hands us the BackendContext (the publish path every source uses)."""
    from tui.core.backends import create_backend
    from tui.core.engine import Engine

    captured: dict[str, Any] = {}

    def factory(profile: Any, context: Any) -> Any:
        captured["context"] = context
        return create_backend(profile, context)

    engine = Engine(options.config, store, backend_factory=factory)
    return engine, captured


async def _key_presses(app: App[Any], recorder: Recorder, cursor_row: Callable[[], int], until: float) -> None:
    driver = app._driver
    assert driver is not None
    while time.perf_counter() < until:
        await asyncio.sleep(KEY_INTERVAL)
        recorder.key_done.clear()
        home = cursor_row()
        recorder.key_expect = home + 1
        recorder.key_painted = False
        recorder.key_sent_at = time.perf_counter()
        driver.send_message(events.Key("down", None))
        try:  # waiting on an event, not polling: the wait must not add CPU to the app's loop it is measured on
            await asyncio.wait_for(recorder.key_done.wait(), 2.0)
        except asyncio.TimeoutError:
            pass
        if not recorder.key_done.is_set():
            recorder.key_latencies.append(time.perf_counter() - recorder.key_sent_at)  # counted, never dropped
            recorder.key_expect = None
        driver.send_message(events.Key("up", None))
        # Wait (bounded) for the `up` to be handled: no key may still be in flight when the app shuts down.
        deadline = time.perf_counter() + 2.0
        while cursor_row() != home and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)


async def _window(
    app: App[Any],
    recorder: Recorder,
    publish: Callable[[Sequence[Job]], None],
    targets: Sequence[str],
    base: dict[str, Job],
    rate: int,
    seconds: float,
    cursor_row: Callable[[], int],
) -> dict[str, float]:
    gc.collect()
    await asyncio.sleep(0.3)
    recorder.active = True
    thread = threading.Thread(
        target=produce, args=(recorder, publish, targets, base, rate, seconds), name="bench-producer", daemon=True
    )
    start = time.perf_counter()
    cpu_start = time.process_time()
    thread.start()
    await _key_presses(app, recorder, cursor_row, start + seconds)
    while thread.is_alive():
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu_start - recorder.producer_cpu
    cpu_wall = time.perf_counter() - start
    settle = time.perf_counter() + SETTLE_SECONDS
    while time.perf_counter() < settle and any(recorder.pending.values()):
        await asyncio.sleep(0.01)
    recorder.active = False
    latencies = recorder.latencies + recorder.unpainted(time.perf_counter())
    frames = recorder.frame_costs or [float("nan")]
    return {
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "key_p99": percentile(recorder.key_latencies, 99) * 1000,
        "frame": percentile(frames, 50) * 1000,
        "frame_handler": percentile(recorder.frame_handlers, 50) * 1000,
        "frame_paint": percentile(recorder.frame_paints, 50) * 1000,
        "achieved": recorder.offered / recorder.elapsed if recorder.elapsed else 0.0,
        "samples": float(len(latencies)),
        "unpainted": float(len(recorder.unpainted(time.perf_counter()))),
        "keys": float(len(recorder.key_latencies)),
        "cpu_cores": cpu / cpu_wall if cpu_wall > 0 else float("nan"),
    }


async def comfyq_windows(data_dir: Path, rate: int, seconds: float, runs: int,
                         active: int, table_size: list[tuple[int, int]] | None = None) -> list[dict[str, float]]:
    from screens.main import MainScreen
    from tui.app import ComfyqApp
    from tui.core.store import JobStore
    from tui.widgets.job_table import JobTable

    options = make_launch(data_dir)
    store = JobStore(options.locations.store_file)
    engine, captured = _capture_engine(store, options)
    app = ComfyqApp(options, store=store, engine=engine)
    results: list[dict[str, float]] = []
    holder: dict[str, Recorder] = {}
    probe = FrameProbe()

    def wrap_render_row(original: Callable[..., Any]) -> Callable[..., Any]:
        def _render_row(table: Any, job: Job, row: int, width: int) -> Any:
            recorder = holder.get("r")
            if recorder is not None:
                recorder.shown(job.id, sequence_of(job))
                if row == table.cursor_row:
                    recorder.cursor_painted(row)
            return original(table, job, row, width)

        return _render_row

    def wrap_jobs_changed(original: Callable[..., Any]) -> Callable[..., Any]:
        def jobs_changed(screen: Any, changed: Any) -> None:
            start = time.perf_counter()
            original(screen, changed)
            recorder = holder.get("r")
            if recorder is not None:
                recorder.handler_time += time.perf_counter() - start

        return jobs_changed

    probe.on_paint = lambda now: holder["r"].on_paint(now) if "r" in holder else None
    probe.on_update = lambda duration: holder["r"].on_update(duration) if "r" in holder else None
    with probe.installed(), patched(JobTable, "_render_row", wrap_render_row), patched(
        MainScreen, "_jobs_changed", wrap_jobs_changed  # r12e: the jobs_signal subscriber
    ):
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await engine.start([])  # binds the engine to this loop; starts no source (nothing is contacted)
            engine.backend(PROFILE)  # creates the profile's BackendContext (its sources are never started)
            context = captured["context"]
            await pilot.pause()
            table = app.screen.query_one(JobTable)
            if table_size is not None:
                table_size.append((table.size.width, table.size.height))
            visible_rows = max(1, table.size.height - 1)
            newest = list(table.row_ids[:active])
            visible = frozenset(newest[: visible_rows - 2])  # minus the rows the cursor may scroll
            base = store.get_many(newest)
            for _ in range(runs):
                recorder = Recorder(visible)
                holder["r"] = recorder
                results.append(
                    await _window(app, recorder, context.publish, newest, base, rate, seconds, lambda: table.cursor_row)
                )
                holder.pop("r", None)
                del recorder
    await app.shutdown()  # after the app stopped: stops the engine, closes the store
    return results


async def datatable_windows(data_dir: Path, rate: int, seconds: float, runs: int,
                            active: int, size: tuple[int, int] | None = None) -> list[dict[str, float]]:
    from tui.core.store import JobStore

    options = make_launch(data_dir)
    store = JobStore(options.locations.store_file)
    engine, captured = _capture_engine(store, options)
    ordered = _datatable_rows(store.page(limit=store.total()))
    app = DataTableApp(ordered, engine, size)
    results: list[dict[str, float]] = []
    holder: dict[str, Recorder] = {}
    probe = FrameProbe()

    def wrap_line(original: Callable[..., Any]) -> Callable[..., Any]:
        def _render_line_in_row(table: Any, row_key: Any, line_no: int, base_style: Any, cursor_location: Any,
                                hover_location: Any) -> Any:
            recorder = holder.get("r")
            if recorder is not None and isinstance(row_key.value, str):
                job_id = row_key.value
                recorder.shown(job_id, app.applied.get(job_id))
                if recorder.key_expect is not None and cursor_location.row == recorder.key_expect:
                    index = table._row_locations.get(row_key)
                    if index == recorder.key_expect:
                        recorder.cursor_painted(index)
            return original(table, row_key, line_no, base_style, cursor_location, hover_location)

        return _render_line_in_row

    probe.on_paint = lambda now: holder["r"].on_paint(now) if "r" in holder else None
    probe.on_update = lambda duration: holder["r"].on_update(duration) if "r" in holder else None
    with probe.installed(), patched(DataTable, "_render_line_in_row", wrap_line):
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            await engine.start([])
            engine.backend(PROFILE)
            context = captured["context"]
            await pilot.pause()
            table = app.query_one(DataTable)
            visible_rows = max(1, table.size.height - 1)
            newest = [job.id for job in ordered[:active]]
            visible = frozenset(newest[: visible_rows - 2])
            base = {job.id: job for job in ordered[:active]}
            for _ in range(runs):
                recorder = Recorder(visible)
                holder["r"] = recorder
                app.recorder = recorder
                results.append(
                    await _window(
                        app, recorder, context.publish, newest, base, rate, seconds, lambda: table.cursor_row
                    )
                )
                app.recorder = None
                holder.pop("r", None)
                del recorder
            await engine.stop()
        store.close()
    return results


# ------------------------------------------------------------------------------------------ the figure


def frame_rate() -> int:
    """The frame rate both apps paint at here: Textual reads TEXTUAL_FPS once, when `textual.screen` is imported."""
    from textual import screen

    return round(1 / screen.UPDATE_PERIOD)


def _stat(results: list[dict[str, float]], key: str, unit: str) -> Stat:
    return Stat.of([result[key] for result in results], unit)


def rows_for_rate(rate: int, ours: list[dict[str, float]], base: list[dict[str, float]], rows: int) -> list[Row]:
    label = f"live {rate:,}/s into {rows // 1000}k rows"
    frame_ours, frame_base = _stat(ours, "frame", "ms"), _stat(base, "frame", "ms")
    p50_ours, p50_base = _stat(ours, "p50", "ms"), _stat(base, "p50", "ms")
    p99_ours, p99_base = _stat(ours, "p99", "ms"), _stat(base, "p99", "ms")
    key_ours, key_base = _stat(ours, "key_p99", "ms"), _stat(base, "key_p99", "ms")
    rate_ours, rate_base = _stat(ours, "achieved", "ev/s"), _stat(base, "achieved", "ev/s")
    cpu_ours, cpu_base = _stat(ours, "cpu_cores", "core"), _stat(base, "cpu_cores", "core")
    p99_target = TARGET_P99_MS.get(rate)
    cpu_target = TARGET_CPU_CORES.get(rate)
    samples = {
        "comfyq_frame_handler_ms": [r["frame_handler"] for r in ours],
        "comfyq_frame_paint_ms": [r["frame_paint"] for r in ours],
        "baseline_frame_handler_ms": [r["frame_handler"] for r in base],
        "baseline_frame_paint_ms": [r["frame_paint"] for r in base],
        "comfyq_samples": [r["samples"] for r in ours],
        "baseline_samples": [r["samples"] for r in base],
        "comfyq_unpainted": [r["unpainted"] for r in ours],
        "baseline_unpainted": [r["unpainted"] for r in base],
    }
    return [
        Row(f"{label}: update frame", frame_ours, frame_base, speedup(frame_base, frame_ours), "× faster", "—", None,
            note="information: main-thread cost of one frame under load"),
        Row(f"{label}: p50 event→screen", p50_ours, p50_base, speedup(p50_base, p50_ours), "× faster", "—", None,
            extra=samples),
        Row(f"{label}: p99 event→screen", p99_ours, p99_base, speedup(p99_base, p99_ours), "× faster",
            f"≤ {p99_target:g} ms" if p99_target else "—",
            None if p99_target is None else p99_ours.median <= p99_target),
        Row(f"{label}: p99 key press", key_ours, key_base, speedup(key_base, key_ours), "× faster",
            f"≤ {TARGET_KEY_MS:g} ms", key_ours.median <= TARGET_KEY_MS,
            note=f"Textual painting at most {frame_rate()} frames/s (TEXTUAL_FPS) on both sides"),
        Row(f"{label}: CPU of the app process", cpu_ours, cpu_base, speedup(cpu_base, cpu_ours), "× less",
            f"≤ {cpu_target:g} core" if cpu_target else "—",
            None if cpu_target is None else cpu_ours.median <= cpu_target,
            note="share of one core while the feed runs (the producer thread, standing in for the sources, "
                 "not counted)"),
        Row(f"{label}: achieved rate", rate_ours, rate_base,
            (rate_ours.median / rate_base.median) if rate_base.median else None, "× DataTable",
            f"{rate:,}/s offered", None),
    ]


async def measure(rates: Sequence[int] = (1000, 10000), seconds: float = 5.0, rows: int = 10_000, runs: int = 5,
                  active: int = 500) -> list[Row]:
    out: list[Row] = []
    with temp_dir("live") as tmp:
        data_dir = Path(tmp)
        # Only the store keeps the jobs: this process holds no extra objects for the garbage collector to walk.
        fill_store(resolve_locations(data_dir / "config.toml", data_dir).store_file,
                   make_jobs(rows, active=active, workflow=bench_workflow()))
        gc.collect()
        for rate in rates:
            sizes: list[tuple[int, int]] = []
            ours = await comfyq_windows(data_dir, rate, seconds, runs, active, sizes)
            base = await datatable_windows(data_dir, rate, seconds, runs, active, sizes[0] if sizes else None)
            out.extend(rows_for_rate(rate, ours, base, rows))
    return out


def run(runs: int = 5, rates: Sequence[int] = (1000, 10000), seconds: float = 5.0, rows: int = 10_000,
        active: int = 500) -> list[Row]:
    return asyncio.run(measure(rates, seconds, rows, runs, active))
