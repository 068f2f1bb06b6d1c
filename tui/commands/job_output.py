"""How the job commands print jobs: the job table, `--json` lines, the Outputs and Problems lines after a wait,
and `show`'s detail. Results go to stdout (the session's `out` console); the words and marks are
`tui.core.presentation`'s, the same the app shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.table import Table
from rich.text import Span, Text

from tui.commands.session import Session
from tui.core.batch import job_seed
from tui.core.jobs import Job, JobState
from tui.core.presentation import (
    STATE_STYLES,
    detail_text,
    external_origin,
    format_duration,
    oss_paths,
    reason_text,
    short_reason,
    state_word,
    submitted_text,
)
from tui.core.render import iso_utc, job_to_json
from tui.core.safe_text import visible

# `--wait`'s Problems lines are cut after this many cells: one line per job (the whole message: `comfyq show`).
PROBLEM_LINE_CELLS = 200


def state_text(job: Job) -> Text:
    """The state as every view shows it (`✔ succeeded`), in its colour."""
    return Text(state_word(job), style=STATE_STYLES[job.state])


def detail_line(job: Job, *, short: bool = False) -> str:
    """The Detail column: progress while active; why it ended badly — the short form, then the message's first line
    (cut at a terminal's edge), or with `short` the short form alone (`OOM · KSampler`: a line never cut, into a
    pipe, stays readable); else the outputs count."""
    if short and not job.state.is_active:
        reason = short_reason(job)
        if reason:
            return reason
    return detail_text(job, 30)


# Big JSON lines are written in pieces: a reader that left (`| head`) is then noticed on the next piece on every
# kernel (one huge write can be taken whole by the pipe), and the command ends quietly with 141.
_WRITE_PIECE = 64 * 1024


def print_json(session: Session, jobs: Iterable[Job]) -> None:
    for job in jobs:
        line = job_to_json(job, session.config.profiles) + "\n"
        for start in range(0, len(line), _WRITE_PIECE):
            sys.stdout.write(line[start : start + _WRITE_PIECE])
            if len(line) > _WRITE_PIECE:
                sys.stdout.flush()
    sys.stdout.flush()


def print_table(session: Session, jobs: Sequence[Job], *, outputs: bool = False, title: str | None = None) -> None:
    """The job table (with `outputs`: then the Outputs and Problems lines). On a terminal the Detail column gets the
    width that is left and ends in "…"; into a pipe or a file every line is whole (logs get grepped) and a failure
    reads in its short form (`OOM · KSampler`)."""
    if not jobs:
        session.out.print("no jobs", style="dim")
        return
    now = time.time()
    retries = any(job.attempt > 1 for job in jobs)
    batches = any(job.batch for job in jobs)
    headers = (["Job", "Profile"] + (["Batch"] if batches else []) + ["State"] + (["Try"] if retries else [])
               + ["Submitted", "Duration"])
    right = {"Try", "Duration"}
    rows: list[list[tuple[str, str]]] = []  # (text, style) per cell
    for job in jobs:
        row = [(job.id[:8], ""), (_printable(job.profile), "")]
        if batches:
            row.append((_printable(visible(job.batch or "")), "dim"))
        row.append((state_word(job), STATE_STYLES[job.state]))
        if retries:
            row.append((str(job.attempt), ""))
        row += [(submitted_text(job, now), ""), (format_duration(job.duration(now)), "")]
        rows.append(row)
    widths = [max(len(header), *(cell_len(row[index][0]) for row in rows)) for index, header in enumerate(headers)]
    terminal = session.out.is_terminal
    # Into a pipe a line is never cut, so a failure says its short form only (the whole message: `show`, `--json`,
    # and the Problems lines after a wait); a ComfyUI OOM message alone is some 500 characters.
    details = [_printable(detail_line(job, short=not terminal)) for job in jobs]
    if terminal:
        # Detail gets the width that is left and ends in "…" (the full text: `show`, or the Problems lines below).
        detail_width = session.out.width - sum(widths) - _GAP * len(widths)
    else:
        detail_width = max(len("Detail"), *(cell_len(detail) for detail in details))
    if terminal and detail_width < _MIN_DETAIL:  # into a pipe nothing is narrow: lines are as long as their text
        _print_rich_table(session, headers, right, widths, rows, details, title)
    else:
        # The plain layout also under a title: rich's Table over 1,000 rows into a pipe (no width limit) took
        # ~7 s of `submit -n 1000`, measuring cells of lines as wide as the console.
        if title is not None:
            session.out.print(Text(title, style="table.title"), soft_wrap=True)
        text = _table_text(headers, right, widths, rows, details, detail_width, padded=terminal)
        session.out.print(text, soft_wrap=True)
    if outputs:
        print_outputs(session, jobs)
        print_failures(session, jobs)


def _printable(text: str) -> str:
    """Outside text as shown: control characters as escapes (so the widths measured are the widths shown)."""
    return visible(text)


# Columns are two cells apart; the Detail column never gets fewer than this many cells.
_GAP = 2
_MIN_DETAIL = 10


def _table_text(
    headers: Sequence[str],
    right: set[str],
    widths: Sequence[int],
    rows: Sequence[Sequence[tuple[str, str]]],
    details: Sequence[str],
    detail_width: int,
    *,
    padded: bool = True,
) -> Text:
    """The job table as one Text built from plain strings and style spans: a rich Table costs ~0.3 ms a row (0.3 s
    for the table `submit -n 1000` prints), this ~0.02 ms. Cell for cell what `_print_rich_table` prints when the
    columns fit: padding takes its cell's style, columns are two cells apart, Detail is cut with "…".
    Not `padded` (a pipe): Detail is neither cut nor padded, and the rule is as long as the header."""
    parts: list[str] = []
    spans: list[Span] = []
    position = 0

    def put(text: str, style: str = "") -> None:
        nonlocal position
        if style:
            spans.append(Span(position, position + len(text), style))
        parts.append(text)
        position += len(text)

    gap = " " * _GAP
    for header, width in zip(headers, widths):
        # Bold over the header and its padding, not over the column divider (as rich's header_style does).
        put(f"{header.rjust(width) if header in right else header.ljust(width)} ", "bold")
        put(" ")
    put("Detail".ljust(detail_width) if padded else "Detail", "bold")
    put("\n" + "─" * (sum(widths) + _GAP * len(widths) + (detail_width if padded else len("Detail"))))
    for row, detail in zip(rows, details):
        put("\n")
        for header, width, (text, style) in zip(headers, widths, row):
            padding = " " * (width - cell_len(text))
            put(padding + text if header in right else text + padding, style)
            put(gap)
        detail = detail.replace("\n", " ")
        length = cell_len(detail)
        if length > detail_width:
            detail = set_cell_size(detail, detail_width - 1) + "…"
        elif length < detail_width and padded:
            detail += " " * (detail_width - length)
        put(detail)
    return Text("".join(parts), end="", spans=spans)


def _print_rich_table(
    session: Session,
    headers: Sequence[str],
    right: set[str],
    widths: Sequence[int],
    rows: Sequence[Sequence[tuple[str, str]]],
    details: Sequence[str],
    title: str | None,
) -> None:
    """The same table through rich's Table: kept for a console too narrow for the columns, where rich squeezes the
    columns to fit."""
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, show_edge=False)
    for header, width in zip(headers, widths):
        table.add_column(header, width=width, no_wrap=True, justify="right" if header in right else "left")
    placeholder = _MIN_DETAIL
    table.add_column("Detail", width=placeholder, no_wrap=True, overflow="ellipsis")
    for row, detail in zip(rows, details):
        table.add_row(*(Text(text, style=style) for text, style in row), Text(detail))
    used = session.out.measure(table).maximum
    table.columns[-1].width = max(placeholder, placeholder + session.out.width - used)
    session.out.print(table)


def print_outputs(session: Session, jobs: Sequence[Job]) -> None:
    """One line per output file: job, file, OSS path — never folded, so it can be copied or grepped."""
    lines: list[Text] = []
    for job in jobs:
        for location in oss_paths(job, session.profile_or_none(job.profile)):
            output = location.output
            name = f"{output.subfolder}/{output.filename}" if output.subfolder else output.filename
            line = Text(f"{job.id[:8]}  ")
            line.append(visible(name), style="bold")
            if output.type != "output":
                line.append(f" ({visible(output.type)})", style="dim")
            if location.path:
                line.append(f"  {visible(location.path)}", style="cyan")
            lines.append(line)
    if lines:
        session.out.print(Text("Outputs", style="bold underline"))
        for line in lines:
            session.out.print(line, soft_wrap=True)


def print_failures(session: Session, jobs: Sequence[Job]) -> None:
    """One line per job that failed or has a warning: the short form and the message's first line (a traceback or
    a long message stays in `comfyq show`)."""
    failed = [job for job in jobs if job.failure is not None or (job.warning and not job.state.is_active)]
    if not failed:
        return
    session.out.print(Text("Problems", style="bold underline"))
    cut = False
    for job in failed:
        reason = visible(reason_text(job))
        if cell_len(reason) > PROBLEM_LINE_CELLS:
            reason, cut = set_cell_size(reason, PROBLEM_LINE_CELLS - 1) + "…", True
        line = Text(f"{job.id[:8]}  ")
        line.append(reason, style="red" if job.failure is not None else "yellow")
        session.out.print(line, soft_wrap=True)
    if cut:
        session.out.print(Text("(the whole message: comfyq show JOB_ID)", style="dim"), soft_wrap=True)


def print_job_detail(session: Session, job: Job) -> None:
    """`comfyq show`: every field comfyq knows, the whole failure with its traceback, then the outputs."""
    profile = session.profile_or_none(job.profile)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: Any) -> None:
        if value is None or value == "":
            return
        # Every value may come from a service or the store: shown with its control characters escaped.
        grid.add_row(label, value if isinstance(value, Text) else Text(visible(value, keep_newlines=True)))

    row("Job", job.id)
    row("Profile", f"{visible(job.profile)} ({job.edition.value} edition)" + ("" if profile else " — not configured"))
    row("State", state_text(job))
    row("Task id", job.task_id)
    row("Prompt id", job.prompt_id)
    row("Client id", job.client_id)
    row("Queue index", job.queue_index)
    row("Request id", job.request_id)
    row("Sink index", job.sink_index)
    row("Queue position", job.queue_position)
    labels = {JobState.SUBMITTING: "Submitted", JobState.QUEUED: "Queued", JobState.RUNNING: "Started"}
    for state in JobState:
        stamp = job.timestamps.get(state.value)
        if stamp is not None:
            row(f"{labels.get(state, state.value.capitalize())} at", iso_utc(stamp))
    row("Duration", format_duration(job.duration()))
    if job.state.is_active:
        row("Progress", detail_line(job))
    row("Attempt", job.attempt if job.attempt > 1 or job.parent_id else None)
    row("Parent", job.parent_id)
    children = session.store.children(job.id)
    row("Resubmitted as", ", ".join(child.id for child in children) if children else None)
    row("External", f"yes: {visible(external_origin(job))}" if job.external else None)
    row("Batch", visible(job.batch) if job.batch else None)
    row("Seed", job_seed(job.params, job.workflow))
    row("Parameters", visible(", ".join(f"{key}={value}" for key, value in job.params.items())) if job.params else None)
    row("Warning", job.warning)
    if job.failure is not None:
        failure = job.failure
        row("Failure", Text(visible(f"{failure.category.value}: {failure.message}", keep_newlines=True), style="red"))
        where = " ".join(part for part in (f"node {failure.node_id}" if failure.node_id else "", failure.class_type or "") if part)
        row("Failed node", where or None)
        row("Exception", failure.exception_type)
        for error in failure.node_errors:
            row("Node error", f"node {error.node_id} {error.class_type}: {error.input_name} {error.message} {error.details}".strip())
        if failure.traceback:
            row("Traceback", "".join(failure.traceback).rstrip())
    session.out.print(grid)
    if job.outputs:
        print_outputs(session, [job])


def report(session: Session, args: argparse.Namespace, jobs: Sequence[Job], *, outputs: bool) -> None:
    """The jobs as `--json` lines or as the table."""
    if args.json:
        print_json(session, jobs)
    else:
        print_table(session, jobs, outputs=outputs)

