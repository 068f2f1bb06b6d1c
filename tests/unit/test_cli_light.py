"""The command line stays light: building the parser imports no emulator, UI or SDK, and the job table it prints
is laid out exactly as rich's Table lays it out.

`comfyq submit -n 1000` is a short-lived process: every module the parser imports is paid on every command, and a
rich Table costs ~0.3 ms a row. These tests hold the import graph and the table's cells, never timing.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tui.commands import job_output
from tui.core.safe_text import visible
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, Progress

HEAVY = ("aiohttp", "textual", "eas_prediction", "httpx", "numpy", "google.protobuf", "tui.sim.server", "tui.app")


def test_building_the_parser_imports_no_emulator_ui_or_sdk() -> None:
    code = (
        "import sys, tui.cli\n"
        "tui.cli.build_parser()\n"
        f"print(','.join(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_sim_command_defaults_are_the_emulators_defaults() -> None:
    from tui.commands import sim
    from tui.sim import server

    assert (sim.DEFAULT_PORT, sim.DEFAULT_SERVICE) == (server.DEFAULT_PORT, server.DEFAULT_SERVICE)
    from tui.sim import comfyui_newer

    assert sim.COMFYUI_VERSIONS == comfyui_newer.VERSIONS
    assert sim.COMFYUI_VERSIONS[0] == comfyui_newer.OLD_VERSION


# --------------------------------------------------------------------------------------------------- the table


def _jobs(count: int, *, retries: bool, long_details: bool) -> list[Job]:
    now = time.time()
    states = list(JobState)
    jobs = []
    for number in range(count):
        state = states[number % len(states)]
        job = Job(
            id=f"{number:08x}-0000-4000-8000-000000000000",
            profile="bench" if number % 2 else "a-longer-profile-name",
            edition=Edition.API,
            workflow=None,
            state=state,
            timestamps={JobState.SUBMITTING.value: now - 90 - number, state.value: now - number},
        )
        if retries and number % 3 == 0:
            job.attempt = 2
        if state is JobState.FAILED:
            job.failure = Failure(FailureCategory.EXECUTION, "KSampler ran out of memory " * (8 if long_details else 1)
                                  + "画像 wide\r\x07 bell")
        if state is JobState.QUEUED and number % 2:
            job.queue_position = number
        if state is JobState.RUNNING:
            job.progress = Progress(node_id="3", class_type="KSampler", value=number % 20, max=20)
        jobs.append(job)
    return jobs


def _reference_table(console: Console, jobs: list[Job]) -> None:
    """The table as the CLI printed it with rich's Table (before it was laid out directly)."""
    from tui.core.presentation import format_clock, format_duration

    now = time.time()
    retries = any(job.attempt > 1 for job in jobs)
    headers = ["Job", "Profile", "State"] + (["Try"] if retries else []) + ["Submitted", "Duration"]
    rows = []
    for job in jobs:
        row = [Text(job.id[:8]), Text(job.profile), job_output.state_text(job)]
        if retries:
            row.append(Text(str(job.attempt), justify="right"))
        row += [Text(format_clock(job.submitted_at, now)), Text(format_duration(job.duration(now)), justify="right")]
        rows.append(row)
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    for index, header in enumerate(headers):
        table.add_column(header, width=max(len(header), *(row[index].cell_len for row in rows)), no_wrap=True)
    table.add_column("Detail", width=10, no_wrap=True, overflow="ellipsis")
    for job, row in zip(jobs, rows):
        # Control characters in a detail are shown as escapes (safe_text.visible), as the CLI shows them everywhere.
        table.add_row(*row, Text(visible(job_output.detail_line(job))))
    used = console.measure(table).maximum
    table.columns[-1].width = max(10, 10 + console.width - used)
    console.print(table)


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _styled_cells(ansi: str) -> list[tuple[str, str]]:
    """Each character with the SGR style it is shown in (rich may split one styled run into several escapes)."""
    cells: list[tuple[str, str]] = []
    style = ""
    position = 0
    for match in _SGR.finditer(ansi):
        cells.extend((char, style) for char in ansi[position : match.start()])
        code = match.group(1)
        style = "" if code in ("", "0") else code
        position = match.end()
    cells.extend((char, style) for char in ansi[position:])
    return cells


def _render(printer, jobs: list[Job], width: int, styled: bool) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    # A terminal's table (into a pipe the Detail column is never cut: see the test at the end).
    console = Console(file=out, width=width, force_terminal=True, color_system="standard" if styled else None)
    printer(console, jobs)
    return out.getvalue()


def _ours(console: Console, jobs: list[Job]) -> None:
    session = SimpleNamespace(out=console, profile_or_none=lambda name: None)
    job_output.print_table(session, jobs)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [60, 80, 120, 200])
@pytest.mark.parametrize("retries", [False, True])
@pytest.mark.parametrize("long_details", [False, True])
def test_job_table_has_the_cells_rich_table_had(
    width: int, retries: bool, long_details: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both tables show durations up to "now": one clock for the four renders (a tick between them changed a cell).
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)
    jobs = _jobs(19, retries=retries, long_details=long_details)
    assert _render(_ours, jobs, width, styled=False) == _render(_reference_table, jobs, width, styled=False)
    assert _styled_cells(_render(_ours, jobs, width, styled=True)) == _styled_cells(
        _render(_reference_table, jobs, width, styled=True)
    )


def test_a_long_detail_ends_in_an_ellipsis_at_the_right_edge() -> None:
    (failed,) = [job for job in _jobs(8, retries=False, long_details=True) if job.state is JobState.FAILED]
    lines = _render(_ours, [failed], 100, styled=False).splitlines()
    assert len(lines) == 3 and all(len(line) == 100 for line in lines)
    assert lines[2].endswith("…")


def test_into_a_pipe_every_line_is_whole() -> None:
    """Not a terminal (a pipe, a log file): the Detail column is not cut to a width, whatever COLUMNS says."""
    (failed,) = [job for job in _jobs(8, retries=False, long_details=True) if job.state is JobState.FAILED]
    out = io.StringIO()
    session = SimpleNamespace(out=Console(file=out, width=80), profile_or_none=lambda name: None)
    job_output.print_table(session, [failed])  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "…" not in lines[2] and not lines[0].endswith(" "), lines
    # The failure's short form only: the whole message is `show`'s and `--json`'s (tests/unit/test_pipe_table_detail.py).
    assert lines[2].rstrip().endswith("  OOM") and "ran out of memory" not in lines[2], lines[2]
