"""The job table as a person sees it: the cursor's row is always drawn in full, on the screen itself.

These tests read the composed screen (every layer, scrollbars included), not the table's own render_line, so a row
that the table renders but a scrollbar covers counts as hidden.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import (
    OFFLINE_CONFIG,
    app_on,
    running,
    scale_job_id,
    screen_lines,
    seeded_dirs,
    synthetic_jobs,
    wait_for,
)
from tui.app import ComfyqApp
from tui.core.store import JobStore
from tui.widgets.job_table import JobTable

JOBS = 80


@pytest.fixture
def store_dirs(tmp_path: Path) -> tuple[Path, Path]:
    return seeded_dirs(tmp_path, OFFLINE_CONFIG, synthetic_jobs(JOBS))


def _cursor_row_on_screen(app: ComfyqApp, table: JobTable) -> bool:
    """The cursor's job id is drawn inside the table's region of the screen, and no scrollbar row hides it."""
    job_id = table.cursor_job_id
    if job_id is None:
        return False
    region = table.content_region
    lines = screen_lines(app)
    # The table's own lines on screen, header excluded; a horizontal scrollbar would take the last of them.
    visible = [line[region.x : region.right] for line in lines[region.y + 1 : region.bottom]]
    return any(job_id[:8] in line for line in visible) and not table.show_horizontal_scrollbar


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
@pytest.mark.parametrize("keys", [("G",), ("end",), ("s",), ("S",), ("ctrl+b", "G"), ("pagedown", "pagedown")])
async def test_the_cursor_row_is_always_drawn_in_full(store_dirs: tuple[Path, Path], size: tuple[int, int],
                                                      keys: tuple[str, ...]) -> None:
    app = app_on(store_dirs)
    async with running(app, size=size) as pilot:
        table = app.screen.query_one(JobTable)
        table.focus()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            await wait_for(pilot, lambda: _cursor_row_on_screen(app, table),
                           lambda: f"the cursor row after {key!r} on screen:\n" + "\n".join(screen_lines(app)))


async def test_the_last_row_is_reachable(store_dirs: tuple[Path, Path]) -> None:
    app = app_on(store_dirs)
    async with running(app, size=(80, 24)) as pilot:
        table = app.screen.query_one(JobTable)
        table.focus()
        await pilot.press("G")
        await wait_for(pilot, lambda: table.cursor_job_id == scale_job_id(0), "the oldest job under the cursor")
        await wait_for(pilot, lambda: _cursor_row_on_screen(app, table), "the oldest job drawn on screen")


async def test_a_live_insert_above_keeps_the_cursor_row_on_screen(store_dirs: tuple[Path, Path]) -> None:
    app = app_on(store_dirs)
    async with running(app, size=(120, 36)) as pilot:
        table = app.screen.query_one(JobTable)
        table.focus()
        rows_shown = table.scrollable_content_region.height - 1
        for _ in range(rows_shown - 1):  # the cursor on the bottom line of the view
            await pilot.press("j")
        await wait_for(pilot, lambda: table.cursor_row == rows_shown - 1, "the cursor on the bottom line")
        target = table.cursor_job_id
        # Another comfyq process adds jobs: they are newer, so they go on top and push the cursor's job down.
        with JobStore(app.options.locations.store_file) as other_process:
            other_process.add_many([job for job in synthetic_jobs(JOBS + 3)[JOBS:]])
        await wait_for(pilot, lambda: table.row_count == JOBS + 3, "the new jobs in the table")
        assert table.cursor_job_id == target
        await wait_for(pilot, lambda: _cursor_row_on_screen(app, table), "the cursor's job still on screen")
