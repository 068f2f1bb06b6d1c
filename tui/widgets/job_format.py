"""How a job looks in one line: state icons and colours, short ids, ages, durations, progress, error summary.

Shared by the job table, the detail pane and the status bar so a state always looks the same everywhere.
"""

from __future__ import annotations

import time
from datetime import datetime

from tui.core.stats_text import seconds_text
from tui.core.jobs import Edition, Job, JobState

STATE_ICONS: dict[JobState, str] = {
    JobState.SUBMITTING: "↑",
    JobState.QUEUED: "…",
    JobState.RUNNING: "▶",
    JobState.SUCCEEDED: "✔",
    JobState.FAILED: "✘",
    JobState.CANCELLED: "⊘",
    JobState.LOST: "?",
    JobState.UNKNOWN: "‽",
}

# Rich styles; chosen to read on both dark and light themes.
STATE_STYLES: dict[JobState, str] = {
    JobState.SUBMITTING: "bold cyan",
    JobState.QUEUED: "bold blue",
    JobState.RUNNING: "bold yellow",
    JobState.SUCCEEDED: "bold green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "magenta",
    JobState.LOST: "bold magenta",
    JobState.UNKNOWN: "bold magenta",
}

SHORT_ID_LENGTH = 8


def short_id(job_id: str) -> str:
    return job_id[:SHORT_ID_LENGTH]


def format_clock(timestamp: float | None, now: float | None = None) -> str:
    """HH:MM:SS today, else MM-DD HH:MM."""
    if timestamp is None:
        return "—"
    moment = datetime.fromtimestamp(timestamp)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M")


def submitted_text(job: Job, now: float | None = None) -> str:
    """The time column: when the job was submitted, or — for an external job whose service did not say — when comfyq
    first saw it, as "seen 10:42" (the same width as a clock)."""
    if job.submit_time_known or job.submitted_at is None:
        return format_clock(job.submitted_at, now)
    moment = datetime.fromtimestamp(job.submitted_at)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    return moment.strftime("seen %H:%M" if moment.date() == today else "seen %m-%d")


# One way to write a duration, shared with the stats (core): `0.8s`, `4m05s`, `2h10m`, `3d04h`.
format_duration = seconds_text


def format_age(timestamp: float | None, now: float | None = None) -> str:
    """'3s ago', '5m ago' — for last-seen times."""
    if timestamp is None:
        return "never"
    return f"{format_duration((now if now is not None else time.time()) - timestamp)} ago"


def progress_bar(fraction: float, width: int) -> str:
    """A bar of `width` cells with eighth-block resolution."""
    width = max(1, width)
    fraction = min(1.0, max(0.0, fraction))
    eighths = int(round(fraction * width * 8))
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest] if rest and full < width else ""
    return ("█" * full + partial).ljust(width, "░")[:width]


def progress_text(job: Job, width: int) -> str:
    """Queue position while queued, a bar with the running node while running, nothing otherwise.

    While the server does not answer, an in-flight job says so instead of a stale position or node."""
    if job.state.is_active and job.unreachable_since is not None:
        return f"server unreachable since {datetime.fromtimestamp(job.unreachable_since).strftime('%H:%M')}"
    if job.state is JobState.QUEUED:
        if job.queue_position is None:
            return "queued"
        return "next in queue" if job.queue_position == 0 else f"#{job.queue_position + 1} in queue"
    if job.state is JobState.RUNNING:
        progress = job.progress
        if progress is None:
            return "running"
        node = progress.class_type or (f"node {progress.node_id}" if progress.node_id else "")
        fraction = progress.fraction
        if fraction is None:
            return node or "running"
        counter = f"{int(progress.value)}/{int(progress.max)}"
        bar_width = max(3, min(12, width - len(counter) - len(node) - 2))
        return f"{progress_bar(fraction, bar_width)} {counter} {node}".rstrip()
    return ""


def retried_text(latest: Job) -> str:
    """What became of a finished job's resubmission: `↻✔ attempt 2` (the icon is its latest attempt's state)."""
    return f"↻{STATE_ICONS[latest.state]} attempt {latest.attempt}"


def error_summary(job: Job) -> str:
    """One line: the failure message, else a warning, else nothing."""
    if job.failure is not None:
        return f"{job.failure.category.value}: {job.failure.message}".replace("\n", " ")
    if job.warning:
        return f"warning: {job.warning}".replace("\n", " ")
    return ""


def remote_id(job: Job) -> str:
    return job.remote_id or job.task_id or job.prompt_id or ""


def external_origin(job: Job) -> str:
    """Where an external job came from, for the detail view: who submitted it, as far as comfyq can tell."""
    if job.edition is Edition.API:
        return "submitted by another client (a sink result for a task_id comfyq never submitted)"
    client = f", client_id {job.client_id}" if job.client_id else ""
    return f"submitted by another client (found in the server's /queue or /history{client})"
