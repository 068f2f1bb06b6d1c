"""`comfyq stats` and `comfyq export`: how a service is doing, and the job list as data.

    comfyq stats [-p PROFILE] [--batch NAME] [--since 1h] [--json]
    comfyq export [-p PROFILE] [--state STATE] [--batch NAME] [--filter QUERY] --format csv|jsonl [-o FILE]

Both only read the job store (no service is contacted). Exit codes: 0 done (also "no jobs finished in the last
hour"); 2 usage (unknown profile or batch, a window that does not parse, an -o that cannot be written).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from tui.commands.session import STATE_NAMES, CliError, Session, run_command
from tui.exit_codes import EXIT_OK
from tui.core.atomic_file import atomic_writer
from tui.core.export import export_jobs
from tui.core.safe_text import visible
from tui.core.stats import BadWindow, Window, compute_stats
from tui.core.stats_text import stats_lines
from tui.core.store import JobFilter, parse_states


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    stats = subparsers.add_parser(
        "stats", parents=[common], help="throughput, wait and run times, failure causes (from the job store)",
        description="Throughput, queue wait and run time (p50/p95/max), success rate and failure causes of the "
        "jobs that finished in a window, per profile or batch. Reads the job store only.",
    )
    stats.set_defaults(handler=run_stats)
    stats.add_argument("-p", "--profile", help="only this profile's jobs")
    stats.add_argument("--batch", metavar="NAME", help="only this batch (a name or its start)")
    stats.add_argument("--since", default="1h", metavar="WINDOW",
                       help="jobs finished in the last WINDOW: 15m, 1h (default), 24h, 7d, … or all")
    stats.add_argument("--json", action="store_true", help="one JSON object")

    export = subparsers.add_parser(
        "export", parents=[common], help="write jobs as CSV or JSON Lines (for a spreadsheet or a notebook)",
        description="One row per job (oldest first): ids, profile, batch, state, failure, every timestamp (ISO 8601, "
        "UTC), wait and run seconds, parameters and seeds, outputs and OSS paths. Never the workflow or a token.",
    )
    export.set_defaults(handler=run_export)
    export.add_argument("-p", "--profile", help="only this profile's jobs")
    export.add_argument("--state", metavar="STATE",
                        help=f"only jobs in these states (comma-separated: {', '.join(STATE_NAMES)}, active, done, or a prefix)")
    export.add_argument("--batch", metavar="NAME", help="only this batch (a name or its start)")
    export.add_argument("--filter", metavar="QUERY", help="the app's filter language, e.g. 'state:failed bottle'")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="csv (default) or jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default, or -: standard output)")


# ------------------------------------------------------------------------------------------------------- stats


def _one_line(body: Callable[[Session, argparse.Namespace], Awaitable[int]]
              ) -> Callable[[Session, argparse.Namespace], Awaitable[int]]:
    """A usage error as exactly one line on stderr (a console would fold a long one at its width)."""

    async def guarded(session: Session, args: argparse.Namespace) -> int:
        try:
            return await body(session, args)
        except CliError as error:
            sys.stderr.write(f"comfyq: {error.message}\n")
            return error.code

    return guarded


def run_stats(args: argparse.Namespace) -> int:
    return run_command(args, _one_line(_stats))


def _check_selection(session: Session, profile: str | None, batch: str | None) -> None:
    """An unknown profile or batch is a usage error: a typo must not read as "no jobs"."""
    if profile is not None and profile not in session.config.profiles:
        if not session.store.count(JobFilter(profile=profile)):
            names = ", ".join(sorted(session.config.profiles)) or "none"
            raise CliError(f"unknown profile {visible(profile)!r} (configured: {visible(names)}; no stored jobs either)")
    if batch is not None and not session.store.count(JobFilter(batch=batch)):
        raise CliError(f"no batch named {visible(batch)!r} (or starting so) in the job store")


async def _stats(session: Session, args: argparse.Namespace) -> int:
    try:
        window = Window.parse(args.since)
    except BadWindow as error:
        raise CliError(f"--since {error}") from None
    _check_selection(session, args.profile, args.batch)
    stats = compute_stats(session.store, window, JobFilter(profile=args.profile, batch=args.batch))
    if args.json:
        sys.stdout.write(json.dumps(stats.to_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if not stats.finished:
            session.err.print(stats.empty_message(), markup=False, highlight=False)
        return EXIT_OK
    if not stats.finished:
        session.out.print(stats.empty_message(), markup=False, highlight=False)
        return EXIT_OK
    for line in stats_lines(stats):
        session.out.print(line, markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


# ------------------------------------------------------------------------------------------------------ export


def run_export(args: argparse.Namespace) -> int:
    return run_command(args, _one_line(_export))


def _export_filter(session: Session, args: argparse.Namespace) -> JobFilter:
    flt = JobFilter.parse(args.filter) if args.filter else JobFilter()
    if flt.problems:
        raise CliError(f"--filter: {flt.problems[0]}")
    if args.state:
        # The same names as `jobs --state` and the app's `state:` filter: states, `active`, `done`, or a prefix.
        states, bad = parse_states(args.state)
        if bad:
            raise CliError(f"--state {', '.join(bad)}: not a state (one of: {', '.join(STATE_NAMES)}, active, done)")
        flt = replace(flt, states=states)
    if args.profile is not None:
        flt = replace(flt, profile=args.profile)
    if args.batch is not None:
        flt = replace(flt, batch=args.batch)
    _check_selection(session, args.profile, args.batch)
    return flt


async def _export(session: Session, args: argparse.Namespace) -> int:
    flt = _export_filter(session, args)
    if args.output in (None, "-"):
        count = export_jobs(session.store, flt, session.config.profiles, sys.stdout, args.format)
    else:
        count = write_export_file(session, Path(args.output), flt, args.format)
    session.err.print(f"{count:,} job{'s' if count != 1 else ''} exported", markup=False, highlight=False)
    return EXIT_OK


def write_export_file(session: Session, path: Path, flt: JobFilter, fmt: str) -> int:
    """Write beside `path` and rename at the end: an export cut short leaves no half file under the real name."""
    if path.is_dir():
        raise CliError(f"-o {visible(str(path))}: is a directory")
    try:
        # jobs are private: the store itself is 0600
        with atomic_writer(path, mode=0o600, make_parents=False) as stream:
            return export_jobs(session.store, flt, session.config.profiles, stream, fmt)
    except OSError as error:
        raise CliError(f"-o {visible(str(path))}: cannot write there: {error.strerror or error}") from None
