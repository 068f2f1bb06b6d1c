"""What every job command stands on: the session (config, store, consoles), running a command's coroutine with
Ctrl+C and errors turned into exit codes, the engine scope, and the small checks and argument types they share.

A command is `run_command(args, body)`: the session is opened (a bad config is one line on stderr and exit 2), `body`
runs in an event loop whose SIGINT / SIGTERM cancel it (exit 130), and every error a user can cause becomes one line
on stderr and its exit code — never a traceback (unexpected ones go to the log file).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console

from tui.commands.safe_console import SafeConsole, say
from tui.core import secrets
from tui.core.backends import BackendError
from tui.core.batch import BatchError
from tui.core.config import Config, ConfigError, Profile, load_config
from tui.core.engine import Engine, EngineUsageError
from tui.core.jobs import Job, JobState
from tui.core.locations import Locations, resolve_locations
from tui.core.logs import setup_logging
from tui.core.safe_text import visible
from tui.core.store import AmbiguousJobId, JobNotFound, JobStore, StoreError
from tui.core.sweep import SweepError
from tui.core.workflow import WorkflowError
from tui.exit_codes import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_UNREACHABLE, EXIT_USAGE

log = logging.getLogger(__name__)

# The state names `--state` takes (besides `active`, `done` and unique prefixes).
STATE_NAMES = [state.value for state in JobState]

class CliError(Exception):
    """Stop the command with a message on stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------------------------------- arguments


def positive_int(text: str) -> int:
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


def job_limit(text: str) -> int:
    value = positive_int(text)
    if value > MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"at most {MAX_LIMIT:,}, not {value:,}" if len(text) < 30 else
                                          f"at most {MAX_LIMIT:,}")
    return value


def positive_seconds(text: str) -> float:
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

    def profile_or_none(self, name: str) -> Profile | None:
        return self.config.profiles.get(name)


def open_session(args: argparse.Namespace) -> Session:
    """Config, data directory, log file and job store of this invocation; a problem is a CliError (exit 2)."""
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
        text = str(error)
        # The store's own messages already name the file.
        if str(locations.store_file) not in text:
            text = f"cannot open the job store {locations.store_file}: {text}"
        raise CliError(text) from None
    return Session(locations, config, store, out=_console(sys.stdout), err=_console(sys.stderr))


# Into a pipe or a file nothing is folded or cut: a line is as long as its text (logs get grepped).
_UNBOUNDED_WIDTH = 100_000


def _console(stream: TextIO) -> SafeConsole:
    """stdout's or stderr's console: a terminal's width on a terminal, else lines as long as their text."""
    stderr = stream is sys.stderr
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        terminal = False
    if terminal:
        return SafeConsole(stderr=stderr, soft_wrap=False)
    return pipe_console(stderr=stderr)


def pipe_console(*, stderr: bool = False, file: TextIO | None = None) -> SafeConsole:
    """The console for a pipe or a file: no width, so nothing is folded or cut, and no line padded with spaces."""
    return SafeConsole(stderr=stderr, file=file, soft_wrap=True, width=_UNBOUNDED_WIDTH, trim_line_ends=True)


def _register_tokens(config: Config) -> None:
    """Make sure no token reaches the log file, whatever logs it."""
    for profile in config.profiles.values():
        if profile.token:
            secrets.register_secret(profile.token)


def run_with_session(args: argparse.Namespace, body: Callable[[Session, argparse.Namespace], int]) -> int:
    """Open the session, call `body`, close the store: the exit code. A CliError is one line on stderr."""
    try:
        session = open_session(args)
    except CliError as error:
        say(f"comfyq: {error.message}", file=sys.stderr)
        return error.code
    try:
        return body(session, args)
    except CliError as error:
        say(f"comfyq: {error.message}", file=sys.stderr)
        return error.code
    finally:
        session.store.close()


def run_command(args: argparse.Namespace, body: Callable[[Session, argparse.Namespace], Awaitable[int]]) -> int:
    """Open the session, run `body` in an event loop, close the store: the exit code."""
    return run_with_session(args, lambda session, _: _run_async(lambda: _guarded(session, args, body)))


async def _guarded(
    session: Session, args: argparse.Namespace, body: Callable[[Session, argparse.Namespace], Awaitable[int]]
) -> int:
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


class EngineScope:
    """`async with EngineScope(session) as engine`: always stopped, even on Ctrl+C."""

    def __init__(self, session: Session) -> None:
        self.engine: Engine = Engine(session.config, session.store)

    async def __aenter__(self) -> Engine:
        return self.engine

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.shield(self.engine.stop())
        except asyncio.CancelledError:
            pass


# --------------------------------------------------------------------------------------------------- checks


def require_profile(session: Session, name: str) -> None:
    if name not in session.config.profiles:
        raise CliError(f"unknown profile {session.config.unknown_profile(name)}")


def resolve_jobs(session: Session, job_ids: Iterable[str]) -> list[Job]:
    jobs: list[Job] = []
    seen: set[str] = set()
    for job_id in job_ids:
        job = session.store.find(job_id)
        if job.id not in seen:
            seen.add(job.id)
            jobs.append(job)
    return jobs


def check_job_profiles(session: Session, jobs: Iterable[Job]) -> None:
    for job in jobs:
        if job.profile not in session.config.profiles:
            raise CliError(
                f"job {job.id[:8]} belongs to profile {job.profile!r}, which is not in the config "
                f"({session.config.path or 'built-in'})"
            )


async def check_reachable(session: Session, engine: Engine, profiles: Iterable[str]) -> None:
    for name in sorted(set(profiles)):
        ok, message = await engine.test_connection(name)
        if not ok:
            raise CliError(f"{name}: {message}", EXIT_UNREACHABLE)

