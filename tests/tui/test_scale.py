"""A 10,000-job store in the real app: it opens, pages, jumps to the end, and repaints a live change.

No timing asserts (design rule): the test checks behaviour at size — the virtual table renders the rows the store
holds, navigation lands on the right jobs, and a change made by another comfyq process (a second JobStore on the
same file, like `comfyq submit` in a shell) reaches the visible line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import (
    OFFLINE_CONFIG,
    SIZE,
    app_on,
    row_line,
    running,
    scale_job_id,
    seeded_dirs,
    synthetic_jobs,
    table_lines,
    wait_for,
)
from tui.core.jobs import JobState, JobUpdate, Output
from tui.core.locations import resolve_locations
from tui.core.store import JobStore
from tui.widgets.job_table import JobTable
from tui.widgets.jobs_pane import JobsPane

JOB_COUNT = 10_000


@pytest.fixture
def big_store(tmp_path: Path) -> tuple[Path, Path]:
    return seeded_dirs(tmp_path, OFFLINE_CONFIG, synthetic_jobs(JOB_COUNT))  # (it checks that all 10,000 are stored)


def newest_first(number_from_top: int) -> str:
    return scale_job_id(JOB_COUNT - 1 - number_from_top)


async def test_a_10k_store_opens_pages_jumps_and_repaints_a_live_change(big_store: tuple[Path, Path]) -> None:
    config_file, data_dir = big_store
    locations = resolve_locations(config_file, data_dir)
    app = app_on(big_store)  # no engine: the change below comes from another process's store
    async with running(app, size=SIZE) as pilot:
        table = app.screen.query_one(JobTable)
        assert table.row_count == JOB_COUNT
        visible = table.size.height - 1  # one line is the header

        # The first page: the header and the newest jobs, newest first.
        lines = table_lines(table)
        assert "state" in lines[0] and "profile" in lines[0]
        for offset in range(visible):
            assert newest_first(offset)[:8] in lines[1 + offset], (offset, lines[1 + offset])
        assert "All 10000" in app.screen.query_one(JobsPane).labels()
        assert table.cursor_job_id == newest_first(0)

        # end: the last row (the oldest job) is the cursor's and on screen.
        await pilot.press("end")
        await wait_for(pilot, lambda: table.cursor_row == JOB_COUNT - 1, "the cursor on the last row")
        await wait_for(pilot, lambda: row_line(table, scale_job_id(0)) is not None, "the oldest job on screen")
        assert table.cursor_job_id == scale_job_id(0)
        assert int(table.scroll_offset.y) == JOB_COUNT - visible
        assert table_lines(table)[-1].split()[2] == scale_job_id(0)[:8]  # "✔ succeeded <id>": the bottom line

        # home, then pagedown: the cursor moves a page and the view scrolls with it, rows still in order.
        await pilot.press("home")
        await wait_for(pilot, lambda: table.cursor_row == 0 and table.scroll_offset.y == 0, "back at the top")
        await pilot.press("pagedown", "pagedown")
        page = max(1, table.size.height - 2)
        await wait_for(pilot, lambda: table.cursor_row == 2 * page, "two pages down")
        await wait_for(pilot, lambda: table.scroll_offset.y > 0, "the view to scroll")
        top = int(table.scroll_offset.y)
        lines = table_lines(table)
        for offset in range(visible):
            assert newest_first(top + offset)[:8] in lines[1 + offset]
        assert row_line(table, newest_first(2 * page)) is not None  # the cursor's job is on screen

        # A live change of a visible job (made through another store connection) repaints its line.
        target = next(
            newest_first(top + offset)
            for offset in range(visible)
            if app.store.get(newest_first(top + offset)).state is JobState.RUNNING
        )
        assert "running" in (row_line(table, target) or "")
        with JobStore(locations.store_file) as other_process:
            other_process.apply(
                JobUpdate(target, state=JobState.SUCCEEDED, outputs=(Output("9", "output", "", "fresh.png"),))
            )
        line = await wait_for(
            pilot,
            lambda: (text := row_line(table, target)) is not None and "succeeded" in text and text,
            "the changed job's line to repaint",
        )
        assert "running" not in line
        assert table.cursor_row == 2 * page and int(table.scroll_offset.y) == top  # nothing else moved
