"""What each section of the job detail says, as rich Text: the header line, the state timeline, the ids, the error
block, one line per attempt, and raw results / workflows pretty-printed. Built from a Job alone (the widget in
job_detail.py decides when to redraw); every text from a service passes `safe_text.visible` here.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from rich.text import Text
from textual.content import Content
from textual.highlight import highlight

from tui.core.batch import job_seed
from tui.core.jobs import Edition, Failure, Job, JobState
from tui.core.presentation import (
    STATE_ICONS,
    STATE_STYLES,
    count_text,
    failure_body,
    format_clock,
    format_duration,
    progress_text,
    reason_text,
    short_id,
)
from tui.core.safe_text import visible

# Pretty-printing and highlighting a huge document would stall the UI; above this many characters the text is
# shown as it is, without colours.
HIGHLIGHT_LIMIT = 200_000

# Chronological order for states entered at the same instant.
_STATE_ORDER = {state.value: rank for rank, state in enumerate(JobState)}


def pretty_text(text: str) -> tuple[str, bool]:
    """(text to show, whether it is JSON): JSON is re-indented, anything else is returned unchanged."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text, False
    if not isinstance(value, (dict, list)):
        return text, False
    return json.dumps(value, indent=2, ensure_ascii=False), True


def code_text(text: str, is_json: bool) -> Content | Text:
    # A raw result or workflow as a service sent it: control characters escaped, line breaks kept.
    text = visible(text, keep_newlines=True)
    if is_json and len(text) <= HIGHLIGHT_LIMIT:
        return highlight(text, language="json")
    return Text(text)


def clock(at: float, reference: float) -> str:
    """HH:MM:SS, with the date in front when it differs from `reference`'s (now, or the previous state's)."""
    moment = datetime.fromtimestamp(at)
    if moment.date() == datetime.fromtimestamp(reference).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def visible_failure(failure: Failure) -> Failure:
    """The failure with every text field made safe to draw (it came from a service)."""
    return dataclasses.replace(
        failure,
        message=visible(failure.message, keep_newlines=True),
        node_id=None if failure.node_id is None else visible(failure.node_id),
        class_type=None if failure.class_type is None else visible(failure.class_type),
        exception_type=None if failure.exception_type is None else visible(failure.exception_type),
        node_errors=tuple(
            dataclasses.replace(
                error,
                **{name: visible(getattr(error, name), keep_newlines=True)
                   for name in ("node_id", "class_type", "input_name", "message", "details", "type")
                   if isinstance(getattr(error, name, None), str)},
            )
            for error in failure.node_errors
        ),
    )


def failure_text(failure: Failure) -> Text:
    """The error block: category, where (node, class_type), exception type, then the message or the node errors."""
    text = Text()
    failure = visible_failure(failure)
    text.append(f"✘ {failure.category.value}", style="bold red")
    if failure.node_errors:
        nodes = len({error.node_id for error in failure.node_errors})
        count = len(failure.node_errors)
        text.append(f"  {count} error{'s' if count != 1 else ''} in {nodes} node{'s' if nodes != 1 else ''}")
    else:
        parts = (f"node {failure.node_id}" if failure.node_id else "", failure.class_type or "")
        where = " ".join(part for part in parts if part)
        if where:
            text.append(f"  {where}", style="bold")
    if failure.exception_type:
        text.append(f"  {failure.exception_type}", style="red")
    if not failure.node_errors:
        # The message of a rejection with node errors is those errors joined; the list below says it better.
        text.append("\n")
        text.append(failure_body(failure).rstrip())
    for error in failure.node_errors:
        text.append("\n• ")
        text.append(f"node {error.node_id} {error.class_type}".rstrip(), style="bold")
        if error.input_name:
            text.append(f" {error.input_name}", style="cyan")
        text.append(f": {error.message or error.type or 'invalid'}")
        details = error.details
        for separator in (", ", ": "):  # ComfyUI repeats the input name at the start of the details
            if error.input_name and details.startswith(error.input_name + separator):
                details = details[len(error.input_name) + len(separator) :]
        if details and details != error.input_name and details not in error.message:
            text.append(f" — {details}", style="dim")
        if error.type:
            text.append(f" [{error.type}]", style="dim")
    return text


def header_text(job: Job, position: int | None, total: int, now: float) -> Text:
    """The first line: state, short id, profile and edition, the attempt (`attempt 2/3`), where it is in the queue or
    which node runs, and how long it has taken."""
    text = Text(no_wrap=False)
    text.append(f"{STATE_ICONS[job.state]} {job.state.value}", style=STATE_STYLES[job.state])
    text.append(f"  job {short_id(job.id)}", style="bold")
    edition_style = "cyan" if job.edition is Edition.API else "magenta"
    text.append(f"  {visible(job.profile)} ")
    text.append(f"({job.edition.value})", style=edition_style)
    if total > 1 and position is not None:
        text.append(f"  attempt {position}/{total}")
    elif job.attempt > 1:
        text.append(f"  attempt {job.attempt}")
    if job.external:
        text.append("  external: submitted by another client", style="bold magenta")
    if job.state.is_active and job.unreachable_since is not None:
        text.append(f"  {progress_text(job, 40)}", style="bold red")
    if job.state is JobState.QUEUED and job.queue_position is not None:
        ahead = job.queue_position
        text.append("  next in queue" if ahead == 0 else f"  {ahead} ahead in queue", style="blue")
    if job.state is JobState.RUNNING and job.progress is not None:
        progress = job.progress
        node = progress.class_type or (f"node {progress.node_id}" if progress.node_id else "")
        counter = f" {int(progress.value)}/{int(progress.max)}" if progress.max else ""
        text.append(visible(f"  {node}{counter}".rstrip()), style="yellow")
    text.append(f"  {format_duration(job.duration(now))}", style="dim")
    return text

def timeline_text(job: Job, now: float) -> Text:
    """Each state the job entered, when, and how long it stayed: `↑ submitting 10:00:01 ─0.2s→ … queued …`."""
    stamps = sorted(job.timestamps.items(), key=lambda item: (item[1], _STATE_ORDER.get(item[0], 99)))
    text = Text()
    for index, (state_name, at) in enumerate(stamps):
        try:
            state: JobState | None = JobState(state_name)
        except ValueError:
            state = None
        if index:
            text.append(f" ─{format_duration(at - stamps[index - 1][1])}→ ", style="dim")
        icon = STATE_ICONS[state] if state is not None else "·"
        style = STATE_STYLES[state] if state is not None else ""
        # An external job's first stamp is when comfyq first saw it, unless its service said when it was sent.
        seen = not index and state is JobState.SUBMITTING and not job.submit_time_known
        text.append(f"{icon} {'seen' if seen else state_name}", style=style)
        text.append(f" {clock(at, stamps[index - 1][1] if index else now)}", style="dim")
    if stamps and job.state.is_active:
        text.append(f" ─{format_duration(now - stamps[-1][1])}→ now", style="dim")
    if not stamps:
        text.append("no timestamps", style="dim")
    return text


_SEEDS = ("seed", "noise_seed")


def ids_rows(job: Job) -> list[tuple[str, str]]:
    """(label, value) per id the job has — the edition's own first — then its batch, seed and other parameters."""
    rows: list[tuple[str, str]] = [("job", job.id)]
    if job.edition is Edition.API:
        rows.append(("task_id", job.task_id or "—"))
        if job.prompt_id:
            rows.append(("prompt_id", job.prompt_id))
        queue = "—" if job.queue_index is None else str(job.queue_index)
        sink = "—" if job.sink_index is None else str(job.sink_index)
        rows.append(("queue", f"index {queue} · request id {job.request_id or '—'} · sink index {sink}"))
    else:
        rows.append(("prompt_id", job.prompt_id or "—"))
        if job.task_id:
            rows.append(("task_id", job.task_id))
    if job.client_id:
        rows.append(("client id", job.client_id))
    if job.parent_id:
        rows.append(("parent", job.parent_id))
    if job.batch:
        rows.append(("batch", visible(job.batch)))
    seed = job_seed(job.params, job.workflow)
    if seed is not None:
        rows.append(("seed", str(seed)))
    others = [f"{key}={value}" for key, value in job.params.items() if key.rpartition(".")[2] not in _SEEDS]
    if others:
        rows.append(("params", visible(", ".join(others))))
    return [(label, visible(value)) for label, value in rows]


def attempt_line(number: int, attempt: Job, current: bool, width: int) -> Text:
    """One attempt of a chain, on one line of `width` cells: `▶ #2 ✘ failed 1a2b3c4d 10:02:11  OOM · KSampler — …`."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("▶ " if current else "  ", style="bold")
    line.append(f"#{number} ")
    line.append(f"{STATE_ICONS[attempt.state]} {attempt.state.value:<9}", style=STATE_STYLES[attempt.state])
    line.append(f" {short_id(attempt.id)}", style="bold" if current else "")
    line.append(f" {format_clock(attempt.submitted_at)}", style="dim")
    if attempt.failure is not None:
        line.append(f"  {visible(reason_text(attempt))}", style="red")
    elif attempt.outputs:
        line.append(f"  {count_text(len(attempt.outputs), 'output')}", style="dim")
    if width > 10:
        line.truncate(width - 1, overflow="ellipsis")  # one line per attempt (the option list would wrap)
    return line
