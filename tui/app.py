"""The Textual app: a thin view over the Engine and the JobStore (design.md §2).

The app owns no job logic. It starts the engine on Textual's event loop, turns engine events into screen updates
(coalesced: bursts of job changes collapse into one repaint), handles worker errors in one place, applies the user's
keymap and theme, and offers contextual commands in the palette.

It holds the one copy of the config (`config`, a reactive: assigning a new Config reloads the engine, and screens
`watch` it) and tells screens what happened through three signals they subscribe to — `jobs_signal` (the latest
version of every job that changed), `source_status_signal` and `last_error_signal` — never by method names.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from screens.confirm import ConfirmScreen
from screens.help import HelpScreen
from screens.job_detail import JobDetailScreen
from screens.kept_screen import compose_unshown, lay_out_unshown, read_screens_css
from screens.main import MainScreen
from screens.profile_editing import PROFILE_FORM
from screens.profile_form import ProfileFormScreen
from screens.stats import StatsScreen
from tui.core.backends.base import SourceStatus
from tui.core.config import Config, ConfigError, builtin_config, save_ui_settings
from tui.core.engine import Engine
from tui.core.events import EngineError, JobChanged, SourceStatusChanged
from tui.core.jobs import Job
from tui.core.locations import Locations
from tui.core.notify import notification_sequence
from tui.core.safe_text import visible
from tui.core.secrets import redact
from tui.core.store import JobFilter, JobStore, StoreError
from tui.core.workflow import Workflow
from tui.palette import ComfyqCommands
from tui.widgets.ordered_keys import RelayKeys

log = logging.getLogger(__name__)

# Not text: cannot be encoded for the clipboard (or anywhere); replaced on copy.
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass
class LaunchOptions:
    """What `comfyq` / `comfyq demo` hand the app."""

    config: Config
    locations: Locations
    workflow: Workflow | None = None
    workflow_path: Path | None = None
    demo: bool = False
    start_engine: bool = True


# Source errors arriving within this long of the first are shown as one toast.
SOURCE_ERROR_GATHER_SECONDS = 0.6
# The kept screens are made this long after the first frame and the engine's start (the profiles are connecting or
# connected by then), one at a time with a pause between them for keys that arrive meanwhile.
PREBUILD_AFTER_SECONDS = 0.3
PREBUILD_PAUSE_SECONDS = 0.02


@dataclass(frozen=True)
class LastError:
    """The error the status bar shows: its text (secrets redacted) and the profile whose source it came from."""

    message: str
    profile: str | None = None


class JobsDirty(Message):
    """Some jobs changed; the handler drains the pending set. Replaceable, so a burst becomes one update."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsDirty)


class EngineEventArrived(Message):
    """A source status or an engine error, carried into the app's message loop.

    The engine calls its subscribers from wherever the event was drained, which can be a context without the
    running app (a status from the sink watcher's thread): widgets are only touched from this message's handler.
    """

    def __init__(self, event: SourceStatusChanged | EngineError) -> None:
        super().__init__()
        self.event = event


class ComfyqApp(RelayKeys, App[int]):
    """comfyq's terminal UI."""

    TITLE = "comfyq"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {ComfyqCommands}
    # Screen classes for small terminals (app.tcss): at 80×24 the sidebar narrows and the detail pane shrinks.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("ctrl+p,colon", "command_palette", "Commands", show=False, id="app.palette"),
    ]

    # The one config of the app. Assigning a new one (a profile added, edited or deleted) reloads the engine;
    # screens watch it; widgets read it from here (never a copy of their own).
    config: var[Config] = var(builtin_config, init=False)

    def __init__(self, options: LaunchOptions, *, store: JobStore | None = None, engine: Engine | None = None) -> None:
        super().__init__()
        self.options = options  # how the app was launched (its `config` is the launch config, not the current one)
        self.set_reactive(ComfyqApp.config, options.config)
        self.store = store if store is not None else JobStore(options.locations.store_file)
        self.engine = engine if engine is not None else Engine(self.config, self.store)
        # What screens subscribe to (Signal: each subscriber's callback runs in its own message loop).
        self.jobs_signal: Signal[list[Job]] = Signal(self, "jobs")
        self.source_status_signal: Signal[SourceStatus] = Signal(self, "source-status")
        self.last_error_signal: Signal[LastError] = Signal(self, "last-error")
        self._pending_jobs: dict[str, Job] = {}
        self._source_errors: dict[str, str] = {}  # profile -> its error, gathered for one toast
        self._unsubscribe = self.engine.subscribe(self._on_engine_event)
        self.last_error: str | None = None
        self._external_sync_timer: Timer | None = None
        # From now on, commits of other comfyq processes are picked up (the first call only notes the version).
        self.store.changed_elsewhere()
        self._external_sync_at = time.time()
        self.closing = False  # set by shutdown(): timers must leave the store alone from then on
        self.engine_started = False
        self._settled = False
        self._prebuild_started = False
        # Make the kept screens while idle after start-up. None: for a person at a terminal, not headless (a test
        # or a snapshot that ends within a second would end it mid-mount); a test of it sets True.
        self.prebuild_screens: bool | None = None
        self.prebuilt = False  # every kept screen composed ahead (tests wait for it)
        self.terminal_notifications: list[str] = []  # what notify_terminal wrote (tests read it; headless writes none)
        if options.demo:
            self.sub_title = "demo"

    # ---------------------------------------------------------------- start

    def get_driver_class(self) -> type[Driver]:
        """Textual's choice, except that its Linux driver becomes ours (tui/terminal_driver.py: escape answered
        when its wait is over, not up to 0.1 s later)."""
        driver_class = super().get_driver_class()
        if driver_class.__module__ == "textual.drivers.linux_driver" and driver_class.__name__ == "LinuxDriver":
            try:
                from tui.terminal_driver import PromptEscapeDriver
            except ImportError:  # a Textual without the pieces it reuses: its own driver works, only slower on esc
                log.warning("the prompt-escape driver cannot load; using Textual's", exc_info=True)
                return driver_class
            return PromptEscapeDriver
        return driver_class

    def get_default_screen(self) -> MainScreen:
        return MainScreen(self.options)

    def on_mount(self) -> None:
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        if self.options.start_engine:
            # After the first frame: starting loads the backends (aiohttp, the EAS SDK: ~0.2 s of imports).
            self.call_after_refresh(
                lambda: self.run_worker(self._start_engine(), name="engine-start", group="engine", exit_on_error=False)
            )
        self._external_sync_timer = self.set_interval(1.0, self._sync_external_changes)

    def settle_after_start(self) -> None:
        """The main screen is complete: what exists now (modules, widgets, styles, caches) lives as long as the app.

        Moving it out of the garbage collector's sight keeps full collections short: one walked every object the
        app had made, a 130 ms stall in the middle of a stream of job updates.
        """
        if not self._settled:
            self._settled = True
            gc.collect()  # once: garbage frozen now would never be freed
            gc.freeze()
            self._prebuild_when_idle()

    def _prebuild_when_idle(self) -> None:
        """Once the first frame is out and the engine has started: make the kept screens soon after."""
        if self._prebuild_started or not self._settled or (self.options.start_engine and not self.engine_started):
            return
        if not (self.prebuild_screens if self.prebuild_screens is not None else not self.is_headless):
            return
        self._prebuild_started = True
        self.set_timer(PREBUILD_AFTER_SECONDS, self._start_prebuild)

    def _start_prebuild(self) -> None:
        if not self.closing:
            self.run_worker(self._prebuild_screens(), name="prebuild", group="prebuild", exit_on_error=False)

    async def _prebuild_screens(self) -> None:
        """Make the job detail, the help and the profile form (installed, kept) and read the confirmation's and the
        stats view's CSS while the app is idle, so the first `enter` / `?` / `n` / `E` is a switch like every later
        one instead of a compose (the first open of each took 135–490 ms, bench/keys.py). Each screen shows what it
        is opened for (`JobDetailScreen.show`, `ProfileFormScreen.prepare`), never what it was made with."""
        kept: list[tuple[str, Screen[object]]] = [("detail", JobDetailScreen()), ("help", HelpScreen())]
        editing = getattr(self.screen, "profile_editing", None)
        config_file = getattr(editing, "config_file", None)
        if config_file is not None:
            kept.append((PROFILE_FORM, ProfileFormScreen(config_file)))
        try:
            # Every CSS first, in one restyle (each read on its own restyles the whole app again).
            if not read_screens_css(self, [screen for _, screen in kept] + [ConfirmScreen("", ""),
                                                                         StatsScreen(JobFilter())]):
                return  # a Textual without the means: each is made on its first push, as before
            for name, screen in kept:
                await asyncio.sleep(PREBUILD_PAUSE_SECONDS)
                if self.closing:
                    return
                if not self.is_screen_installed(name):
                    self.install_screen(screen, name)
                if not await compose_unshown(self, name):
                    return
                if isinstance(screen, JobDetailScreen):
                    newest = self.store.page(limit=1)
                    if newest and not screen.is_current:
                        screen.warm_up(newest[0])  # the first `enter` took 100 ms more than the next ones
                await asyncio.sleep(PREBUILD_PAUSE_SECONDS)  # its widgets' mount handlers have run
                if not self.closing:
                    await lay_out_unshown(self, name, PREBUILD_PAUSE_SECONDS)
        except Exception:  # noqa: BLE001 - made ahead is an optimization: the first push makes what is missing
            log.warning("could not make the screens ahead", exc_info=True)
            return
        self.prebuilt = True

    async def _start_engine(self) -> None:
        await self.engine.start()
        self.engine_started = True
        self._prebuild_when_idle()

    async def action_quit(self) -> None:
        sending = self.engine.sending
        if sending and not isinstance(self.screen, ConfirmScreen):
            jobs = f"{sending} job{'s are' if sending != 1 else ' is'}"
            self.push_screen(
                ConfirmScreen(
                    "Quit",
                    f"{jobs} still being sent. Quit anyway? Nothing is lost: the next start asks the service "
                    "what it received and follows those jobs from there.",
                    confirm_label="Quit",
                    keep_label="Stay",
                    variant="warning",
                ),
                self._quit_answered,
            )
            return
        await self.shutdown()
        self.exit(0)

    async def _quit_answered(self, yes: bool | None) -> None:
        if yes:
            await self.shutdown()
            self.exit(0)

    async def shutdown(self) -> None:
        self.closing = True
        if self._external_sync_timer is not None:
            self._external_sync_timer.stop()
        self._unsubscribe()
        try:
            await self.engine.stop()
        finally:
            self.store.close()

    def watch_config(self, config: Config) -> None:
        """A new config (the profile form saved, a profile was deleted): the engine follows it."""
        if self.options.start_engine:
            self._reload_engine(config)

    @work(group="engine", exit_on_error=False)
    async def _reload_engine(self, config: Config) -> None:
        await self.engine.reload_config(config)

    def _remember_theme(self, theme: object) -> None:
        path = self.config.path
        if path is None:
            return
        try:
            save_ui_settings(path, theme=self.theme)
        except (OSError, ConfigError) as error:
            self.report_error(f"could not save the theme: {error}")

    # --------------------------------------------------------------- events

    def _on_engine_event(self, event: object) -> None:
        """Runs on the event loop thread (the engine marshals). Keep it cheap: remember, then post once."""
        if isinstance(event, JobChanged):
            self._pending_jobs[event.job.id] = event.job
            self.post_message(JobsDirty())
        elif isinstance(event, (SourceStatusChanged, EngineError)):
            self.post_message(EngineEventArrived(event))

    @on(EngineEventArrived)
    def _engine_event_arrived(self, arrived: EngineEventArrived) -> None:
        if self.closing:
            return  # shutting down: the screens may already be taking their widgets apart
        event = arrived.event
        if isinstance(event, SourceStatusChanged):
            self.source_status_signal.publish(event.status)
        elif event.message and event.profile is not None:
            self._gather_source_error(event.profile, event.message)
        elif event.message:
            self.report_error(event.message)

    def _gather_source_error(self, profile: str, message: str) -> None:
        """Errors of several profiles arriving together (three broken profiles at start-up) become one toast."""
        first = not self._source_errors
        self._source_errors[profile] = message
        if first:
            self.set_timer(SOURCE_ERROR_GATHER_SECONDS, self._flush_source_errors)

    def _flush_source_errors(self) -> None:
        errors, self._source_errors = self._source_errors, {}
        if self.closing or not errors:
            return
        if len(errors) == 1:
            [(profile, message)] = errors.items()
            self.report_error(f"{profile}: {message}", profile=profile)
            return
        for profile, message in errors.items():
            log.error("%s: %s", profile, redact(message))
        names = ", ".join(errors)
        self.notify(f"{len(errors)} profiles cannot connect ({names}) — see Profiles", title="Error",
                    severity="error", timeout=8)
        profile, message = list(errors.items())[-1]
        self._show_last_error(redact(f"{profile}: {message}"), profile)

    def _sync_external_changes(self) -> None:
        """Jobs another comfyq process (e.g. `comfyq submit` in a shell) added or settled in the same store."""
        if not self.store.changed_elsewhere():
            return
        since = self._external_sync_at - 2.0  # a little overlap: clocks of two processes, same machine
        self._external_sync_at = time.time()
        for job in self.store.changed_since(since):
            self._pending_jobs.setdefault(job.id, job)
        self.post_message(JobsDirty())

    @on(JobsDirty)
    def _drain_jobs(self) -> None:
        if not self._pending_jobs:
            return
        jobs = list(self._pending_jobs.values())
        self._pending_jobs.clear()
        if not self.closing:
            self.jobs_signal.publish(jobs)

    def notify_terminal(self, title: str, body: str) -> None:
        """A desktop notification through the terminal (OSC 777 / OSC 9, else the bell), as `[ui] notify` says.
        Written to the terminal the way App.copy_to_clipboard writes OSC 52 (so it also works over SSH)."""
        sequence = notification_sequence(title, body, self.config.notify)
        if not sequence:
            return
        self.terminal_notifications.append(sequence)
        if not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast: its text (which often quotes a file name, a profile or a server's error) is shown with
        control characters escaped and never read as markup, whoever calls this (`markup` is accepted and ignored)."""
        super().notify(
            visible(message, keep_newlines=True), title=visible(title), severity=severity, timeout=timeout, markup=False
        )

    def copy_to_clipboard(self, text: str) -> None:
        """Copy the real value (OSC 52 carries it base64-encoded, so nothing in it reaches the terminal raw).

        Text that cannot be encoded as UTF-8 (a lone surrogate a server sent) has those characters replaced by
        U+FFFD instead of raising.
        """
        super().copy_to_clipboard(_LONE_SURROGATES.sub("\ufffd", text))

    def report_error(self, message: str, *, title: str = "Error", profile: str | None = None) -> None:
        """The one place errors from workers and sources are shown (and logged), never swallowed."""
        message = redact(message)
        log.error("%s: %s", title, message)
        self.notify(message, title=title, severity="error", timeout=8)
        self._show_last_error(message, profile)

    def _show_last_error(self, message: str, profile: str | None) -> None:
        self.last_error = message
        self.last_error_signal.publish(LastError(message, profile))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            what = (event.worker.name or "task").strip("_").replace("_", " ")  # `_submit` → "submit"
            # The store's errors are written for users (disk full, read-only); a bug names its exception type.
            reason = str(error) if isinstance(error, StoreError) else f"{type(error).__name__}: {error}"
            self.report_error(f"{what} failed: {reason}")

    # -------------------------------------------------------------- actions

    def action_help(self) -> None:
        # Made once and kept (an installed screen): opening it again is a switch, not a compose.
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(), "help")
        self.push_screen("help")
