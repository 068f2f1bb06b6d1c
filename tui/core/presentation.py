"""How a job reads, in words and marks: the one vocabulary of the CLI's tables and the app's panes.

State marks and colours, short ids, clocks and durations, progress, the short form of a failure (`OOM · KSampler`,
`rejected · ckpt_name`, `lost`), counts ("1 output"), the ids line `c` copies, and `oss_paths(job, profile)` — where
each output file landed in OSS, or why it has no path. Plain strings and rich style names only: the CLI imports this
without Textual. Text that came from a service is returned as it is; callers pass it through `safe_text.visible`
when they draw it (copying copies the real value).
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, Output
from tui.core.oss import OssPathError, compose_oss_path

if TYPE_CHECKING:
    from tui.core.config import Profile

log = logging.getLogger(__name__)

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



def format_duration(seconds: float | None) -> str:
    """The one way to write a duration (the stats use it too): `0.8s`, `12.3s`, `4m05s`, `2h10m`, `3d04h`; `—` when
    unknown."""
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def short_id(job_id: str) -> str:
    return job_id[:SHORT_ID_LENGTH]


def state_word(job: Job) -> str:
    """The state as every view shows it: its mark and its name (`✔ succeeded`)."""
    return f"{STATE_ICONS[job.state]} {job.state.value}"


def count_text(count: int, noun: str) -> str:
    """`1 output`, `3 outputs`, `0 outputs`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# ----------------------------------------------------------------------------------------------------- time


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
    """When the job was submitted, or — for an external job whose service did not say — when comfyq first saw it, as
    "seen 10:42" (the same width as a clock)."""
    if job.submit_time_known or job.submitted_at is None:
        return format_clock(job.submitted_at, now)
    moment = datetime.fromtimestamp(job.submitted_at)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    return moment.strftime("seen %H:%M" if moment.date() == today else "seen %m-%d")


def format_age(timestamp: float | None, now: float | None = None) -> str:
    """'3s ago', '5m ago' — for last-seen times."""
    if timestamp is None:
        return "never"
    return f"{format_duration((now if now is not None else time.time()) - timestamp)} ago"


# ------------------------------------------------------------------------------------------------- progress


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


# -------------------------------------------------------------------------------------------------- failure

_OOM = re.compile(r"out ?of ?memory|\bOOM\b", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed? ?out|timeout|deadline", re.IGNORECASE)
_HTTP_STATUS = re.compile(r"\b(?:HTTP |status )?([45]\d\d)\b")


def failure_body(failure: Failure) -> str:
    """The message without the "node 3 ImageBlend: RuntimeError: " that the failure's other fields already say."""
    message = failure.message
    prefix = " ".join(part for part in ("node", failure.node_id, failure.class_type) if part) if failure.node_id else ""
    if prefix and message.startswith(prefix + ": "):
        message = message[len(prefix) + 2 :]
    if failure.exception_type and message.startswith(failure.exception_type + ": "):
        message = message[len(failure.exception_type) + 2 :]
    return message or failure.message


def short_failure(failure: Failure) -> str:
    """A failure in a few words: what went wrong and where — `OOM · KSampler`, `RuntimeError · node 4`,
    `rejected · ckpt_name +1`, `timeout`, `HTTP 503`, `auth`, `lost`, `interrupted`."""
    category = failure.category
    if category is FailureCategory.EXECUTION:
        if _OOM.search(failure.exception_type or "") or _OOM.search(failure.message):
            what = "OOM"
        else:
            what = (failure.exception_type or "").rpartition(".")[2] or "error"
        where = failure.class_type or (f"node {failure.node_id}" if failure.node_id else "")
        return f"{what} · {where}" if where else what
    if category is FailureCategory.REJECTED:
        inputs: list[str] = []
        for error in failure.node_errors:
            name = error.input_name or error.class_type or f"node {error.node_id}"
            if name not in inputs:
                inputs.append(name)
        if not inputs:
            return "rejected"
        more = f" +{len(inputs) - 1}" if len(inputs) > 1 else ""
        return f"rejected · {inputs[0]}{more}"
    if category is FailureCategory.TRANSPORT:
        if _TIMEOUT.search(failure.message):
            return "timeout"
        status = _HTTP_STATUS.search(failure.message)
        return f"HTTP {status.group(1)}" if status else "unreachable"
    return category.value  # auth, lost, interrupted: the word says it


def _first_line(text: str) -> str:
    # Only a line feed ends a line: a carriage return or other control inside it is shown escaped, not cut at.
    return next((line.strip() for line in text.split("\n") if line.strip()), "")


def reason_text(job: Job) -> str:
    """Why a finished job did not succeed (or what to know about it), in one line: the short form first, then the
    first line of the message — `OOM · KSampler — CUDA out of memory. Tried to allocate 2.00 GiB.` A warning reads
    `⚠ …`; nothing when there is nothing to say."""
    failure = job.failure
    if failure is not None:
        short = short_failure(failure)
        body = _first_line(failure_body(failure))
        if failure.category is FailureCategory.REJECTED and failure.node_errors:
            first = failure.node_errors[0]
            body = _first_line(f"{first.message} {first.details}".strip()) or body
        return f"{short} — {body}" if body and body != short else short
    if job.warning:
        return f"⚠ {_first_line(job.warning)}"
    if job.state is JobState.LOST:
        return "lost"
    return ""


def failure_announcement(failures: Sequence[Job], *, max_chars: int = 120, reasons_named: int = 3) -> tuple[str, str]:
    """(title, message) saying that `failures` (failed jobs, ended together) failed, for one toast.

    A lone job: its id, profile, short reason and the message's start, at most `max_chars` (the detail has it all) —
    `job 8700c2b8 (sim-api): OOM · KSampler — CUDA out of memory. Tried…`. Several: counted by short reason, the
    `reasons_named` commonest named — `OOM · KSampler ×3, rejected · ckpt_name ×1 (sim-api)`."""
    if len(failures) == 1:
        [job] = failures
        reason = reason_text(job)
        if len(reason) > max_chars:
            reason = reason[: max_chars - 1].rstrip() + "…"
        category = job.failure.category.value if job.failure is not None else job.state.value
        return f"Failed: {category}", f"job {job.id[:8]} ({job.profile}): {reason}"
    reasons = Counter(short_reason(job) or job.state.value for job in failures)
    named = ", ".join(f"{reason} ×{count}" for reason, count in reasons.most_common(reasons_named))
    more = ", …" if len(reasons) > reasons_named else ""
    profiles = ", ".join(sorted({job.profile for job in failures}))
    return f"{len(failures)} jobs failed", f"{named}{more} ({profiles}) — the Failed filter lists them"


# A warning's short form is at most this many cells (the whole text: `show`, `--json`, the Problems lines).
SHORT_WARNING_CELLS = 40


def short_reason(job: Job) -> str:
    """Why a finished job did not succeed, in a few words and nothing more: the failure's short form (`OOM ·
    KSampler`, `rejected · ckpt_name`, `timeout`, `HTTP 503`, `lost`), else `⚠` and the warning's first clause; nothing
    when there is nothing to say. What a table into a pipe shows, where a line is never cut (the whole message
    would make it hundreds of characters wide)."""
    if job.failure is not None:
        return short_failure(job.failure)
    if job.warning:
        return f"⚠ {_short_clause(_first_line(job.warning))}"
    if job.state is JobState.LOST:
        return "lost"
    return ""


def _short_clause(text: str) -> str:
    """The start of a sentence up to its first `: ` (`unrecognised result: <excerpt>` → `unrecognised result`),
    at most SHORT_WARNING_CELLS long, cut after a whole word and ending in `…`."""
    clause = text.split(": ", 1)[0].strip() or text
    if len(clause) <= SHORT_WARNING_CELLS:
        return clause
    cut = clause[: SHORT_WARNING_CELLS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;") + "…"


def error_summary(job: Job) -> str:
    """The whole failure message in one line (category first), else a warning, else nothing."""
    if job.failure is not None:
        return f"{job.failure.category.value}: {job.failure.message}".replace("\n", " ")
    if job.warning:
        return f"warning: {job.warning}".replace("\n", " ")
    return ""


def detail_text(job: Job, width: int, *, outputs: bool = True) -> str:
    """The one free column of a job line: progress while it is active, else why it ended badly, else (with
    `outputs`) how many files it made."""
    if job.state.is_active:
        return progress_text(job, width)
    reason = reason_text(job)
    if reason or not outputs:
        return reason
    return count_text(len(job.outputs), "output") if job.outputs else ""


# ---------------------------------------------------------------------------------------------- ids, origin


def remote_id(job: Job) -> str:
    return job.remote_id or job.task_id or job.prompt_id or ""


def job_ids_line(job: Job) -> str:
    """The job's ids in one line (what `c` copies)."""
    ids = [f"job {job.id}"]
    for name in ("task_id", "prompt_id", "request_id"):
        value = getattr(job, name)
        if value:
            ids.append(f"{name} {value}")
    return ", ".join(ids)


def external_origin(job: Job) -> str:
    """Where an external job came from, for the detail view: who submitted it, as far as comfyq can tell."""
    if job.edition is Edition.API:
        return "submitted by another client (a sink result for a task_id comfyq never submitted)"
    client = f", client_id {job.client_id}" if job.client_id else ""
    return f"submitted by another client (found in the server's /queue or /history{client})"


# ------------------------------------------------------------------------------------------------ OSS paths

TEMP_OSS_TEXT = "temp (no OSS path)"
NO_BUCKET_TEXT = "— (profile has no oss_bucket_path)"


@dataclass(frozen=True)
class OutputLocation:
    """One output file and where it landed in OSS: `path` to copy, or None and `note` saying why there is none."""

    output: Output
    path: str | None
    note: str = ""

    @property
    def shown(self) -> str:
        return self.path if self.path is not None else self.note


def output_location(output: Output, profile: Profile | None) -> OutputLocation:
    """Where `output` landed in OSS under `profile`'s bucket path (None: the profile is not configured)."""
    if output.type == "temp":
        return OutputLocation(output, None, TEMP_OSS_TEXT)
    bucket = profile.oss_bucket_path if profile is not None else None
    if bucket is None or not bucket.strip():
        return OutputLocation(output, None, NO_BUCKET_TEXT)
    try:
        location = compose_oss_path(bucket, output)
    except OssPathError as error:
        # A name the service reported that we refuse to turn into a path (e.g. `..`): no path, and why.
        log.warning("no OSS path for %s: %s", output.filename, error)
        return OutputLocation(output, None, f"✘ {error}")
    if location is None:
        return OutputLocation(output, None, f"— (type {output.type!r} has no OSS folder)")
    return OutputLocation(output, location.path)


def oss_paths(job: Job, profile: Profile | None) -> list[OutputLocation]:
    """Every output of `job`, in the job's order, with its OSS path or the reason it has none."""
    return [output_location(output, profile) for output in job.outputs]


def copyable_paths(locations: Sequence[OutputLocation]) -> list[str]:
    return [location.path for location in locations if location.path is not None]


def no_path_reason(job: Job | None, profile: Profile | None, *, selected: bool) -> str:
    """Why `y` (selected) or `Y` found nothing to copy."""
    if job is None:
        return "no job selected"
    if not job.outputs:
        return "this job has no outputs"
    if profile is None or not profile.oss_bucket_path:
        return f"profile {job.profile!r} has no oss_bucket_path"
    if selected:
        return "the selected output has no OSS path (a temp file?)"
    return "none of the outputs has an OSS path (temp files only?)"
