"""A job chain has one outcome: a failed job whose resubmission succeeded no longer counts as failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import OFFLINE_CONFIG, app_on, row_line, running, screen_text, seeded_dirs, wait_for
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState
from tui.core.locations import resolve_locations
from tui.core.store import JobStore
from tui.widgets.job_table import JobTable
from tui.widgets.jobs_pane import JobsPane
from tui.widgets.status_bar import StatusBar

WORKFLOW = {"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}


def make(job_id: str, state: JobState, at: float, **fields: object) -> Job:
    stamps = {"submitting": at, state.value: at + 1}
    failure = Failure(FailureCategory.EXECUTION, "boom") if state is JobState.FAILED else None
    return Job(id=job_id + "x" * (24 - len(job_id)), profile="farm-a", edition=Edition.DEDICATED,
               workflow=WORKFLOW, state=state, timestamps=stamps, failure=failure, **fields)  # type: ignore[arg-type]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    root = make("aaaa0001", JobState.FAILED, 1_790_000_000.0)
    retry = make("bbbb0002", JobState.SUCCEEDED, 1_790_000_010.0, parent_id=root.id, attempt=2)
    lone = make("cccc0003", JobState.LOST, 1_790_000_020.0)
    return seeded_dirs(tmp_path, OFFLINE_CONFIG, [root, retry, lone])


async def test_a_retried_failure_is_not_failing_and_says_how_its_retry_ended(dirs: tuple[Path, Path]) -> None:
    locations = resolve_locations(*dirs)
    app = app_on(dirs)
    async with running(app) as pilot:
        table = app.screen.query_one(JobTable)
        bar = app.screen.query_one(JobsPane)
        await wait_for(pilot, lambda: "Failed 1" in bar.labels(), lambda: f"Failed 1 in {bar.labels()}")
        status = app.screen.query_one(StatusBar)
        assert "✘ 1" in str(status.render())
        # The retried row says it was retried and how the retry ended.
        line = await wait_for(pilot, lambda: row_line(table, "aaaa0001"), "the retried job's row")
        assert "↻" in line and "✔" in line, line
        # Failed shows what is still failing: the lost job only.
        await pilot.press("3")
        await wait_for(pilot, lambda: table.row_count == 1, "one row in Failed")
        assert table.cursor_job_id.startswith("cccc0003")
        # Another process resubmits the lost job and it succeeds: Failed empties, counts agree.
        with JobStore(locations.store_file) as other:
            lone = other.get("cccc0003" + "x" * 16)
            other.add(make("dddd0004", JobState.SUCCEEDED, 1_790_000_030.0, parent_id=lone.id, attempt=2))
        await wait_for(pilot, lambda: table.row_count == 0, lambda: f"the Failed view to empty: {table._rows} {app.store.total()}")
        await wait_for(pilot, lambda: "Failed 0" in bar.labels(), lambda: f"Failed 0 in {bar.labels()}")
        await wait_for(pilot, lambda: "✘ 0" in str(status.render()), "the status bar's failed count")
        # R agrees: nothing to resubmit.
        await pilot.press("R")
        await wait_for(pilot, lambda: "no failed jobs" in screen_text(app), "R saying there is nothing failing")
