"""ServiceStats as lines of plain text: what `comfyq stats` prints and the app's stats view shows beside its charts.

Every name that came from the store (profile, batch, node, failure category) passes `visible` here.
"""

from __future__ import annotations

from tui.core.presentation import format_duration as seconds_text  # the one duration formatter
from tui.core.safe_text import visible
from tui.core.stats import Distribution, ServiceStats


def percent_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def rate_text(per_hour: float | None) -> str:
    if per_hour is None:
        return "0/h"
    return f"{per_hour:,.0f}/h" if per_hour >= 10 else f"{per_hour:.1f}/h"


def _distribution(name: str, figures: Distribution) -> str:
    return (f"{name:<5} p50 {seconds_text(figures.p50)}  p95 {seconds_text(figures.p95)}  "
            f"max {seconds_text(figures.max)}")


def headline(stats: ServiceStats) -> str:
    """`profile sim-api · last 1h · 42 finished · 42/h · 95.2% succeeded`."""
    parts = []
    if stats.selection.profile:
        parts.append(f"profile {visible(stats.selection.profile)}")
    if stats.selection.batch:
        parts.append(f"batch {visible(stats.selection.batch)}")
    if stats.selection.text or stats.selection.states is not None:
        parts.append(f"filter {visible(stats.selection.to_query())}")
    parts.append("all time" if stats.window.seconds is None else f"last {stats.window.label}")
    parts.append(f"{stats.finished:,} finished")
    parts.append(rate_text(stats.per_hour))
    parts.append(f"{percent_text(stats.success_rate)} succeeded")
    return " · ".join(parts)


def stats_lines(stats: ServiceStats, *, profiles: bool = True) -> list[str]:
    """The figures, a line each (the headline first)."""
    lines = [headline(stats)]
    states = "  ".join(f"{name} {count:,}" for name, count in stats.states.items())
    lines.append(f"states   {states}")
    lines.append(_distribution("wait", stats.wait) + f"   ({stats.wait.count:,} ran, {stats.never_ran:,} never ran)")
    lines.append(_distribution("run", stats.run))
    per_job = "—" if stats.outputs_per_job is None else f"{stats.outputs_per_job:.2f}"
    lines.append(f"outputs  {stats.outputs_total:,} ({per_job} per succeeded job)   "
                 f"run time total {seconds_text(stats.run_time_total)}")
    if stats.failures:
        shown = ",  ".join(f"{visible(failure.label)}: {failure.count:,}" for failure in stats.failures)
        lines.append(f"failures {shown}")
    else:
        lines.append("failures none")
    active = ", ".join(f"{count:,} {name}" for name, count in stats.active.items() if count)
    nodes = ", ".join(f"{visible(node)} {count:,}" for node, count in stats.running_now_by_node)
    lines.append(f"now      {active or 'nothing in flight'}" + (f"   (running at: {nodes})" if nodes else ""))
    if profiles and len(stats.profiles) > 1:
        for figures in stats.profiles:
            lines.append(
                f"  {visible(figures.profile)}: {figures.finished:,} finished · {rate_text(figures.per_hour)} · "
                f"{percent_text(figures.failure_rate)} failed · run time {seconds_text(figures.run_time_total)}"
            )
    lines.append("busiest nodes by time: not measured (the store keeps a running job's latest progress, not "
                 "per-node timings)")
    return lines
