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

This module is the commands' flow (the parser and one handler each); what they stand on is in `session.py`, how
they print in `job_output.py`, and following jobs to their end in `wait_display.py`.

stdout carries only results (a table, or one JSON object per job per line with `--json`); progress and messages go
to stderr. Exit codes: 0 all succeeded; 1 any failed / cancelled / lost / unknown (or still running at --timeout);
2 usage or config error; 3 service unreachable or unauthorized; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from rich.text import Text

from tui.commands.batch_cmd import count_description, parse_sweeps, print_dry_run, same_seed_note
from tui.commands.job_output import detail_line, print_job_detail, print_json, report, state_text
from tui.commands.session import (
    STATE_NAMES,
    CliError,
    EngineScope,
    Session,
    check_job_profiles,
    check_reachable,
    job_limit,
    positive_int,
    positive_seconds,
    require_profile,
    resolve_jobs,
    run_command,
)
from tui.commands.wait_display import wait_and_report
from tui.core.backends import BackendError
from tui.core.backends.base import SourceState
from tui.core.batch import SeedMode, check_batch_name, check_job_count, job_count, new_batch_name, resolve_batch
from tui.core.change_feed import ChangeFeed
from tui.core.engine import CancelNotSupported, Engine, EngineUsageError, SubmissionRequest, apply_params
from tui.core.events import EngineError, Event, JobChanged, SourceStatusChanged
from tui.core.jobs import FailureCategory, Job, JobState
from tui.core.presentation import format_clock
from tui.core.render import job_to_json
from tui.core.safe_text import visible
from tui.core.store import JobFilter, parse_states
from tui.core.workflow import load_workflow
from tui.exit_codes import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

log = logging.getLogger(__name__)

# `cancel` waits this long for the service to confirm before it reports the state it has.
CANCEL_CONFIRM_SECONDS = 10.0
# `comfyq watch` looks this often whether another process changed the store (one cheap PRAGMA when nothing did).
WATCH_STORE_TICK_SECONDS = 0.25


# --------------------------------------------------------------------------------------------------- parser


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def add(name: str, help_text: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, parents=[common], help=help_text, description=help_text)
        parser.set_defaults(handler=handler)
        return parser

    submit = add("submit", "submit an API-format workflow to a profile", run_submit)
    submit.add_argument("workflow", metavar="WORKFLOW.json", help="API-format workflow file (ComfyUI: Export (API))")
    submit.add_argument("-p", "--profile", required=True, help="profile to submit to")
    submit.add_argument("-n", "--count", type=positive_int, default=1, metavar="COUNT", help="how many jobs (default 1)")
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
    submit.add_argument("--timeout", type=positive_seconds, metavar="S", help="with --wait: give up after S seconds")
    submit.add_argument("--notify", action="store_true", help="with --wait: a desktop notification through the terminal at the end")
    submit.add_argument("--json", action="store_true", help="one JSON object per job per line")

    jobs = add("jobs", "list jobs, newest first", run_jobs)
    jobs.add_argument("-p", "--profile", help="only this profile's jobs")
    jobs.add_argument(
        "--state", metavar="STATE", help=f"only jobs in these states (comma-separated: {', '.join(STATE_NAMES)}, active, done, or a prefix)"
    )
    jobs.add_argument(
        "--origin", choices=("external", "mine"),
        help="only jobs other clients submitted (external) or only comfyq's own (mine)",
    )
    jobs.add_argument("--batch", metavar="NAME", help="only this batch's jobs (a name or a unique start of one)")
    jobs.add_argument("--limit", type=job_limit, metavar="N", help="at most N jobs (default 50; with --batch: all)")
    jobs.add_argument("--json", action="store_true", help="one JSON object per job per line")

    show = add("show", "show everything known about one job", run_show)
    show.add_argument("job_id", metavar="JOB_ID", help="job id or a unique prefix of it")
    show.add_argument("--json", action="store_true", help="one JSON object")

    wait = add("wait", "follow jobs until they end (also jobs of a process that was killed)", run_wait)
    wait.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids or unique prefixes")
    wait.add_argument("--batch", metavar="NAME", help="every job of this batch (its latest attempts)")
    wait.add_argument("--timeout", type=positive_seconds, metavar="S", help="give up after S seconds")
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
    resubmit.add_argument("--timeout", type=positive_seconds, metavar="S", help="with --wait: give up after S seconds")
    resubmit.add_argument("--json", action="store_true", help="one JSON object per job per line")

    cancel = add("cancel", "cancel jobs (drop from the queue, or interrupt when running)", run_cancel)
    cancel.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="job ids or unique prefixes")

    watch = add("watch", "run the sources and print every job change until Ctrl+C", run_watch)
    watch.add_argument("-p", "--profile", action="append", dest="profiles", metavar="PROFILE",
                       help="only this profile (repeatable; default: all profiles)")
    watch.add_argument("--json", action="store_true", help="one JSON object per change per line")


# --------------------------------------------------------------------------------------------------- commands


def run_submit(args: argparse.Namespace) -> int:
    return run_command(args, _submit)


def _any_ended_badly_at_submit(jobs: Sequence[Job]) -> bool:
    """A job the service rejected, or one whose submit answer was lost with nobody left to ask (it may run or not):
    either way the user has something to look at, so the command does not exit 0."""
    return any(job.state in (JobState.FAILED, JobState.UNKNOWN) for job in jobs)


async def _submit(session: Session, args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise CliError("--timeout only makes sense with --wait")
    if args.notify and not args.wait:
        raise CliError("--notify only makes sense with --wait")
    if args.dry_run and args.wait:
        raise CliError("--dry-run sends nothing, so there is nothing to --wait for")
    # --timeout bounds the whole command: what the submit took is not waited again.
    started = time.monotonic()
    require_profile(session, args.profile)
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
    async with EngineScope(session) as engine:
        if args.wait:
            # Sources first: the websocket must be connected (same client_id) before the first job runs.
            await engine.start([args.profile])
        seed_mode = SeedMode.from_flags(random_seed=args.random_seed, same_seed=args.same_seed)
        jobs = await engine.submit(
            SubmissionRequest(args.profile, workflow, args.count, params, seed_mode=seed_mode, sweep=axes, batch=batch)
        )
        if len(jobs) > 1 or args.name:
            session.err.print(f"batch {batch}: {len(jobs)} job{'s' if len(jobs) != 1 else ''} → {args.profile}",
                              markup=False, highlight=False)
        # With --wait, a job the profile retries automatically is followed to its last attempt (that is the answer).
        retried = args.wait and any(engine.will_retry(job) for job in jobs)
        if _unreachable(jobs) and not retried:
            report(session, args, jobs, outputs=False)
            first = jobs[0].failure
            assert first is not None
            session.err.print(f"comfyq: {args.profile}: {first.message}", markup=False, highlight=False)
            return EXIT_UNREACHABLE
        if not args.wait:
            report(session, args, jobs, outputs=False)
            return EXIT_JOB_FAILED if _any_ended_badly_at_submit(jobs) else EXIT_OK
        code = await wait_and_report(session, args, engine, jobs, _remaining(args.timeout, started), batch=batch)
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
    return run_command(args, _jobs)


async def _jobs(session: Session, args: argparse.Namespace) -> int:
    states = None
    if args.state:
        # The same names as the app's `state:` filter: states, `active`, `done`, or the start of one (`fai`).
        states, bad = parse_states(args.state)
        if bad:
            raise CliError(
                f"--state {', '.join(bad)}: not a state (one of: {', '.join(STATE_NAMES)}, active, done)"
            )
    if args.profile is not None and args.profile not in session.config.profiles:
        # Jobs of a profile that was removed from the config are still listed; only warn.
        session.err.print(f"comfyq: note: profile {args.profile!r} is not configured", markup=False, highlight=False)
    batch = None
    if args.batch is not None:
        batch = resolve_batch(session.store, args.batch)
    limit = args.limit or (session.config.defaults.max_jobs * 10 if batch else 50)
    flt = JobFilter(states=states, profile=args.profile, batch=batch, batch_exact=batch is not None, origin=args.origin)
    jobs = session.store.page(flt, limit=limit)
    report(session, args, jobs, outputs=False)
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    return run_command(args, _show)


async def _show(session: Session, args: argparse.Namespace) -> int:
    job = session.store.find(args.job_id)
    if args.json:
        print_json(session, [job])
    else:
        print_job_detail(session, job)
    return EXIT_OK


def run_wait(args: argparse.Namespace) -> int:
    return run_command(args, _wait)


async def _wait(session: Session, args: argparse.Namespace) -> int:
    started = time.monotonic()
    batch = None
    jobs: list[Job]
    if args.batch is not None:
        if args.job_ids:
            raise CliError("give either JOB_IDs or --batch")
        batch = resolve_batch(session.store, args.batch)
        latest = session.store.get_many(session.store.batch_latest_ids(batch)).values()
        jobs = sorted(latest, key=lambda job: job.submitted_at or 0)
    elif not args.job_ids:
        raise CliError("give JOB_IDs or --batch NAME")
    else:
        jobs = resolve_jobs(session, args.job_ids)
    active_profiles = {job.profile for job in jobs if job.state.is_active}
    check_job_profiles(session, [job for job in jobs if job.state.is_active])
    async with EngineScope(session) as engine:
        if active_profiles:
            await check_reachable(session, engine, active_profiles)
            # start() reconciles first: rows a killed process left `submitting` or in flight are looked up.
            await engine.start(sorted(active_profiles))
        return await wait_and_report(session, args, engine, jobs, _remaining(args.timeout, started), batch=batch)


def run_resubmit(args: argparse.Namespace) -> int:
    return run_command(args, _resubmit)


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
        check_batch_name(args.name)
    if args.failed:
        if args.profile is not None:
            require_profile(session, args.profile)
        if args.batch is not None:
            batch = resolve_batch(session.store, args.batch)
        parents = _failed_not_resubmitted(session, args.profile, batch)
        if not parents:
            where = f" in batch {batch}" if batch else ""
            session.err.print(f"comfyq: no failed jobs to resubmit{where}", markup=False, highlight=False)
            return EXIT_OK
    else:
        parents = resolve_jobs(session, args.job_ids)
        if args.profile is not None:
            require_profile(session, args.profile)
            target = args.profile
    for parent in parents:
        require_profile(session, target or parent.profile)
    profiles = sorted({target or parent.profile for parent in parents})
    async with EngineScope(session) as engine:
        if args.wait:
            await engine.start(profiles)
        jobs = await engine.resubmit(
            [parent.id for parent in parents], new_seed=args.new_seed, profile=target, batch=args.name
        )
        if _unreachable(jobs):
            report(session, args, jobs, outputs=False)
            return EXIT_UNREACHABLE
        if not args.wait:
            report(session, args, jobs, outputs=False)
            return EXIT_JOB_FAILED if _any_ended_badly_at_submit(jobs) else EXIT_OK
        return await wait_and_report(
            session, args, engine, jobs, _remaining(args.timeout, started), batch=args.name or batch
        )


def _failed_not_resubmitted(session: Session, profile: str | None, batch: str | None = None) -> list[Job]:
    # Failed, lost or unknown — not the ones a user cancelled — and not resubmitted yet.
    flt = JobFilter(states=frozenset({JobState.FAILED, JobState.LOST, JobState.UNKNOWN}), profile=profile,
                    batch=batch, batch_exact=batch is not None)
    failed = [job for job in session.store.failed(flt) if job.workflow is not None and not job.external]
    return [job for job in failed if not session.store.children(job.id)]


def run_cancel(args: argparse.Namespace) -> int:
    return run_command(args, _cancel)


async def _cancel(session: Session, args: argparse.Namespace) -> int:
    jobs = resolve_jobs(session, args.job_ids)
    code = EXIT_OK
    async with EngineScope(session) as engine:
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
            await check_reachable(session, engine, remote)
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
    return run_command(args, _watch)


async def _watch(session: Session, args: argparse.Namespace) -> int:
    """Every change of every job of the profiles, from this process's sources and from any other comfyq process on
    the same data dir (tui.core.change_feed), one line (or JSON object) each, in order, none twice."""
    profiles = args.profiles or sorted(session.config.profiles)
    for name in profiles:
        require_profile(session, name)
    watched = set(profiles)
    last_health: dict[str, tuple[SourceState, str | None]] = {}

    def key(job: Job) -> object:
        return job_to_json(job, session.config.profiles) if args.json else (job.state, detail_line(job))

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
            line.append_text(state_text(job))
            detail = detail_line(job)
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

    async with EngineScope(session) as engine:
        engine.subscribe(on_event)
        await engine.start(profiles)
        session.err.print(f"watching {', '.join(profiles)} (Ctrl+C to stop)", markup=False, highlight=False)
        await follow_other_processes()  # until Ctrl+C / SIGTERM cancels us
    return EXIT_INTERRUPTED


def _unreachable(jobs: Sequence[Job]) -> bool:
    """Every job failed at submission because the service could not be reached or refused our token."""
    return bool(jobs) and all(
        job.state is JobState.FAILED
        and job.failure is not None
        and job.failure.category in (FailureCategory.TRANSPORT, FailureCategory.AUTH)
        for job in jobs
    )
