"""The job table's columns read at a glance: a failure's short form, columns as wide as what they show, the submitted
time (with the sort arrow) at 120 columns, and at 80×24 still state, id, progress and a short reason."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.tui.conftest import OFFLINE_CONFIG, app_on, row_cells, running, seeded_dirs, table_lines, wait_for
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, NodeError, Progress
from tui.widgets.job_table import JobTable

OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.64 GiB"


def _job(number: int, state: JobState, **fields: object) -> Job:
    at = time.time() - 600 + number
    stamps = {"submitting": at, "running": at + 1}
    if state.is_terminal:
        stamps[state.value] = at + 5
    return Job(id=f"{number:08d}" + "cd" * 12, profile="farm-a", edition=Edition.DEDICATED, workflow=None,
               state=state, timestamps=stamps, **fields)  # type: ignore[arg-type]


JOBS = {
    "oom": _job(1, JobState.FAILED, failure=Failure(
        FailureCategory.EXECUTION, f"node 3 KSampler: torch.OutOfMemoryError: {OOM}", node_id="3",
        class_type="KSampler", exception_type="torch.OutOfMemoryError")),
    "rejected": _job(2, JobState.FAILED, failure=Failure(
        FailureCategory.REJECTED, "Prompt outputs failed validation", node_errors=(NodeError(
            "4", "CheckpointLoaderSimple", "value_not_in_list", "Value not in list",
            "ckpt_name: 'gone.safetensors' not in [...]", "ckpt_name"),))),
    "lost": _job(3, JobState.LOST, failure=Failure(FailureCategory.LOST, "the server no longer knows this prompt")),
    "running": _job(4, JobState.RUNNING, progress=Progress(node_id="3", class_type="KSampler", value=5, max=20)),
}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return seeded_dirs(tmp_path, OFFLINE_CONFIG, list(JOBS.values()))


async def test_at_120_columns_a_failure_reads_in_a_few_words_beside_the_submitted_time(dirs: tuple[Path, Path]) -> None:
    app = app_on(dirs)
    async with running(app, size=(120, 36)) as pilot:
        table = app.screen.query_one(JobTable)
        await wait_for(pilot, lambda: table.row_count == len(JOBS), "the jobs")
        await pilot.pause()
        header = table_lines(table)[0]
        assert "submitted ▼" in header, header  # the default sort's column, with its arrow
        assert "queue / progr" not in header and "…" not in header, header
        details = {name: row_cells(table, job.id)["detail"] for name, job in JOBS.items()}
        assert details["oom"].startswith("OOM · KSampler"), details
        assert details["rejected"].startswith("rejected · ckpt_name"), details
        assert details["lost"].startswith("lost"), details
        assert "5/20 KSampler" in details["running"], details
        # The detail column has the width the empty progress column used to take: the short form is never cut.
        assert all(len(row_cells(table, job.id)["detail"]) >= 20 for job in JOBS.values())


async def test_at_80x24_state_id_progress_and_a_short_reason_stay(dirs: tuple[Path, Path]) -> None:
    app = app_on(dirs)
    async with running(app, size=(80, 24)) as pilot:
        table = app.screen.query_one(JobTable)
        await wait_for(pilot, lambda: table.row_count == len(JOBS), "the jobs")
        await pilot.pause()
        for name, job in JOBS.items():
            cells = row_cells(table, job.id)
            assert cells["state"].endswith(job.state.value) and cells["id"] == job.id[:8], cells
        assert row_cells(table, JOBS["oom"].id)["detail"].startswith("OOM · KSampler")
        assert row_cells(table, JOBS["rejected"].id)["detail"].startswith("rejected · ckpt_name")
        assert "KSampler" in row_cells(table, JOBS["running"].id)["detail"]
