"""Following jobs until they end (`submit --wait`, `wait`, `resubmit --wait`): the live summary on stderr, the
report after it, and the exit code the jobs' end states give.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from rich.console import Group
from rich.live import Live
from rich.text import Text

from tui.commands.batch_cmd import notify_end
from tui.commands.job_output import detail_line, report, state_text
from tui.commands.session import Session
from tui.core.backends.base import SourceState
from tui.core.engine import Engine
from tui.core.events import EngineError, Event, JobChanged, SourceStatusChanged
from tui.core.jobs import Job, JobState
from tui.core.presentation import progress_text
from tui.core.safe_text import visible
from tui.exit_codes import EXIT_JOB_FAILED, EXIT_OK, EXIT_UNREACHABLE

# A live display lists at most this many running/queued jobs (the rest are counted).
LIVE_ROWS = 8


class WaitDisplay:
    """While waiting: a live summary on stderr when it is a terminal, else one line per job that ends."""

    def __init__(self, session: Session, job_ids: Iterable[str]) -> None:
        self.session = session
        self.jobs: dict[str, Job] = {}
        self.watched = set(job_ids)
        self.live: Live | None = None
        self.interactive = session.err.is_terminal

    def seed(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self.jobs[job.id] = job

    def __enter__(self) -> WaitDisplay:
        if self.interactive:
            self.live = Live(self._render(), console=self.session.err, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def on_event(self, event: Event) -> None:
        if isinstance(event, JobChanged):
            job = event.job
            # Automatic retries of a watched job are watched too.
            if job.id not in self.watched and job.parent_id in self.watched:
                self.watched.add(job.id)
            if job.id not in self.watched:
                return
            before = self.jobs.get(job.id)
            self.jobs[job.id] = job
            if not self.interactive and job.state.is_terminal and (before is None or before.state != job.state):
                # One short line per job (`OOM · KSampler`); the message follows in the Problems lines.
                self.session.err.print(visible(f"{job.id[:8]} {job.state.value} {detail_line(job, short=True)}".rstrip()),
                                       markup=False, highlight=False)
        elif isinstance(event, SourceStatusChanged):
            status = event.status
            if status.error and status.state in (SourceState.ERROR, SourceState.RECONNECTING, SourceState.DEGRADED):
                self.session.err.print(visible(f"{status.profile}: {status.state.value}: {status.error}"), markup=False,
                                       highlight=False)
        elif isinstance(event, EngineError):
            self.session.err.print(visible(f"{event.profile or 'comfyq'}: {event.message}"), markup=False, highlight=False)
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Group:
        jobs = list(self.jobs.values())
        counts: dict[JobState, int] = {}
        for job in jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        ended = sum(count for state, count in counts.items() if state.is_terminal)
        parts = [f"{ended}/{len(jobs)} ended"] + [f"{count} {state.value}" for state, count in counts.items() if count]
        lines: list[Text] = [Text(" · ".join(parts), style="bold")]
        active = [job for job in jobs if job.state.is_active]
        active.sort(key=lambda job: (job.state is not JobState.RUNNING, job.submitted_at or 0))
        for job in active[:LIVE_ROWS]:
            line = Text(f"{job.id[:8]} ")
            line.append_text(state_text(job))
            detail = progress_text(job, 40)
            if detail and detail != job.state.value:
                line.append(f" {visible(detail)}")
            lines.append(line)
        if len(active) > LIVE_ROWS:
            lines.append(Text(f"… and {len(active) - LIVE_ROWS} more", style="dim"))
        return Group(*lines)


# --------------------------------------------------------------------------------------------------- exit codes


def exit_code_for(jobs: Sequence[Job]) -> int:
    """0 when every job succeeded, else 1 (failed, cancelled, lost, unknown, or still active)."""
    return EXIT_OK if jobs and all(job.state is JobState.SUCCEEDED for job in jobs) else EXIT_JOB_FAILED


async def wait_and_report(
    session: Session, args: argparse.Namespace, engine: Engine, jobs: Sequence[Job], timeout: float | None,
    *, batch: str | None = None,
) -> int:
    """Follow `jobs` (live on stderr) until they end or `timeout`, print them with their outputs and problems, and
    give the exit code their end states (or an unreachable service) mean."""
    ids = [job.id for job in jobs]
    display = WaitDisplay(session, ids)
    display.seed(jobs)
    unsubscribe = engine.subscribe(display.on_event)
    try:
        with display:
            final = await engine.wait(ids, timeout)
    finally:
        unsubscribe()
    report(session, args, final, outputs=True)
    if getattr(args, "notify", False):
        notify_end(session, final, batch)
    still = [job for job in final if job.state.is_active]
    if still:
        troubled = troubled_profiles(engine, {job.profile for job in still})
        session.err.print(
            f"comfyq: timed out after {timeout:g}s: {len(still)} job(s) still {', '.join(sorted({j.state.value for j in still}))}",
            markup=False,
            highlight=False,
        )
        if troubled:
            session.err.print(f"comfyq: cannot reach: {'; '.join(troubled)}", markup=False, highlight=False)
            return EXIT_UNREACHABLE
    return exit_code_for(final)


def troubled_profiles(engine: Engine, profiles: Iterable[str]) -> list[str]:
    """`name (error)` of each of `profiles` whose source cannot reach its service now."""
    troubled = []
    for name in sorted(profiles):
        status = engine.source_statuses.get(name)
        if status is not None and status.state in (SourceState.ERROR, SourceState.RECONNECTING, SourceState.DEGRADED):
            troubled.append(f"{name} ({status.error or status.state.value})")
    return troubled

