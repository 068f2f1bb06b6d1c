"""How a service is doing: throughput, queue wait, run time and failure causes over a window of finished jobs.

Computed with SQL over the store's indexed columns (schema v5 added `wait_s`, `run_s`, `failure_category`,
`failure_node` and the indexes that cover them), so one call walks index entries, never job records: under 100 ms
for 100k jobs (`python -m bench --only stats`, beside a naive pass over every job).

Definitions (the README repeats them):

- A job is *in the window* when it **finished** (reached succeeded, failed, cancelled, lost or unknown) at or after
  the window's start. Windows: the last `15m`, `1h`, `24h`, any `<number><s|m|h|d|w>`, or `all`.
- **wait** = running − submitting (time in the queue, our submission included), **run** = finished − running,
  from the job's own state timestamps. A job that finished without ever being seen running (a fully cached
  prompt, a rejected or cancelled-in-queue job, an API-edition job whose run the queue never showed) has neither:
  it is counted in `never_ran`, not as a zero that would drag the percentiles down.
- Percentiles are nearest-rank (p95 of 20 values is the 19th smallest): every figure is a time some job really had.
- **per hour** = jobs finished in the window / the window's length; for `all`, from the first of those jobs'
  submission to now (at least an hour).
- **success rate** = succeeded / finished; **failure rate** = (failed + lost + unknown) / finished (a cancel is the
  user's choice, not the service failing).
- **outputs per job** = output files per succeeded job; **run time total** = the sum of run times, the GPU time
  the service spent on these jobs.
- **failures** are counted by category and by the node they point at: the input a validation error names
  (`rejected · ckpt_name`), else the node class that raised (`execution · KSampler`).
- **busiest nodes by time** cannot be told: the store keeps a running job's *latest* progress, not how long each
  node took. What it does know is where running jobs are right now (`running_now_by_node`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tui.core.jobs import ACTIVE_STATES, JobState
from tui.core.render import iso_utc
from tui.core.store import JobFilter, JobStore, filter_sql

__all__ = [
    "BadWindow",
    "Distribution",
    "FailureCount",
    "ProfileFigures",
    "ServiceStats",
    "Window",
    "compute_stats",
    "nearest_rank",
    "profile_figures",
]

_NOT_MEASURED_NODES = (
    "busiest nodes by time: not measured — comfyq keeps a running job's latest progress, not per-node timings; "
    "running_now_by_node shows where running jobs are now"
)
_BAD_STATES = ("failed", "lost", "unknown")
_FAILURES_SHOWN = 10
TIMELINE_BUCKETS = 30  # the app's sparklines
HISTOGRAM_BINS = 10


class BadWindow(ValueError):
    """A `--since` value that does not parse."""


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WORDS = {900: "15 minutes", 3600: "hour", 86400: "24 hours", 7 * 86400: "week"}


@dataclass(frozen=True)
class Window:
    """Which finished jobs count: those that finished in the last `seconds` (None: all of them)."""

    label: str
    seconds: float | None

    @classmethod
    def parse(cls, text: str) -> Window:
        """`15m`, `1h`, `24h`, `90s`, `7d`, `2w`, `all` → a Window; BadWindow with a one-line reason otherwise."""
        cleaned = text.strip().lower()
        if cleaned == "all":
            return cls("all", None)
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", cleaned)
        if not match:
            raise BadWindow(f"{text!r}: not a time window (e.g. 15m, 1h, 24h, 7d, all)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if not seconds > 0 or not math.isfinite(seconds):
            raise BadWindow(f"{text!r}: the window must be longer than 0")
        return cls(cleaned, seconds)

    def start(self, now: float) -> float | None:
        return None if self.seconds is None else now - self.seconds

    def phrase(self) -> str:
        """`the last hour`, `the last 15 minutes`, … (for "no jobs finished in …")."""
        if self.seconds is None:
            return "the job store"
        words = _WORDS.get(int(self.seconds)) if float(self.seconds).is_integer() else None
        return f"the last {words or self.label}"


@dataclass(frozen=True)
class Distribution:
    """Seconds: how many jobs had a value, and the nearest-rank p50 / p95 and the max (None without values)."""

    count: int
    p50: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, ordered: Sequence[float]) -> Distribution:
        """From values sorted ascending."""
        if not ordered:
            return cls(0, None, None, None)
        return cls(len(ordered), nearest_rank(ordered, 50), nearest_rank(ordered, 95), ordered[-1])

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p95": self.p95, "max": self.max}


def nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of values sorted ascending: the smallest value with at least `percent`% of the
    values at or below it."""
    rank = max(1, min(len(ordered), math.ceil(percent / 100.0 * len(ordered))))
    return ordered[rank - 1]


@dataclass(frozen=True)
class FailureCount:
    category: str
    node: str | None  # the input or node class the failure points at; None when the service named neither
    count: int

    @property
    def label(self) -> str:
        return f"{self.category} · {self.node}" if self.node else self.category

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "node": self.node, "count": self.count}


@dataclass(frozen=True)
class ProfileFigures:
    """One profile's line: what finished in the window, how fast, how badly."""

    profile: str
    finished: int
    succeeded: int
    failed: int  # failed + lost + unknown
    per_hour: float | None
    run_time_total: float

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "finished": self.finished,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "failure_rate": self.failure_rate,
            "per_hour": self.per_hour,
            "run_time_total_s": self.run_time_total,
        }


@dataclass(frozen=True)
class ServiceStats:
    """The figures for one selection (profile, batch, or any job filter) over one window."""

    window: Window
    since: float | None
    until: float
    selection: JobFilter
    states: dict[str, int]  # finished jobs by final state (every terminal state present)
    per_hour: float | None
    wait: Distribution
    run: Distribution
    never_ran: int
    outputs_total: int
    run_time_total: float
    failures: tuple[FailureCount, ...]
    profiles: tuple[ProfileFigures, ...]
    active: dict[str, int]  # submitting / queued / running now
    running_now_by_node: tuple[tuple[str, int], ...]
    timeline_start: float | None
    bucket_seconds: float | None
    finished_series: tuple[int, ...]  # jobs finished per bucket, oldest first
    wait_series: tuple[float, ...]  # mean wait of the jobs finished in each bucket (0 where none ran)
    histogram_edges: tuple[float, ...]  # run-time bins: edges[i] <= run < edges[i + 1]
    histogram_counts: tuple[int, ...]
    notes: tuple[str, ...] = field(default=(_NOT_MEASURED_NODES,))

    @property
    def finished(self) -> int:
        return sum(self.states.values())

    @property
    def succeeded(self) -> int:
        return self.states.get(JobState.SUCCEEDED.value, 0)

    @property
    def failed(self) -> int:
        return sum(self.states.get(name, 0) for name in _BAD_STATES)

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None

    @property
    def outputs_per_job(self) -> float | None:
        return self.outputs_total / self.succeeded if self.succeeded else None

    def empty_message(self) -> str:
        """What to say when nothing finished in the window (`no jobs finished in the last hour`)."""
        what = [f"profile {self.selection.profile}"] if self.selection.profile else []
        what += [f"batch {self.selection.batch}"] if self.selection.batch else []
        suffix = f" ({', '.join(what)})" if what else ""
        return f"no jobs finished in {self.window.phrase()}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        """One JSON object (`comfyq stats --json`); seconds as numbers, times ISO 8601 UTC, null where unknown."""
        return {
            "window": {
                "label": self.window.label,
                "seconds": self.window.seconds,
                "since": iso_utc(self.since),
                "until": iso_utc(self.until),
            },
            "profile": self.selection.profile,
            "batch": self.selection.batch,
            "filter": self.selection.to_query() or None,
            "finished": self.finished,
            "states": dict(self.states),
            "success_rate": self.success_rate,
            "failure_rate": self.failure_rate,
            "per_hour": self.per_hour,
            "wait_s": self.wait.to_dict(),
            "run_s": self.run.to_dict(),
            "never_ran": self.never_ran,
            "outputs": {"total": self.outputs_total, "per_job": self.outputs_per_job},
            "run_time_total_s": self.run_time_total,
            "failures": [failure.to_dict() for failure in self.failures],
            "profiles": [figures.to_dict() for figures in self.profiles],
            "active": dict(self.active),
            "running_now_by_node": [{"node": node, "count": count} for node, count in self.running_now_by_node],
            "busiest_nodes": None,
            "timeline": {
                "start": iso_utc(self.timeline_start),
                "bucket_s": self.bucket_seconds,
                "finished": list(self.finished_series),
                "wait_mean_s": list(self.wait_series),
            },
            "run_histogram": {"edges_s": list(self.histogram_edges), "counts": list(self.histogram_counts)},
            "notes": list(self.notes),
        }


def _selection_sql(selection: JobFilter, since: float | None) -> tuple[str, list[Any]]:
    """The selection's condition plus "finished in the window" (a range on the finished-jobs indexes; the
    `IS NOT NULL` term is spelled out so the partial indexes apply)."""
    condition, params = filter_sql(selection)
    if since is None:
        return f"{condition} AND finished_at IS NOT NULL", params
    return f"{condition} AND finished_at IS NOT NULL AND finished_at >= ?", [*params, since]


def _all_span(now: float, first_submitted: float) -> float:
    """The `all` window's length: from the first job's submission to now, at least an hour (two jobs of the last
    minute are 2/h, not 120/h)."""
    return max(3600.0, now - first_submitted)


def _per_hour(count: int, seconds: float | None) -> float | None:
    if not count or seconds is None or seconds <= 0:
        return None
    return count / (seconds / 3600.0)


_RAN = "run_s IS NOT NULL"


@dataclass(frozen=True)
class _Group:
    """One (profile, final state) of the window: how many, how many ran, outputs, run time, first submission."""

    profile: str
    state: str
    count: int
    ran: int
    outputs: float
    run_total: float
    first_submitted: float


def _groups(store: JobStore, where: str, params: list[Any]) -> list[_Group]:
    # In index order (profile, state): no sort, no per-row state comparison.
    rows = store.select(
        "SELECT profile, state, COUNT(*), COUNT(run_s), TOTAL(output_count), TOTAL(run_s), MIN(submitted_at) "
        "FROM jobs INDEXED BY jobs_by_profile_state_finished "
        f"WHERE {where} GROUP BY profile, state",
        params,
    )
    return [_Group(str(p), str(s), int(c), int(r), float(o), float(t), float(f)) for p, s, c, r, o, t, f in rows]


def _profile_lines(groups: Sequence[_Group], window: Window, now: float) -> tuple[ProfileFigures, ...]:
    by_profile: dict[str, list[_Group]] = {}
    for group in groups:
        by_profile.setdefault(group.profile, []).append(group)
    figures = []
    for profile in sorted(by_profile):
        mine = by_profile[profile]
        finished = sum(group.count for group in mine)
        first = min(group.first_submitted for group in mine)
        span = window.seconds if window.seconds is not None else _all_span(now, first)
        figures.append(ProfileFigures(
            profile,
            finished,
            sum(group.count for group in mine if group.state == JobState.SUCCEEDED.value),
            sum(group.count for group in mine if group.state in _BAD_STATES),
            _per_hour(finished, span),
            sum(group.run_total for group in mine),
        ))
    return tuple(figures)


def profile_figures(store: JobStore, window: Window, selection: JobFilter | None = None,
                    now: float | None = None) -> tuple[ProfileFigures, ...]:
    """Per profile: finished, succeeded, failed, per hour and run time in the window (the profiles pane's line)."""
    now = time.time() if now is None else now
    where, params = _selection_sql(selection or JobFilter(), window.start(now))
    return _profile_lines(_groups(store, where, params), window, now)


def compute_stats(
    store: JobStore,
    window: Window,
    selection: JobFilter | None = None,
    *,
    now: float | None = None,
    buckets: int = 0,
    bins: int = HISTOGRAM_BINS,
) -> ServiceStats:
    """Every figure for `selection` (a profile, a batch, or any job filter) over `window`, as of `now`.

    `buckets` > 0 also gives the timeline (jobs finished and mean wait per bucket, for sparklines); `bins` > 0 the
    run-time histogram.
    """
    selection = selection or JobFilter()
    now = time.time() if now is None else now
    since = window.start(now)
    where, params = _selection_sql(selection, since)

    groups = _groups(store, where, params)
    states = {state.value: 0 for state in JobState if state.is_terminal}
    for group in groups:
        states[group.state] = states.get(group.state, 0) + group.count
    finished = sum(states.values())
    ran = sum(group.ran for group in groups)
    first_submitted = min((group.first_submitted for group in groups), default=None)

    failures = tuple(
        FailureCount(str(category), node, int(count))
        for category, node, count in store.select(
            "SELECT failure_category, failure_node, COUNT(*) FROM jobs INDEXED BY jobs_by_failure "
            f"WHERE {where} AND failure_category IS NOT NULL GROUP BY failure_category, failure_node",
            params,
        )
    )
    failures = tuple(sorted(failures, key=lambda f: (-f.count, f.category, f.node or "")))[:_FAILURES_SHOWN]

    span = window.seconds if window.seconds is not None else (
        _all_span(now, first_submitted) if first_submitted is not None else None
    )
    timeline_start = since if since is not None else first_submitted
    finished_series, wait_series, bucket_seconds = _timeline(store, selection, timeline_start, now, buckets)
    run = _distribution(store, "jobs_by_run", "run_s", where, params, ran)
    edges, counts = _histogram(store, where, params, run.max, bins)
    return ServiceStats(
        window=window,
        since=since,
        until=now,
        selection=selection,
        states=states,
        per_hour=_per_hour(finished, span),
        wait=_distribution(store, "jobs_by_wait", "wait_s", where, params, ran),
        run=run,
        never_ran=finished - ran,
        outputs_total=int(sum(g.outputs for g in groups if g.state == JobState.SUCCEEDED.value)),
        run_time_total=sum(group.run_total for group in groups),
        failures=failures,
        profiles=_profile_lines(groups, window, now),
        active=_active(store, selection),
        running_now_by_node=_running_now(store, selection),
        timeline_start=timeline_start if bucket_seconds is not None else None,
        bucket_seconds=bucket_seconds,
        finished_series=finished_series,
        wait_series=wait_series,
        histogram_edges=edges,
        histogram_counts=counts,
    )


def _distribution(store: JobStore, index: str, column: str, where: str, params: list[Any], count: int
                  ) -> Distribution:
    """p50 / p95 / max of a duration by walking its index in order to the nearest rank: no sort, and at most one
    pass over the index however large the window (entries outside the selection are skipped)."""
    if count == 0:
        return Distribution(0, None, None, None)

    def at_offset(offset: int, order: str = "") -> float:
        rows = store.select(
            # A finished job with a wait has a run time too (both come from its running timestamp).
            f"SELECT {column} FROM jobs INDEXED BY {index} WHERE {where} AND {column} IS NOT NULL "
            f"ORDER BY {column} {order} LIMIT 1 OFFSET ?",
            [*params, offset],
        )
        return float(rows[0][0]) if rows else 0.0

    def rank(percent: float) -> int:
        return max(1, min(count, math.ceil(percent / 100.0 * count)))

    return Distribution(count, at_offset(rank(50) - 1), at_offset(rank(95) - 1), at_offset(0, "DESC"))


def _timeline(
    store: JobStore, selection: JobFilter, start: float | None, now: float, buckets: int
) -> tuple[tuple[int, ...], tuple[float, ...], float | None]:
    """Jobs finished per bucket and the mean wait of those of them that ran (0 where none ran), oldest first.

    One range count per bucket on the finished-jobs index (a GROUP BY over a computed bucket would sort)."""
    if start is None or buckets < 1 or now <= start:
        return (), (), None
    width = (now - start) / buckets
    condition, params = filter_sql(selection)
    finished: list[int] = []
    waits: list[float] = []
    for bucket in range(buckets):
        low = start + bucket * width
        high = now if bucket == buckets - 1 else start + (bucket + 1) * width
        upper = "<=" if bucket == buckets - 1 else "<"
        count, waited, ran = store.select(
            "SELECT COUNT(*), TOTAL(wait_s), COUNT(wait_s) FROM jobs INDEXED BY jobs_by_finished "
            f"WHERE {condition} AND finished_at IS NOT NULL AND finished_at >= ? AND finished_at {upper} ?",
            [*params, low, high],
        )[0]
        finished.append(int(count))
        waits.append(float(waited) / int(ran) if ran else 0.0)
    return tuple(finished), tuple(waits), width


def _histogram(store: JobStore, where: str, params: list[Any], longest: float | None, bins: int
               ) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Run times in `bins` equal bins from 0 to the longest (the last bin includes the longest): counts by range on
    the run-time index."""
    if longest is None or bins < 1:
        return (), ()
    width = (longest if longest > 0 else 1.0) / bins
    edges = tuple(width * index for index in range(bins + 1))
    counts = []
    for index in range(bins):
        upper = "<=" if index == bins - 1 else "<"
        counts.append(int(store.select(
            f"SELECT COUNT(*) FROM jobs INDEXED BY jobs_by_run WHERE {where} AND {_RAN} "
            f"AND run_s >= ? AND run_s {upper} ?",
            [*params, edges[index], edges[index + 1]],
        )[0][0]))
    return edges, tuple(counts)


def _active(store: JobStore, selection: JobFilter) -> dict[str, int]:
    condition, params = filter_sql(selection)
    names = sorted(state.value for state in ACTIVE_STATES)
    counts = dict.fromkeys((s.value for s in JobState if s in ACTIVE_STATES), 0)
    for state, count in store.select(
        f"SELECT state, COUNT(*) FROM jobs INDEXED BY jobs_by_state WHERE {condition} AND state IN ({', '.join('?' * len(names))}) "
        "GROUP BY state",
        [*params, *names],
    ):
        counts[str(state)] = int(count)
    return counts


def _running_now(store: JobStore, selection: JobFilter) -> tuple[tuple[str, int], ...]:
    """Running jobs by the node class their latest progress names (what is measurable about nodes)."""
    condition, params = filter_sql(selection)
    rows = store.select(
        "SELECT COALESCE(json_extract(data, '$.progress.class_type'), json_extract(data, '$.progress.node_id')) "
        f"AS node, COUNT(*) FROM jobs INDEXED BY jobs_by_state WHERE {condition} AND state = 'running' "
        "AND node IS NOT NULL "
        "GROUP BY node ORDER BY COUNT(*) DESC, node LIMIT 10",
        params,
    )
    return tuple((str(node), int(count)) for node, count in rows)
