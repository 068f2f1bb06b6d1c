"""Pieces the end-to-end TUI tests share: the real app on the real emulators over loopback, and patient waits.

`sim` starts a SimServer in its own thread (the API edition with two instances and a dedicated ComfyUI, tiny step
times), writes a config with its two profiles plus an OSS bucket path, and builds `ComfyqApp`s on it. Tests wait on
conditions (store state, what the screen shows) with a bounded deadline, never on fixed sleeps.

Also here: reading the screen (rows, cells, toasts), doing what a user does (choose a profile, submit and wait),
and a seeded store with nothing to contact (OFFLINE_CONFIG, synthetic_jobs). The editor-only app is in
editor_app.py. Test modules import these from here, never from each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import ComfyqApp, LaunchOptions
from tui.core.config import Config, load_config
from tui.core.jobs import Edition, Job, JobState, Output
from tui.core.locations import Locations, resolve_locations
from tui.core.store import JobStore
from tui.core.workflow import Workflow, seed_workflow
from tui.sim.server import SimServer, SimThread
from tui.widgets.job_table import COLUMNS, JobTable
from tui.widgets.jobs_pane import JobsPane
from tui.widgets.profile_list import ProfileList
from tui.widgets.workflow_editor import WorkflowEditor

from tests.waiting import WAIT_SECONDS, What, wait_until

SIZE = (120, 36)
SIM_TOKEN = "sim-token-0123456789"
BUCKET = "oss://test-bucket/comfy-out"
STEP_SECONDS = 0.005  # 20 sampler steps ≈ 0.1 s: jobs finish quickly but still pass through every state
HOLD_STEP_SECONDS = 0.5  # a KSampler of 20 steps then takes 10 s: long enough to see the job running

T = TypeVar("T")


def config_text(server: SimServer, *, bucket: str = BUCKET, extra: str = "") -> str:
    """The emulator's own two profiles (SimServer.config_snippet) with an OSS bucket path and quick polling."""
    lines = [
        "# comfyq TUI tests: the emulator's profiles",
        "[defaults]",
        "poll_interval = 0.05",
        "idle_poll_interval = 0.5",
        "request_timeout = 10",
        "",
    ]
    for line in server.config_snippet().splitlines():
        if line.startswith("oss_bucket_path"):
            continue  # the snippet's own (made-up) bucket: ours is the one the tests compose paths with
        lines.append(line)
        if line.startswith("[profiles."):
            lines.append(f'oss_bucket_path = "{bucket}"')
    return "\n".join(lines) + "\n" + extra


@dataclass
class Sim:
    """A running emulator, the config file that points at it, and where the apps keep their data."""

    server: SimServer
    config_file: Path
    locations: Locations
    apps: list[ComfyqApp] = field(default_factory=list)

    def write_config(self, extra: str = "") -> Config:
        """(Re)write the config file, `extra` appended (e.g. a [keymap] table), and load it."""
        self.config_file.write_text(config_text(self.server, extra=extra), encoding="utf-8")
        return self.config()

    def config(self) -> Config:
        return load_config(self.config_file, explicit=True)

    def app(self, *, workflow: Workflow | None = None, start_engine: bool = True, **options: Any) -> ComfyqApp:
        app = ComfyqApp(
            LaunchOptions(
                config=self.config(),
                locations=self.locations,
                workflow=workflow if workflow is not None else seed_workflow(),
                start_engine=start_engine,
                **options,
            )
        )
        self.apps.append(app)
        return app

    def set_fail_rate(self, rate: float) -> None:
        """Every emulated ComfyUI (dedicated and each API-edition instance) fails this share of jobs.

        The emulators draw when a job starts running, so the change takes effect for the next job.
        """
        for emulator in self._emulators():
            emulator.fail_rate = rate

    def set_step_seconds(self, seconds: float) -> None:
        """How long a sampler step takes from now on (read per step, so it also speeds up a running job)."""
        for emulator in self._emulators():
            emulator.step_seconds = seconds
            emulator.node_seconds = seconds

    def _emulators(self) -> Iterator[Any]:
        yield self.server.comfyui
        for pool in self.server.pools.values():
            for handler in pool.handlers:
                emulator = getattr(handler, "emulator", None)
                if emulator is not None:
                    yield emulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    thread = SimThread(instances=2, step_seconds=STEP_SECONDS, token=SIM_TOKEN, output_dir=tmp_path / "sim-output")
    server = thread.start()
    try:
        locations = resolve_locations(tmp_path / "config.toml", tmp_path / "data")
        locations.data_dir.mkdir(parents=True, exist_ok=True)
        harness = Sim(server=server, config_file=locations.config_file, locations=locations)
        harness.write_config()
        yield harness
    finally:
        thread.stop()


def seeded_dirs(root: Path, config_text: str, jobs: Sequence[Job] = ()) -> tuple[Path, Path]:
    """A user's config file and data dir under `root` (config.toml, data/), the job store holding `jobs`."""
    locations = resolve_locations(root / "config.toml", root / "data")
    locations.data_dir.mkdir(parents=True, exist_ok=True)
    locations.config_file.write_text(config_text, encoding="utf-8")
    if jobs:
        with JobStore(locations.store_file) as store:
            store.add_many(list(jobs))
            assert store.total() == len(jobs)
    return locations.config_file, locations.data_dir


def app_on(dirs: tuple[Path, Path], *, start_engine: bool = False) -> ComfyqApp:
    """The app on a config file and data dir with the seed workflow; no engine unless asked (nothing to contact)."""
    config_file, data_dir = dirs
    return ComfyqApp(
        LaunchOptions(
            config=load_config(config_file, explicit=True),
            locations=resolve_locations(config_file, data_dir),
            workflow=seed_workflow(),
            start_engine=start_engine,
        )
    )


@contextlib.asynccontextmanager
async def running(
    app: ComfyqApp, *, size: tuple[int, int] = SIZE, message_hook: Callable[[Message], None] | None = None
) -> AsyncIterator[Pilot[int]]:
    """Run `app` headless; once its engine (if any) is up, hand over the pilot. Always shuts the engine down.
    `message_hook` sees every message each widget handles (Textual's run_test hook).

    The engine and the store are shut down after the app has exited (its timers stopped), so a test's teardown
    never races a screen timer; `test_flows.py` checks the quit path (`q`) itself.
    """
    try:
        async with app.run_test(size=size, notifications=True, message_hook=message_hook) as pilot:
            await wait_for(pilot, lambda: getattr(app.screen, "panes_ready", True), "the main screen's panes")
            if app.options.start_engine:
                await wait_for(pilot, lambda: app.engine_started, "the engine to start")
            await pilot.pause()
            yield pilot
    finally:
        await app.shutdown()  # idempotent: a test that pressed q already did this


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], T], what: What, timeout: float = WAIT_SECONDS) -> T:
    """tests/waiting.py's wait_until in the UI tests' spelling: the app runs (through `pilot`) while it waits."""
    return await wait_until(predicate, timeout, what, pilot=pilot)


def screen_lines(app: ComfyqApp) -> list[str]:
    """The whole screen as the terminal shows it (every layer, toasts included), one string per line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app: ComfyqApp) -> str:
    return "\n".join(screen_lines(app))


def table_lines(table: JobTable) -> list[str]:
    """The job table's visible lines as it renders them (line 0 is the header)."""
    return [table.render_line(y).text for y in range(table.size.height)]


def row_line(table: JobTable, job_id: str) -> str | None:
    """The rendered line of `job_id` when it is on screen (matched by its short id), else None."""
    for line in table_lines(table)[1:]:
        if job_id[:8] in line:
            return line
    return None


def jobs_table(app: ComfyqApp) -> JobTable:
    return app.screen.query_one(JobTable)


async def wait_for_row(pilot: Pilot[Any], app: ComfyqApp, job_id: str, text: str) -> str:
    """Wait until `job_id`'s line is on screen and shows `text`; return the line."""
    table = jobs_table(app)

    def shown() -> str | None:
        line = row_line(table, job_id)
        return line if line is not None and text in line else None

    return await wait_for(pilot, shown, f"row {job_id[:8]}: {text}")


def row_cells(table: JobTable, job_id: str) -> dict[str, str]:
    """The visible cells of `job_id`'s line, by column title (columns the width dropped are absent)."""
    line = row_line(table, job_id)
    assert line is not None, f"job {job_id[:8]} is not on screen"
    header = table_lines(table)[0]
    starts: list[tuple[int, str]] = []
    position = 0
    for column in COLUMNS:
        found = header.find(column.title, position)
        if found >= 0:
            starts.append((found, column.title))
            position = found + len(column.title)
    cells = {}
    for index, (start, title) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(line)
        cells[title] = line[start:end].strip()
    return cells


def jobs_by_submission(app: ComfyqApp) -> list[Job]:
    """Every job in the app's store, oldest first."""
    return sorted(app.store.page(limit=10_000), key=lambda job: job.submitted_at or 0.0)


def toasts(app: ComfyqApp) -> list[str]:
    """The notifications still shown (title and message), newest last. Read from the app rather than the screen
    because a toast wraps long messages over several lines."""
    return [f"{note.title}: {note.message}" for note in app._notifications]


def tab_labels(app: ComfyqApp) -> list[str]:
    return app.screen.query_one(JobsPane).labels()


# ------------------------------------------------------------------------------------- doing what a user does


async def choose_profile(pilot: Pilot[Any], app: ComfyqApp, name: str) -> None:
    """Make `name` the active profile the way a user does: highlight it in the profile list and press enter."""
    profiles = app.screen.query_one(ProfileList)
    profiles.focus()
    await pilot.pause()
    while profiles.highlighted_profile != name:
        before = profiles.highlighted
        await pilot.press("down")
        assert profiles.highlighted != before, f"profile {name} not in the list"
    await pilot.press("enter")
    await wait_for(pilot, lambda: profiles.active_profile == name, f"{name} to become the active profile")
    jobs_table(app).focus()
    await pilot.pause()


async def submit_running_dedicated_job(pilot: Pilot[Any], app: ComfyqApp) -> Job:
    """Make sim-dedicated active, press ctrl+s and wait until the job's row says running (with the step time held
    long, it stays running until cancelled): the job, as first stored."""
    await choose_profile(pilot, app, "sim-dedicated")
    await pilot.press("ctrl+s")
    job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
    await wait_for_row(pilot, app, job.id, "running")
    return job


async def set_copies(pilot: Pilot[Any], app: ComfyqApp, count: int) -> None:
    """Type the number of copies into the editor's count field."""
    field = app.screen.query_one("#workflow-count", Input)
    field.focus()
    await pilot.press("end", *["backspace"] * len(field.value), *str(count))
    assert app.screen.query_one(WorkflowEditor).count == count
    jobs_table(app).focus()
    await pilot.pause()


async def submit_and_settle(pilot: Pilot[Any], app: ComfyqApp, count: int, state: JobState) -> list[Job]:
    """Press ctrl+s (with `count` copies) and wait until that many new jobs reached `state`."""
    known = {job.id for job in app.store.page(limit=10_000)}
    if app.screen.query_one(WorkflowEditor).count != count:
        await set_copies(pilot, app, count)
    await pilot.press("ctrl+s")

    def settled() -> list[Job] | None:
        new = [job for job in jobs_by_submission(app) if job.id not in known]
        if len(new) == count and all(job.state.is_terminal for job in new):
            return new
        return None

    jobs = await wait_for(pilot, settled, f"{count} submitted job(s) to finish")
    assert [job.state for job in jobs] == [state] * count, [(job.state, job.failure) for job in jobs]
    return jobs


# --------------------------------------------------------------------------- a seeded store, nothing to contact

# Two profiles (one per edition) at an address where nothing listens: apps on a seeded store contact nothing.
OFFLINE_CONFIG = """
[profiles.farm-a]
edition = "dedicated"
url = "http://127.0.0.1:9/"

[profiles.farm-b]
edition = "api"
input_url = "http://127.0.0.1:9/api/predict/svc"
"""

SYNTHETIC_START = 1_790_000_000.0  # a fixed past moment: every synthetic job is older than "now"
SYNTHETIC_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.RUNNING, JobState.QUEUED, JobState.SUCCEEDED)


def scale_job_id(number: int) -> str:
    """Ids that sort like the jobs were made and whose first 8 characters differ (the table shows those)."""
    return f"{number:08d}" + "ab" * 12


def synthetic_jobs(count: int) -> list[Job]:
    """`count` jobs of OFFLINE_CONFIG's two profiles, one a second apart, cycling through SYNTHETIC_STATES."""
    jobs = []
    for number in range(count):
        state = SYNTHETIC_STATES[number % len(SYNTHETIC_STATES)]
        submitted = SYNTHETIC_START + number
        stamps = {"submitting": submitted, "queued": submitted + 0.5}
        if state is not JobState.QUEUED:
            stamps["running"] = submitted + 1
        if state.is_terminal:
            stamps[state.value] = submitted + 3
        dedicated = number % 2 == 0
        jobs.append(
            Job(
                id=scale_job_id(number),
                profile="farm-a" if dedicated else "farm-b",
                edition=Edition.DEDICATED if dedicated else Edition.API,
                workflow=None,
                state=state,
                prompt_id=f"prompt-{number}" if dedicated else None,
                task_id=None if dedicated else f"task-{number}",
                timestamps=stamps,
                outputs=(Output("9", "output", "", f"img_{number:05d}.png"),) if state is JobState.SUCCEEDED else (),
            )
        )
    return jobs
