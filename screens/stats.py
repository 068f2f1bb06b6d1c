"""`i`: how the service is doing — throughput and queue wait over time, run times, failure causes.

Figures come from tui/core/stats.py (SQL over the store's indexes, in a worker thread so the screen never waits on
it) for the active profile or the current filter, over a window picked with 1–4. Live: recomputed when a job
finishes and as the window slides, at most once a second. Charts are Textual's own `Sparkline`: jobs finished per
bucket, mean queue wait per bucket, and the run-time histogram (one bar per bin) — a plotting library would add a
dependency for three bar rows.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Label, Sparkline, Static, Tab, Tabs

from screens.footer_fit import FittedFooterScreen
from tui.core.config import Profile
from tui.core.export import export_jobs
from tui.core.jobs import Job
from tui.core.stats import TIMELINE_BUCKETS, ServiceStats, Window, compute_stats
from tui.core.stats_text import seconds_text, stats_lines
from tui.core.store import JobFilter, JobStore

if TYPE_CHECKING:
    from tui.app import ComfyqApp

WINDOWS = ("15m", "1h", "24h", "all")
TAB_PREFIX = "window-"  # a tab's id: this and the window's label (an id cannot start with a digit)
REFRESH_SECONDS = 1.0  # at most one recomputation a second
SLIDE_SECONDS = 10.0  # without finished jobs, the window still moves on: recompute this often


class StatsScreen(FittedFooterScreen[None]):
    """The stats of one selection (a profile, or the job table's filter) over a window."""

    CSS_PATH = "stats.tcss"

    BINDINGS = [
        Binding("escape,q,i", "app.pop_screen", "Back", id="stats.back"),
        Binding("1", "window('15m')", "15m", show=False, id="stats.window_15m"),
        Binding("2", "window('1h')", "1h", show=False, id="stats.window_1h"),
        Binding("3", "window('24h')", "24h", show=False, id="stats.window_24h"),
        Binding("4", "window('all')", "All", show=False, id="stats.window_all"),
    ]
    FOOTER_FIRST = ("app.help", "stats.back")  # how to leave stays in a narrow footer

    def _chart(self, selector: str, series: Iterable[float]) -> None:
        """A chart with nothing to show is hidden (a Sparkline of one value, or of equal values, is drawn as full
        bars, which reads as "busy"); its label still says what it would show."""
        values = list(series)
        sparkline = self.query_one(selector, Sparkline)
        sparkline.display = any(values)
        if values:
            sparkline.data = values

    def __init__(self, selection: JobFilter, *, window: str = "1h") -> None:
        super().__init__()
        self.selection = selection
        self.window = Window.parse(window)
        self.stats: ServiceStats | None = None
        self.computed = 0  # how many results were shown (tests wait on it)
        self._dirty = True
        self._next_at = 0.0
        self._slide_at = 0.0

    @property
    def comfyq(self) -> ComfyqApp:
        return cast("ComfyqApp", self.app)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="stats-body"):
            # markup=False: profile, batch and node names are the store's text (already made visible), not markup.
            yield Static(id="stats-title", markup=False)
            yield Tabs(
                *(Tab(label, id=TAB_PREFIX + label) for label in WINDOWS),
                active=TAB_PREFIX + self.window.label,
                id="stats-windows",
            )
            yield Label("jobs finished", id="throughput-label", classes="chart-label", markup=False)
            yield Sparkline([], id="throughput", summary_function=max)
            yield Label("mean queue wait", id="wait-label", classes="chart-label", markup=False)
            yield Sparkline([], id="wait", summary_function=max)
            yield Label("run times", id="histogram-label", classes="chart-label", markup=False)
            yield Sparkline([], id="histogram", summary_function=max)
            yield Static(id="stats-figures", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stats-body").border_title = "Stats"
        self.comfyq.jobs_signal.subscribe(self, self._jobs_changed)
        self.set_interval(REFRESH_SECONDS, self._tick)
        self._tick()

    # ------------------------------------------------------------------ live

    def _jobs_changed(self, jobs: list[Job]) -> None:
        """Every job that changed (the app's `jobs_signal`): a finished one moves the figures."""
        if any(job.state.is_terminal for job in jobs):
            self._dirty = True

    def _tick(self) -> None:
        now = time.monotonic()
        if self.comfyq.closing or now < self._next_at:
            return
        if not self._dirty and now < self._slide_at:
            return
        self._dirty = False
        self._next_at = now + REFRESH_SECONDS
        self._slide_at = now + SLIDE_SECONDS
        self._compute(self.selection, self.window)

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def _compute(self, selection: JobFilter, window: Window) -> None:
        try:
            stats = compute_stats(self.comfyq.store, window, selection, buckets=TIMELINE_BUCKETS)
        except Exception:
            if self.comfyq.closing:
                return  # the app closed the store under us while quitting: nothing to show any more
            raise
        if not self.comfyq.closing:
            self.app.call_from_thread(self._show, stats)

    def _show(self, stats: ServiceStats) -> None:
        if stats.window != self.window or stats.selection != self.selection:
            return  # the user picked another window meanwhile: its own result follows
        self.stats = stats
        self.computed += 1
        bucket = seconds_text(stats.bucket_seconds) if stats.bucket_seconds else "bucket"
        self._chart("#throughput", stats.finished_series)
        self._chart("#wait", stats.wait_series)
        self._chart("#histogram", stats.histogram_counts)
        peak = max(stats.finished_series, default=0)
        self.query_one("#throughput-label", Label).update(
            f"jobs finished per {bucket} (peak {peak}) · {stats.per_hour or 0:,.1f}/h"
        )
        self.query_one("#wait-label", Label).update(
            f"mean queue wait per {bucket} (peak {seconds_text(max(stats.wait_series, default=0))}) · "
            f"p50 {seconds_text(stats.wait.p50)} · p95 {seconds_text(stats.wait.p95)}"
        )
        edges = stats.histogram_edges
        span = f"{seconds_text(edges[0])} – {seconds_text(edges[-1])}" if edges else "none yet"
        self.query_one("#histogram-label", Label).update(
            f"run times, {len(stats.histogram_counts)} bins over {span} · p50 {seconds_text(stats.run.p50)} · "
            f"p95 {seconds_text(stats.run.p95)}"
        )
        lines = stats_lines(stats)
        self.query_one("#stats-title", Static).update(lines[0])
        body = lines[1:] if stats.finished else [stats.empty_message(), *(l for l in lines if l.startswith("now"))]
        self.query_one("#stats-figures", Static).update("\n".join(body))

    # --------------------------------------------------------------- window

    def action_window(self, label: str) -> None:
        tabs = self.query_one(Tabs)
        if tabs.active != TAB_PREFIX + label:
            tabs.active = TAB_PREFIX + label  # its TabActivated comes back here, with nothing left to do
        if label != self.window.label:
            self.window = Window.parse(label)
            self._dirty = True
            self._next_at = 0.0
            self._tick()

    @on(Tabs.TabActivated, "#stats-windows")
    def _window_chosen(self, event: Tabs.TabActivated) -> None:
        self.action_window((event.tab.id or "").removeprefix(TAB_PREFIX) or self.window.label)


def export_view(
    store: JobStore, flt: JobFilter, profiles: Mapping[str, Profile], fmt: str, *, fallback: Path
) -> tuple[str, int]:
    """Write the jobs of `flt` to `comfyq-jobs-<UTC time>.<fmt>` in the working directory (where the user started
    comfyq), else in `fallback` (the data directory) when that cannot be written. Returns (path, count)."""
    name = f"comfyq-jobs-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.{fmt}"
    last_error: OSError | None = None
    for directory in (Path.cwd(), Path(fallback)):
        path = directory / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:
            last_error = error
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
                count = export_jobs(store, flt, profiles, stream, fmt)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return str(path), count
    raise OSError(f"cannot write {name} in {Path.cwd()} or {fallback}: {last_error}")
