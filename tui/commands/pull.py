"""`comfyq pull`: download every output of the chosen jobs to a folder.

    comfyq pull (JOB_ID... | --batch NAME | --state succeeded [-p PROFILE]) [-o DIR] [--layout flat|job|oss]
                [-j N] [--json]

Files come from where each job's profile reads outputs (ComfyUI's /view, or OSS: tui/core/fetch.py), N at a time
(`[defaults] pull_concurrency`, 8). A terminal gets a progress bar on stderr (files, bytes, rate, ETA); `--json`
prints one JSON object per file on stdout instead. A file already there with the same size is not fetched again,
so a second run fetches nothing. Exit codes: 0 every file is there; 1 some are missing (each named with why);
2 usage or a missing setting; 3 unreachable or unauthorized; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from tui.commands.safe_console import say
from tui.commands.session import STATE_NAMES, CliError, Session, run_with_session
from tui.core.jobs import Job
from tui.core.safe_text import visible
from tui.core.store import AmbiguousJobId, JobFilter, JobNotFound, parse_states

if TYPE_CHECKING:
    # httpx and the OSS client stay out of the parser every command builds: imported where pull runs.
    from tui.core.fetch import FetchError, OutputSource
    from tui.core.pull import PullResult, Skipped

MAX_JOBS = 100_000  # a selection larger than this is refused rather than planned


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    text = "download every output of the chosen jobs (from the service's /view or from OSS)"
    parser = subparsers.add_parser("pull", parents=[common], help=text, description=text)
    parser.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids or unique prefixes")
    parser.add_argument("--batch", metavar="NAME", help="every job of this batch")
    parser.add_argument("--state", metavar="STATE", help="every job in these states (comma-separated), e.g. succeeded")
    parser.add_argument("-p", "--profile", help="with --state or --batch: only this profile's jobs")
    parser.add_argument("-o", "--output", type=Path, default=Path("."), metavar="DIR", help="folder to write to (default: .)")
    parser.add_argument(
        "--layout", choices=("flat", "job", "oss"), default="flat",
        help="flat: DIR/<file>; job: DIR/<job id>/<subfolder>/<file>; oss: DIR mirrors the OSS path (default: flat)",
    )
    parser.add_argument("-j", "--concurrency", type=int, default=None, metavar="N",
                        help="files at a time (default: [defaults] pull_concurrency, 8)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line on stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:

    chosen = sum(bool(x) for x in (args.job_ids, args.batch, args.state))
    if chosen != 1:
        print("comfyq pull: give JOB_IDs, --batch NAME or --state STATE (one of them)", file=sys.stderr)
        return 2
    if args.concurrency is not None and not 1 <= args.concurrency <= 64:
        print("comfyq pull: -j must be between 1 and 64", file=sys.stderr)
        return 2
    return run_with_session(args, _pull)


def _select(session: Session, args: argparse.Namespace) -> list[Job]:
    if args.job_ids:
        jobs = []
        for job_id in args.job_ids:
            try:
                jobs.append(session.store.find(job_id))
            except (JobNotFound, AmbiguousJobId) as error:
                raise CliError(str(error).strip("'\"")) from None
        return jobs
    states = None
    if args.state:
        # The same names as `jobs --state` and the app's `state:` filter: states, `active`, `done`, or a prefix.
        states, bad = parse_states(args.state)
        if bad:
            raise CliError(f"--state {', '.join(bad)}: not a state (one of: {', '.join(STATE_NAMES)}, active, done)")
    flt = JobFilter(states=states, profile=args.profile, batch=args.batch or None)
    jobs = session.store.page(flt, limit=MAX_JOBS + 1)
    if len(jobs) > MAX_JOBS:
        raise CliError(f"more than {MAX_JOBS} jobs chosen: narrow the selection (-p, --state)")
    if args.batch:  # the filter matches a batch name's start (batch:spring); pull takes the batch named
        jobs = [job for job in jobs if job.batch == args.batch]
        if not jobs:
            raise CliError(f"no jobs in batch {visible(args.batch)!r}")
    jobs.reverse()  # oldest first: files appear in the order they were made
    return jobs


def _sources(session: Session, jobs: list[Job], concurrency: int) -> dict[str, OutputSource | FetchError]:
    from tui.core.fetch import FetchError  # httpx: see the top
    from tui.core.output_sources import source_for

    sources: dict[str, OutputSource | FetchError] = {}
    for name in {job.profile for job in jobs if job.outputs}:
        profile = session.config.profiles.get(name)
        if profile is None:
            sources[name] = FetchError("config", f"profile {name!r} is not in the config: its jobs' files cannot be fetched")
            continue
        try:
            sources[name] = source_for(profile, max_connections=concurrency)
        except FetchError as error:
            sources[name] = error
    return sources


def _pull(session: Session, args: argparse.Namespace) -> int:
    from tui.core.fetch import FetchError  # httpx: see the top
    from tui.core.pull import PullRun, exit_code, plan

    jobs = _select(session, args)
    concurrency = args.concurrency or session.config.defaults.pull_concurrency
    bucket_paths = {name: profile.oss_bucket_path for name, profile in session.config.profiles.items()}
    out_dir: Path = args.output.expanduser()
    items, skipped = plan(jobs, out_dir, args.layout, bucket_paths)
    sources = _sources(session, [item.job for item in items], concurrency)
    report = _Report(session, args.json, out_dir)
    report.skipped(skipped)
    try:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            say(f"comfyq: cannot create {out_dir}: {error.strerror or error}", file=sys.stderr)
            return 1
        run = PullRun(items, sources, concurrency=concurrency, on_bytes=report.add_bytes, on_done=report.done)
        with report.progress(len(items)):
            try:
                results = run.run()
            except KeyboardInterrupt:
                print("interrupted: files that finished are kept", file=sys.stderr)
                return 130
    finally:
        for source in sources.values():
            if not isinstance(source, FetchError):
                source.close()
    report.summary(results)
    return exit_code(results, skipped)


class _Report:
    """Progress (a rich bar on a terminal), JSON lines, and the messages about what is missing."""

    def __init__(self, session: Session, as_json: bool, out_dir: Path) -> None:
        self.session = session
        self.as_json = as_json
        self.out_dir = out_dir
        self._lock = threading.Lock()
        self._bytes = 0
        self._files = 0
        self._started = time.monotonic()
        self._progress: Progress | None = None
        self._task = TaskID(0)
        self._told: set[tuple[str, str]] = set()  # (profile, message) said once, not once per file

    def progress(self, total: int) -> contextlib.AbstractContextManager[object]:
        """The progress bar on stderr while files come (nothing with --json or off a terminal)."""
        if self.as_json or not self.session.err.is_terminal or total == 0:
            return contextlib.nullcontext()
        self._progress = Progress(
            TextColumn("pulling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[transfer]}"),
            TimeRemainingColumn(),
            console=self.session.err,
            transient=True,
        )
        self._task = self._progress.add_task("pull", total=total, transfer="")
        return self._progress

    def _transfer_text(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        return f"{_size(self._bytes)} at {_size(self._bytes / elapsed)}/s"

    def add_bytes(self, count: int) -> None:
        with self._lock:
            self._bytes += count
            if self._progress is not None:
                self._progress.update(self._task, transfer=self._transfer_text())

    def done(self, result: PullResult) -> None:
        with self._lock:
            self._files += 1
            if self._progress is not None:
                self._progress.update(self._task, advance=1, transfer=self._transfer_text())
            if self.as_json:
                self._json(result)
            elif result.error is not None:
                self._say_failure(result)

    def _json(self, result: PullResult) -> None:
        item = result.item
        line = {
            "job_id": item.job.id,
            "profile": item.job.profile,
            "node_id": item.output.node_id,
            "type": item.output.type,
            "subfolder": item.output.subfolder,
            "filename": item.output.filename,
            "path": str(item.target),
            "status": result.status,
            "bytes": result.size,
        }
        if result.error is not None:
            line["reason"] = result.error.kind
            line["error"] = result.error.message
        print(json.dumps(line, ensure_ascii=False), flush=True)

    def _say(self, text: str) -> None:
        self.session.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def _say_failure(self, result: PullResult) -> None:
        error = result.error
        assert error is not None
        item = result.item
        if error.stops_everything:  # the same reason for every file of the profile: say it once
            key = (item.job.profile, error.message)
            if key in self._told:
                return
            self._told.add(key)
            self._say(f"comfyq: {visible(error.message)}")
            return
        if result.status == "not tried":
            return
        self._say(f"missing: job {item.job.id} {visible(item.relative)}: {visible(error.message)}")

    def skipped(self, skipped: list[Skipped]) -> None:
        for entry in skipped:
            if self.as_json:
                line = {"job_id": entry.job.id, "profile": entry.job.profile, "status": "missing", "error": entry.reason}
                if entry.output is not None:
                    line["filename"] = entry.output.filename
                print(json.dumps(line, ensure_ascii=False), flush=True)
            else:
                name = f" {visible(entry.output.filename)}" if entry.output is not None else ""
                self._say(f"missing: job {entry.job.id}{name}: {visible(entry.reason)}")

    def summary(self, results: list[PullResult]) -> None:
        fetched = [r for r in results if r.status == "fetched"]
        present = [r for r in results if r.status == "skipped"]
        failed = [r for r in results if r.status in ("failed", "not tried")]
        if self.as_json:
            return
        parts = [f"fetched {len(fetched)} file{'s' if len(fetched) != 1 else ''} ({_size(sum(r.size for r in fetched))})"]
        if present:
            parts.append(f"{len(present)} already there")
        if failed:
            parts.append(f"{len(failed)} missing")
        self._say(f"{', '.join(parts)} in {self.out_dir}")


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
