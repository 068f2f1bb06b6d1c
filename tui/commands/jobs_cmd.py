"""The headless job commands: submit, jobs, show, wait, resubmit, cancel, watch.

They drive the same Engine as the TUI, without Textual. Scripts depend on this surface:

    comfyq submit WORKFLOW.json -p PROFILE [-n COUNT] [--set NODE.INPUT=VALUE ...] [--sweep NODE.INPUT=VALUES ...]
                  [--same-seed | --random-seed] [--name NAME] [--dry-run] [--wait [--timeout S] [--notify]] [--json]
    comfyq jobs [-p PROFILE] [--state STATE] [--batch NAME] [--limit N] [--json]
    comfyq show JOB_ID [--json]
    comfyq wait (JOB_ID... | --batch NAME) [--timeout S] [--notify] [--json]
    comfyq resubmit (JOB_ID... | --failed [--batch NAME]) [-p PROFILE] [--new-seed] [--name NAME] [--wait] [--json]
    comfyq cancel JOB_ID...
    comfyq watch [-p PROFILE] [--json]

stdout carries only results (a table, or one JSON object per job per line with `--json`); progress and messages go
to stderr. Exit codes: 0 all succeeded; 1 any failed / cancelled / lost / unknown (or still running at --timeout);
2 usage or config error; 3 service unreachable or unauthorized; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Span, Text

from tui.core.backends.base import SourceState
from tui.core.events import EngineError, Event, JobChanged, SourceStatusChanged
from tui.core.jobs import FailureCategory, Job, JobState
from tui.core.batch import job_seed
from tui.core.render import job_to_json, oss_path
from tui.core.safe_text import visible
from tui.commands.safe_console import SafeConsole, say

from tui.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from tui.core.config import Config
    from tui.core.engine import Engine
    from tui.core.locations import Locations
    from tui.core.store import JobStore

log = logging.getLogger(__name__)

# `cancel` waits this long for the service to confirm before it reports the state it has.
CANCEL_CONFIRM_SECONDS = 10.0
# A live display lists at most this many running/queued jobs (the rest are counted).
LIVE_ROWS = 8
# `comfyq watch` looks this often whether another process changed the store (one cheap PRAGMA when nothing did).
WATCH_STORE_TICK_SECONDS = 0.25

_STATE_NAMES = [state.value for state in JobState]


class CliError(Exception):
    """Stop the command with a message on stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------------------------------- parser


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def add(name: str, help_text: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, parents=[common], help=help_text, description=help_text)
        parser.set_defaults(handler=handler)
        return parser

    submit = add("submit", "submit an API-format workflow to a profile", run_submit)
    submit.add_argument("workflow", metavar="WORKFLOW.json", help="API-format workflow file (ComfyUI: Export (API))")
    submit.add_argument("-p", "--profile", required=True, help="profile to submit to")
    submit.add_argument("-n", "--count", type=_positive_int, default=1, metavar="COUNT", help="how many jobs (default 1)")
    submit.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUE",
        help="set a literal input before submitting, by node id or title (repeatable), e.g. 3.steps=30",
    )
    submit.add_argument(
        "--sweep",
        dest="sweeps",
        action="append",
        default=[],
        metavar="NODE.INPUT=VALUES",
        help="submit one job per value (repeatable: the cartesian product); VALUES is a list 5,7,9, a range "
        "start..stop[:step] (inclusive) or @FILE (one value a line; blank and # lines skipped)",
    )
    seeds = submit.add_mutually_exclusive_group()
    seeds.add_argument(
        "--same-seed", action="store_true",
        help="identical copies (by default copy 1 keeps the workflow's seed and every other copy gets its own)",
    )
    seeds.add_argument("--random-seed", action="store_true", help="new random seed(s) for every job, the first too")
    submit.add_argument("--name", metavar="NAME", help="the batch name (default: the workflow file name and the time)")
    submit.add_argument("--dry-run", action="store_true", help="print the jobs it would send (parameters per job); send nothing")
    submit.add_argument("--wait", action="store_true", help="follow the jobs until they end and print outputs")
    submit.add_argument("--timeout", type=_positive_float, metavar="S", help="with --wait: give up after S seconds")
    submit.add_argument("--notify", action="store_true", help="with --wait: a desktop notification through the terminal at the end")
    submit.add_argument("--json", action="store_true", help="one JSON object per job per line")

    jobs = add("jobs", "list jobs, newest first", run_jobs)
    jobs.add_argument("-p", "--profile", help="only this profile's jobs")
    jobs.add_argument(
        "--state", metavar="STATE", help=f"only jobs in these states (comma-separated: {', '.join(_STATE_NAMES)}, active, done, or a prefix)"
    )
    jobs.add_argument(
        "--origin", choices=("external", "mine"),
        help="only jobs other clients submitted (external) or only comfyq's own (mine)",
    )
    jobs.add_argument("--batch", metavar="NAME", help="only this batch's jobs (a name or a unique start of one)")
    jobs.add_argument("--limit", type=_limit, metavar="N", help="at most N jobs (default 50; with --batch: all)")
    jobs.add_argument("--json", action="store_true", help="one JSON object per job per line")

    show = add("show", "show everything known about one job", run_show)
    show.add_argument("job_id", metavar="JOB_ID", help="job id or a unique prefix of it")
    show.add_argument("--json", action="store_true", help="one JSON object")

    wait = add("wait", "follow jobs until they end (also jobs of a process that was killed)", run_wait)
    wait.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids or unique prefixes")
    wait.add_argument("--batch", metavar="NAME", help="every job of this batch (its latest attempts)")
    wait.add_argument("--timeout", type=_positive_float, metavar="S", help="give up after S seconds")
    wait.add_argument("--notify", action="store_true", help="a desktop notification through the terminal at the end")
    wait.add_argument("--json", action="store_true", help="one JSON object per job per line")

    resubmit = add("resubmit", "submit jobs again (new jobs that point at the old ones)", run_resubmit)
    resubmit.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids or unique prefixes")
    resubmit.add_argument(
        "--failed", action="store_true", help="every failed, lost or unknown job not resubmitted yet (with -p: of that profile)"
    )
    resubmit.add_argument(
        "-p", "--profile", help="with JOB_IDs: submit to this profile instead; with --failed: only this profile's jobs"
    )
    resubmit.add_argument("--batch", metavar="NAME", help="with --failed: only this batch's jobs")
    resubmit.add_argument("--new-seed", action="store_true", help="give the new jobs new random seeds")
    resubmit.add_argument(
        "--name", metavar="NAME", help="the batch of the new jobs (default: each stays in its parent's batch)"
    )
    resubmit.add_argument("--wait", action="store_true", help="follow the new jobs until they end")
    resubmit.add_argument("--timeout", type=_positive_float, metavar="S", help="with --wait: give up after S seconds")
    resubmit.add_argument("--json", action="store_true", help="one JSON object per job per line")

    cancel = add("cancel", "cancel jobs (drop from the queue, or interrupt when running)", run_cancel)
    cancel.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="job ids or unique prefixes")

    watch = add("watch", "run the sources and print every job change until Ctrl+C", run_watch)
    watch.add_argument("-p", "--profile", action="append", dest="profiles", metavar="PROFILE",
                       help="only this profile (repeatable; default: all profiles)")
    watch.add_argument("--json", action="store_true", help="one JSON object per change per line")


def run(args: argparse.Namespace) -> int:
    """Kept for callers of the old placeholder: the sub-commands carry their own handlers."""
    print("comfyq: use one of: submit, jobs, show, wait, resubmit, cancel, watch", file=sys.stderr)
    return EXIT_USAGE


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {visible(text)[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# The most jobs one listing prints (`--limit`): a bigger number is a typo, and SQLite cannot take 10**30.
MAX_LIMIT = 1_000_000
# The longest --timeout: a year (an endless wait is no --timeout at all).
MAX_TIMEOUT_SECONDS = 366 * 24 * 3600.0


def _limit(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"at most {MAX_LIMIT:,}, not {value:,}" if len(text) < 30 else
                                          f"at most {MAX_LIMIT:,}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {visible(text)!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {visible(text)}")
    if value > MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMEOUT_SECONDS:.0f} seconds (leave --timeout out to wait for good)")
    return value


# --------------------------------------------------------------------------------------------------- session


@dataclass
class Session:
    """What every command needs: where things are, the profiles, the job store, and the two consoles."""

    locations: Locations
    config: Config
    store: JobStore
    out: Console  # results (stdout)
    err: Console  # progress and messages (stderr)

    def profile_or_none(self, name: str) -> Any:
        return self.config.profiles.get(name)


def open_session(args: argparse.Namespace) -> Session:
    from tui.core.config import ConfigError, load_config
    from tui.core.locations import resolve_locations
    from tui.core.logs import setup_logging
    from tui.core.store import JobStore

    locations = resolve_locations(config=args.config, data_dir=args.data_dir)
    try:
        config = load_config(locations.config_file, explicit=locations.config_explicit)
    except ConfigError as error:
        issues = getattr(error, "issues", None) or [error]
        raise CliError("\n".join(str(issue) for issue in issues)) from None
    try:
        locations.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # jobs and logs are private
        setup_logging(locations.log_file)
    except OSError as error:
        raise CliError(f"cannot use the data directory {locations.data_dir}: {error}") from None
    _register_tokens(config)
    try:
        store = JobStore(locations.store_file)
    except Exception as error:  # sqlite3 errors, permissions
        raise CliError(f"cannot open the job store {locations.store_file}: {error}") from None
    return Session(locations, config, store, out=SafeConsole(soft_wrap=False), err=SafeConsole(stderr=True))


def _register_tokens(config: Config) -> None:
    """Make sure no token reaches the log file, whatever logs it."""
    from tui.core import secrets

    for profile in config.profiles.values():
        if getattr(profile, "token", None):
            secrets.register_secret(profile.token)


def _run(args: argparse.Namespace, body: Callable[[Session, argparse.Namespace], Awaitable[int]]) -> int:
    try:
        session = open_session(args)
    except CliError as error:
        say(f"comfyq: {error.message}", file=sys.stderr)
        return error.code
    try:
        return _run_async(lambda: _guarded(session, args, body))
    finally:
        session.store.close()


async def _guarded(
    session: Session, args: argparse.Namespace, body: Callable[[Session, argparse.Namespace], Awaitable[int]]
) -> int:
    from tui.core.backends import BackendError
    from tui.core.engine import EngineUsageError
    from tui.core.store import AmbiguousJobId, JobNotFound, StoreError
    from tui.core.batch import BatchError
    from tui.core.sweep import SweepError
    from tui.core.workflow import WorkflowError

    try:
        return await body(session, args)
    except CliError as error:
        session.err.print(f"comfyq: {error.message}", markup=False, highlight=False, soft_wrap=True)
        return error.code
    except (EngineUsageError, WorkflowError, JobNotFound, AmbiguousJobId, BatchError, SweepError) as error:
        session.err.print(f"comfyq: {_message(error)}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except BackendError as error:
        session.err.print(f"comfyq: {error}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_UNREACHABLE
    except StoreError as error:  # the store cannot be written (disk full, read-only): one line, exit 2
        text = str(error)
        prefix = "disk full: " if "full" in text.lower() else ""
        session.err.print(f"comfyq: {prefix}{text}", markup=False, highlight=False)
        return EXIT_USAGE
    except BrokenPipeError:
        raise  # the reader of our output went away: tui.cli ends quietly
    except UnicodeError as error:  # an argument that is not text (`show $'\xff'`): a usage error
        session.err.print(f"comfyq: an argument is not valid UTF-8 text ({visible(error)})", markup=False,
                          highlight=False)
        return EXIT_USAGE
    except Exception as error:  # never a traceback to the user: it goes to the log file
        log.exception("unexpected error in %s", getattr(args, "command", "comfyq"))
        session.err.print(
            f"comfyq: unexpected error: {error} (details in {session.locations.log_file})", markup=False, highlight=False,
            soft_wrap=True,
        )
        return EXIT_JOB_FAILED


def _message(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]  # KeyError quotes its argument
    return text


def _run_async(make: Callable[[], Awaitable[int]]) -> int:
    """Run the command's coroutine; Ctrl+C / SIGTERM cancel it (its `finally` blocks stop the engine) → 130."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        interrupted = False

        def on_signal() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                pass
        try:
            return await make()
        except asyncio.CancelledError:
            if interrupted:
                print("interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


class _EngineScope:
    """`async with _EngineScope(session) as engine`: always stopped, even on Ctrl+C."""

    def __init__(self, session: Session) -> None:
        from tui.core.engine import Engine

        self.engine: Engine = Engine(session.config, session.store)

    async def __aenter__(self) -> Engine:
        return self.engine

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.shield(self.engine.stop())
        except asyncio.CancelledError:
            pass


# --------------------------------------------------------------------------------------------------- output


def _state_cell(job: Job) -> tuple[str, str]:
    """The state as shown (icon and name) and its style."""
    from tui.widgets.job_format import STATE_ICONS, STATE_STYLES

    return f"{STATE_ICONS.get(job.state, ' ')} {job.state.value}", STATE_STYLES.get(job.state, "")


def _state_text(job: Job) -> Text:
    text, style = _state_cell(job)
    return Text(text, style=style)


def _detail(job: Job) -> str:
    from tui.widgets.job_format import error_summary, progress_text

    if job.state.is_active:
        return progress_text(job, 30)
    summary = error_summary(job)
    if summary:
        return summary
    if job.outputs:
        count = len(job.outputs)
        return f"{count} output{'s' if count != 1 else ''}"
    return ""


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
    from tui.widgets.job_format import format_duration, submitted_text

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
        row.append(_state_cell(job))
        if retries:
            row.append((str(job.attempt), ""))
        row += [(submitted_text(job, now), ""), (format_duration(job.duration(now)), "")]
        rows.append(row)
    widths = [max(len(header), *(cell_len(row[index][0]) for row in rows)) for index, header in enumerate(headers)]
    details = [_printable(_detail(job)) for job in jobs]
    # Detail gets the width that is left and ends in "…" (the full text: `show`, or the Problems lines below).
    detail_width = session.out.width - sum(widths) - _GAP * len(widths)
    if detail_width < _MIN_DETAIL or title is not None:
        _print_rich_table(session, headers, right, widths, rows, details, title)
    else:
        session.out.print(_table_text(headers, right, widths, rows, details, detail_width), soft_wrap=True)
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
) -> Text:
    """The job table as one Text built from plain strings and style spans: a rich Table costs ~0.3 ms a row (0.3 s
    for the table `submit -n 1000` prints), this ~0.02 ms. Cell for cell what `_print_rich_table` prints when the
    columns fit: padding takes its cell's style, columns are two cells apart, Detail is cut with "…"."""
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
    put("Detail".ljust(detail_width), "bold")
    put("\n" + "─" * (sum(widths) + _GAP * len(widths) + detail_width))
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
        elif length < detail_width:
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
    """The same table through rich's Table: kept for a title or a console too narrow for the columns, where
    rich squeezes the columns to fit."""
    from rich.table import Table

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
        profile = session.profile_or_none(job.profile)
        for output in job.outputs:
            name = f"{output.subfolder}/{output.filename}" if output.subfolder else output.filename
            location = oss_path(output, profile)
            line = Text(f"{job.id[:8]}  ")
            line.append(visible(name), style="bold")
            if output.type != "output":
                line.append(f" ({visible(output.type)})", style="dim")
            if location:
                line.append(f"  {visible(location)}", style="cyan")
            lines.append(line)
    if lines:
        session.out.print(Text("Outputs", style="bold underline"))
        for line in lines:
            session.out.print(line, soft_wrap=True)


def print_failures(session: Session, jobs: Sequence[Job]) -> None:
    """The full failure message of each failed job (the table's column may be folded)."""
    failed = [job for job in jobs if job.failure is not None or (job.warning and not job.state.is_active)]
    if not failed:
        return
    session.out.print(Text("Problems", style="bold underline"))
    for job in failed:
        from tui.widgets.job_format import error_summary

        line = Text(f"{job.id[:8]}  ")
        line.append(visible(error_summary(job)), style="red" if job.failure is not None else "yellow")
        session.out.print(line, soft_wrap=True)


def print_job_detail(session: Session, job: Job) -> None:
    from tui.widgets.job_format import format_duration

    profile = session.profile_or_none(job.profile)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: Any) -> None:
        if value is None or value == "":
            return
        # Every value may come from a service or the store: shown with its control characters escaped.
        grid.add_row(label, value if isinstance(value, Text) else Text(visible(value, keep_newlines=True)))

    from tui.core.render import iso_utc

    row("Job", job.id)
    row("Profile", f"{visible(job.profile)} ({job.edition.value} edition)" + ("" if profile else " — not configured"))
    row("State", _state_text(job))
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
        row("Progress", _detail(job))
    row("Attempt", job.attempt if job.attempt > 1 or job.parent_id else None)
    row("Parent", job.parent_id)
    children = session.store.children(job.id)
    row("Resubmitted as", ", ".join(child.id for child in children) if children else None)
    from tui.widgets.job_format import external_origin

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
                self.session.err.print(visible(f"{job.id[:8]} {job.state.value} {_detail(job)}".rstrip()), markup=False,
                                       highlight=False)
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
        from tui.widgets.job_format import progress_text

        jobs = list(self.jobs.values())
        counts: dict[JobState, int] = {}
        for job in jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        ended = sum(count for state, count in counts.items() if state.is_terminal)
        parts = [f"{ended}/{len(jobs)} ended"] + [f"{count} {state.value}" for state, count in counts.items() if count]
        lines: list[Any] = [Text(" · ".join(parts), style="bold")]
        active = [job for job in jobs if job.state.is_active]
        active.sort(key=lambda job: (job.state is not JobState.RUNNING, job.submitted_at or 0))
        for job in active[:LIVE_ROWS]:
            line = Text(f"{job.id[:8]} ")
            line.append_text(_state_text(job))
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


def _unreachable(jobs: Sequence[Job]) -> bool:
    """Every job failed at submission because the service could not be reached or refused our token."""
    return bool(jobs) and all(
        job.state is JobState.FAILED
        and job.failure is not None
        and job.failure.category in (FailureCategory.TRANSPORT, FailureCategory.AUTH)
        for job in jobs
    )


def _report(session: Session, args: argparse.Namespace, jobs: Sequence[Job], *, outputs: bool) -> None:
    if args.json:
        print_json(session, jobs)
    else:
        print_table(session, jobs, outputs=outputs)


async def _wait_and_report(
    session: Session, args: argparse.Namespace, engine: Engine, jobs: Sequence[Job], timeout: float | None,
    *, batch: str | None = None,
) -> int:
    ids = [job.id for job in jobs]
    display = WaitDisplay(session, ids)
    display.seed(jobs)
    unsubscribe = engine.subscribe(display.on_event)
    try:
        with display:
            final = await engine.wait(ids, timeout)
    finally:
        unsubscribe()
    _report(session, args, final, outputs=True)
    if getattr(args, "notify", False):
        from tui.commands.batch_cmd import notify_end

        notify_end(session, final, batch)
    still = [job for job in final if job.state.is_active]
    if still:
        troubled = _troubled_profiles(engine, {job.profile for job in still})
        session.err.print(
            f"comfyq: timed out after {timeout:g}s: {len(still)} job(s) still {', '.join(sorted({j.state.value for j in still}))}",
            markup=False,
            highlight=False,
        )
        if troubled:
            session.err.print(f"comfyq: cannot reach: {'; '.join(troubled)}", markup=False, highlight=False)
            return EXIT_UNREACHABLE
    return exit_code_for(final)


def _troubled_profiles(engine: Engine, profiles: Iterable[str]) -> list[str]:
    troubled = []
    for name in sorted(profiles):
        status = engine.source_statuses.get(name)
        if status is not None and status.state in (SourceState.ERROR, SourceState.RECONNECTING, SourceState.DEGRADED):
            troubled.append(f"{name} ({status.error or status.state.value})")
    return troubled


def _require_profile(session: Session, name: str) -> None:
    if name not in session.config.profiles:
        raise CliError(f"unknown profile {session.config.unknown_profile(name)}")


def _resolve(session: Session, job_ids: Iterable[str]) -> list[Job]:
    jobs: list[Job] = []
    seen: set[str] = set()
    for job_id in job_ids:
        job = session.store.find(job_id)
        if job.id not in seen:
            seen.add(job.id)
            jobs.append(job)
    return jobs


def _check_job_profiles(session: Session, jobs: Iterable[Job]) -> None:
    for job in jobs:
        if job.profile not in session.config.profiles:
            raise CliError(
                f"job {job.id[:8]} belongs to profile {job.profile!r}, which is not in the config "
                f"({session.config.path or 'built-in'})"
            )


async def _check_reachable(session: Session, engine: Engine, profiles: Iterable[str]) -> None:
    for name in sorted(set(profiles)):
        ok, message = await engine.test_connection(name)
        if not ok:
            raise CliError(f"{name}: {message}", EXIT_UNREACHABLE)


# --------------------------------------------------------------------------------------------------- commands


def run_submit(args: argparse.Namespace) -> int:
    return _run(args, _submit)


def _any_ended_badly_at_submit(jobs: Sequence[Job]) -> bool:
    """A job the service rejected, or one whose submit answer was lost with nobody left to ask (it may run or not):
    either way the user has something to look at, so the command does not exit 0."""
    return any(job.state in (JobState.FAILED, JobState.UNKNOWN) for job in jobs)


async def _submit(session: Session, args: argparse.Namespace) -> int:
    from tui.commands.batch_cmd import count_description, parse_sweeps, print_dry_run, same_seed_note
    from tui.core.batch import check_job_count, job_count, new_batch_name
    from tui.core.engine import apply_params
    from tui.core.workflow import load_workflow

    if args.timeout is not None and not args.wait:
        raise CliError("--timeout only makes sense with --wait")
    if args.notify and not args.wait:
        raise CliError("--notify only makes sense with --wait")
    if args.dry_run and args.wait:
        raise CliError("--dry-run sends nothing, so there is nothing to --wait for")
    # --timeout bounds the whole command: what the submit took is not waited again.
    started = time.monotonic()
    _require_profile(session, args.profile)
    cap = session.config.defaults.max_jobs
    if not args.sweeps:
        check_job_count(args.count, cap, what=f"-n {args.count}")  # before the workflow is even read
    workflow = load_workflow(args.workflow)
    params: dict[str, str] = {}
    for assignment in args.assignments:
        target, equals, value = assignment.partition("=")
        if not equals or not target.strip():
            raise CliError(f"--set {assignment!r}: expected NODE.INPUT=VALUE (for example 3.steps=30)")
        params[target.strip()] = value
    configured = apply_params(workflow, params)  # a bad --set fails here, before anything is stored or started
    axes = parse_sweeps(configured, args.sweeps, cap)
    total = job_count(args.count, axes)
    check_job_count(total, cap, what=count_description(args.count, axes))
    batch = new_batch_name(session.store, workflow.source, args.name)
    if args.dry_run:
        print_dry_run(session, args, configured, axes, params, batch)
        return EXIT_OK
    note = same_seed_note(configured, args.count, args.same_seed)
    if note:
        session.err.print(f"comfyq: note: {note}", markup=False, highlight=False)
    async with _EngineScope(session) as engine:
        if args.wait:
            # Sources first: the websocket must be connected (same client_id) before the first job runs.
            await engine.start([args.profile])
        jobs = await engine.submit(
            args.profile, workflow, args.count, params, random_seed=args.random_seed, same_seed=args.same_seed,
            sweep=axes, batch=batch,
        )
        if len(jobs) > 1 or args.name:
            session.err.print(f"batch {batch}: {len(jobs)} job{'s' if len(jobs) != 1 else ''} → {args.profile}",
                              markup=False, highlight=False)
        # With --wait, a job the profile retries automatically is followed to its last attempt (that is the answer).
        retried = args.wait and any(engine.will_retry(job) for job in jobs)
        if _unreachable(jobs) and not retried:
            _report(session, args, jobs, outputs=False)
            first = jobs[0].failure
            assert first is not None
            session.err.print(f"comfyq: {args.profile}: {first.message}", markup=False, highlight=False)
            return EXIT_UNREACHABLE
        if not args.wait:
            _report(session, args, jobs, outputs=False)
            return EXIT_JOB_FAILED if _any_ended_badly_at_submit(jobs) else EXIT_OK
        code = await _wait_and_report(session, args, engine, jobs, _remaining(args.timeout, started), batch=batch)
        if code == EXIT_JOB_FAILED and retried:
            final = [session.store.get(job_id) for job_id in _last_attempts(engine, jobs)]
            if _unreachable(final):
                return EXIT_UNREACHABLE  # every attempt failed to reach the service
        return code


def _last_attempts(engine: Engine, jobs: Sequence[Job]) -> list[str]:
    ids = []
    for job in jobs:
        job_id, seen = job.id, {job.id}
        while (child := engine.retry_child(job_id)) is not None and child not in seen:
            seen.add(child)
            job_id = child
        ids.append(job_id)
    return ids


def _remaining(timeout: float | None, started: float) -> float | None:
    """What is left of a command's --timeout (at least a moment, so the jobs' state is still read once)."""
    if timeout is None:
        return None
    return max(0.01, timeout - (time.monotonic() - started))


def run_jobs(args: argparse.Namespace) -> int:
    return _run(args, _jobs)


async def _jobs(session: Session, args: argparse.Namespace) -> int:
    from tui.core.store import JobFilter, parse_states

    states = None
    if args.state:
        # The same names as the app's `state:` filter: states, `active`, `done`, or the start of one (`fai`).
        states, bad = parse_states(args.state)
        if bad:
            raise CliError(
                f"--state {', '.join(bad)}: not a state (one of: {', '.join(_STATE_NAMES)}, active, done)"
            )
    if args.profile is not None and args.profile not in session.config.profiles:
        # Jobs of a profile that was removed from the config are still listed; only warn.
        session.err.print(f"comfyq: note: profile {args.profile!r} is not configured", markup=False, highlight=False)
    batch = None
    if args.batch is not None:
        from tui.core.batch import resolve_batch

        batch = resolve_batch(session.store, args.batch)
    limit = args.limit or (session.config.defaults.max_jobs * 10 if batch else 50)
    flt = JobFilter(states=states, profile=args.profile, batch=batch, batch_exact=batch is not None, origin=args.origin)
    jobs = session.store.page(flt, limit=limit)
    _report(session, args, jobs, outputs=False)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    return _run(args, _show)


async def _show(session: Session, args: argparse.Namespace) -> int:
    job = session.store.find(args.job_id)
    if args.json:
        print_json(session, [job])
    else:
        print_job_detail(session, job)
    return EXIT_OK


def run_wait(args: argparse.Namespace) -> int:
    return _run(args, _wait)


async def _wait(session: Session, args: argparse.Namespace) -> int:
    started = time.monotonic()
    batch = None
    if args.batch is not None:
        from tui.core.batch import resolve_batch

        if args.job_ids:
            raise CliError("give either JOB_IDs or --batch")
        batch = resolve_batch(session.store, args.batch)
        jobs = session.store.get_many(session.store.batch_latest_ids(batch)).values()
        jobs = sorted(jobs, key=lambda job: job.submitted_at or 0)
    elif not args.job_ids:
        raise CliError("give JOB_IDs or --batch NAME")
    else:
        jobs = _resolve(session, args.job_ids)
    active_profiles = {job.profile for job in jobs if job.state.is_active}
    _check_job_profiles(session, [job for job in jobs if job.state.is_active])
    async with _EngineScope(session) as engine:
        if active_profiles:
            await _check_reachable(session, engine, active_profiles)
            # start() reconciles first: rows a killed process left `submitting` or in flight are looked up.
            await engine.start(sorted(active_profiles))
        return await _wait_and_report(session, args, engine, jobs, _remaining(args.timeout, started), batch=batch)


def run_resubmit(args: argparse.Namespace) -> int:
    return _run(args, _resubmit)


async def _resubmit(session: Session, args: argparse.Namespace) -> int:
    if args.failed == bool(args.job_ids):
        raise CliError("give either JOB_IDs or --failed")
    if args.timeout is not None and not args.wait:
        raise CliError("--timeout only makes sense with --wait")
    started = time.monotonic()
    if args.batch is not None and not args.failed:
        raise CliError("--batch goes with --failed: resubmit --batch NAME --failed")
    target: str | None = None
    batch = None
    if args.name is not None:
        from tui.core.batch import check_batch_name

        check_batch_name(args.name)
    if args.failed:
        if args.profile is not None:
            _require_profile(session, args.profile)
        if args.batch is not None:
            from tui.core.batch import resolve_batch

            batch = resolve_batch(session.store, args.batch)
        parents = _failed_not_resubmitted(session, args.profile, batch)
        if not parents:
            where = f" in batch {batch}" if batch else ""
            session.err.print(f"comfyq: no failed jobs to resubmit{where}", markup=False, highlight=False)
            return EXIT_OK
    else:
        parents = _resolve(session, args.job_ids)
        if args.profile is not None:
            _require_profile(session, args.profile)
            target = args.profile
    for parent in parents:
        _require_profile(session, target or parent.profile)
    profiles = sorted({target or parent.profile for parent in parents})
    async with _EngineScope(session) as engine:
        if args.wait:
            await engine.start(profiles)
        jobs = await engine.resubmit(
            [parent.id for parent in parents], new_seed=args.new_seed, profile=target, batch=args.name
        )
        if _unreachable(jobs):
            _report(session, args, jobs, outputs=False)
            return EXIT_UNREACHABLE
        if not args.wait:
            _report(session, args, jobs, outputs=False)
            return EXIT_JOB_FAILED if _any_ended_badly_at_submit(jobs) else EXIT_OK
        return await _wait_and_report(
            session, args, engine, jobs, _remaining(args.timeout, started), batch=args.name or batch
        )


def _failed_not_resubmitted(session: Session, profile: str | None, batch: str | None = None) -> list[Job]:
    from tui.core.store import JobFilter

    # Failed, lost or unknown — not the ones a user cancelled — and not resubmitted yet.
    flt = JobFilter(states=frozenset({JobState.FAILED, JobState.LOST, JobState.UNKNOWN}), profile=profile,
                    batch=batch, batch_exact=batch is not None)
    failed = [job for job in session.store.failed(flt) if job.workflow is not None and not job.external]
    return [job for job in failed if not session.store.children(job.id)]


def run_cancel(args: argparse.Namespace) -> int:
    return _run(args, _cancel)


async def _cancel(session: Session, args: argparse.Namespace) -> int:
    from tui.core.backends import BackendError
    from tui.core.engine import CancelNotSupported, EngineUsageError

    jobs = _resolve(session, args.job_ids)
    code = EXIT_OK
    async with _EngineScope(session) as engine:
        cancellable: list[Job] = []
        for job in jobs:
            if job.state.is_terminal:
                session.err.print(f"{job.id[:8]}: already {job.state.value}; nothing to cancel", markup=False,
                                  highlight=False)
                code = max(code, EXIT_JOB_FAILED)
                continue
            if job.profile not in session.config.profiles:
                session.err.print(f"{job.id[:8]}: profile {job.profile!r} is not configured", markup=False,
                                  highlight=False)
                code = EXIT_USAGE
                continue
            if job.state is not JobState.SUBMITTING and not engine.capabilities(job.profile).can_cancel:
                try:
                    await engine.cancel(job.id)  # raises the precise "cannot cancel" message
                except CancelNotSupported as error:
                    session.err.print(f"{job.id[:8]}: {error}", markup=False, highlight=False)
                    code = EXIT_USAGE
                continue
            cancellable.append(job)
        remote = sorted({job.profile for job in cancellable if job.state is not JobState.SUBMITTING})
        if remote:
            await _check_reachable(session, engine, remote)
            await engine.start(remote)  # the sources confirm the cancel (queued → cancelled, running → interrupted)
        done: list[str] = []
        for job in cancellable:
            try:
                await engine.cancel(job.id)
                done.append(job.id)
            except (EngineUsageError, BackendError) as error:
                session.err.print(f"{job.id[:8]}: {error}", markup=False, highlight=False)
                code = max(code, EXIT_JOB_FAILED)
        if done:
            final = await engine.wait(done, CANCEL_CONFIRM_SECONDS, follow_retries=False)
            for job in final:
                verdict = job.state.value if job.state.is_terminal else f"cancel requested (still {job.state.value})"
                session.out.print(f"{job.id[:8]} {verdict}", markup=False, highlight=False)
    return code


def run_watch(args: argparse.Namespace) -> int:
    return _run(args, _watch)


async def _watch(session: Session, args: argparse.Namespace) -> int:
    """Every change of every job of the profiles, from this process's sources and from any other comfyq process on
    the same data dir (tui.core.change_feed), one line (or JSON object) each, in order, none twice."""
    from tui.core.change_feed import ChangeFeed
    from tui.core.safe_text import visible
    from tui.widgets.job_format import format_clock

    profiles = args.profiles or sorted(session.config.profiles)
    for name in profiles:
        _require_profile(session, name)
    watched = set(profiles)
    last_health: dict[str, tuple[SourceState, str | None]] = {}

    def key(job: Job) -> object:
        return job_to_json(job, session.config.profiles) if args.json else (job.state, _detail(job))

    started = time.time()
    feed = ChangeFeed(key, since=started)
    session.store.changed_elsewhere()  # from here on, other processes' commits are noticed

    def show(jobs: Iterable[Job]) -> None:
        for job in feed.changes(job for job in jobs if job.profile in watched):
            if args.json:
                print_json(session, [job])
                continue
            live = job.state.is_terminal or job.state is JobState.RUNNING and job.progress is not None
            at = time.time() if live else job.timestamps.get(job.state.value, time.time())
            line = Text(f"{format_clock(at)} {job.id[:8]} {visible(job.profile)} ")
            line.append_text(_state_text(job))
            detail = _detail(job)
            if detail:
                line.append(f" {visible(detail)}")
            session.out.print(line, soft_wrap=True)

    def on_event(event: Event) -> None:
        if isinstance(event, JobChanged):
            show([event.job])
        elif isinstance(event, SourceStatusChanged):
            status = event.status
            # Statuses also refresh counters (queue length, in flight); say only what changed in health.
            if last_health.get(status.profile) == (status.state, status.error):
                return
            last_health[status.profile] = (status.state, status.error)
            text = f"{status.profile}: {status.state.value}" + (f" ({status.error})" if status.error else "")
            session.err.print(text, markup=False, highlight=False)
        elif isinstance(event, EngineError):
            session.err.print(f"{event.profile or 'comfyq'}: {event.message}", markup=False, highlight=False)

    async def follow_other_processes() -> None:
        synced = started
        while True:
            await asyncio.sleep(WATCH_STORE_TICK_SECONDS)
            if not session.store.changed_elsewhere():
                continue
            # A little overlap: another process's clock on the same machine, a commit in the same instant.
            since, synced = synced - 2.0, time.time()
            show(session.store.changed_since(since))

    async with _EngineScope(session) as engine:
        engine.subscribe(on_event)
        await engine.start(profiles)
        session.err.print(f"watching {', '.join(profiles)} (Ctrl+C to stop)", markup=False, highlight=False)
        await follow_other_processes()  # until Ctrl+C / SIGTERM cancels us
    return EXIT_INTERRUPTED
