"""Nothing a service sent reaches the TUI's screen raw; copying copies the real value (issue 11, items 1 and 7).

Jobs whose outputs, node ids, errors, warnings and profile carry escape sequences (an OSC 52 clipboard write, CSI
moves, 8-bit C1 controls, bidi overrides) and a lone surrogate are put in the store; the main screen (job table,
status bar, profile list, detail pane, toasts) and the full-screen detail are drawn, `y`, `Y` and `c` copy, and no
drawn line holds a control character. What goes to the terminal for a copy is one OSC 52 with base64 only.
"""

from __future__ import annotations

import base64
import re
import time

from screens.job_detail import JobDetailScreen
from tests.tui.conftest import BUCKET, Sim, jobs_table, running, screen_lines, wait_for
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, JobUpdate, Output, new_job_id
from tui.core.presentation import output_location
from tui.core.store import JobStore

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
OSC52_NAME = "\x1b]52;c;ZWNobyBQV05FRAo=\x1b\\\x1b[2K\rinnocent.png"
SURROGATE_NAME = "bad\ud800name.png"
COPY = re.compile(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07")


def put_job(store: JobStore, **update: object) -> Job:
    job_id = new_job_id()
    start = time.time() - 30
    store.add(
        Job(id=job_id, profile="sim-dedicated", edition=Edition.DEDICATED, workflow={}, prompt_id=job_id[::-1],
            timestamps={"submitting": start})
    )
    store.apply(JobUpdate(job_id, state=JobState.QUEUED, at=start + 1))
    store.apply(JobUpdate(job_id, state=JobState.RUNNING, at=start + 2))
    store.apply(JobUpdate(job_id, at=start + 9, **update))  # type: ignore[arg-type]
    return store.get(job_id)


def assert_screen_safe(app: object, where: str) -> None:
    for number, line in enumerate(screen_lines(app)):  # type: ignore[arg-type]
        found = UNSAFE.search(line)
        assert found is None, f"{where}: {found.group()!r} drawn on line {number}: {line!r}"


async def test_escape_laden_jobs_are_drawn_escaped_and_copied_exactly(sim: Sim) -> None:
    with JobStore(sim.locations.store_file) as store:
        failed = put_job(
            store,
            state=JobState.FAILED,
            failure=Failure(FailureCategory.EXECUTION, "boom \x1b]52;c;cm0K\x07\x1b[2J\x9b1m", node_id="9\x1b[A",
                            class_type="Evil\u202eNode", traceback=("line \x1b[31m1\n",)),
            warning="careful \x1b[5m",
        )
        evil = put_job(
            store,
            state=JobState.SUCCEEDED,
            outputs=(
                Output("9\x1b[2J", "output", "sub\x1b[1A", OSC52_NAME),
                Output("9", "output", "", SURROGATE_NAME),
            ),
        )
    app = sim.app(start_engine=False)
    written: list[str] = []
    async with running(app) as pilot:
        driver = app._driver
        assert driver is not None
        original_write = driver.write
        driver.write = lambda data: (written.append(data), original_write(data))[1]  # type: ignore[method-assign]
        table = jobs_table(app)
        await wait_for(pilot, lambda: len(app.store.page(limit=10)) == 2, "the two jobs")
        await pilot.pause()
        assert_screen_safe(app, "main screen")
        for job in (failed, evil):
            table.focus()
            await wait_for(pilot, lambda: table.move_cursor_to_job(job.id), "the job selected")
            await pilot.pause()
            assert_screen_safe(app, f"detail pane of {job.id[:8]}")

        # The full-screen detail of the evil job; copy its paths and ids.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the detail screen")
        await pilot.pause()
        assert_screen_safe(app, "detail screen")
        await pilot.press("Y")
        await wait_for(pilot, lambda: app.clipboard.count("\n") == 1, "both paths copied")
        lines = app.clipboard.split("\n")
        profile = app.config.profiles["sim-dedicated"]
        assert output_location(evil.outputs[0], profile).path in lines, "the real value is copied"
        assert "\x1b]52;c;ZWNobyBQV05FRAo=" in app.clipboard
        assert f"{BUCKET}/output/bad\ufffdname.png" in lines, "what cannot be encoded is replaced, not raised"
        await pilot.press("c")
        await pilot.pause()
        assert_screen_safe(app, "after copying (toasts)")

    # Whatever reached the terminal for the copies is OSC 52 with a base64 payload, nothing else.
    copies = [data for data in written if "\x1b]52" in data]
    assert copies, "nothing was copied"
    for data in copies:
        assert COPY.fullmatch(data), repr(data)
        base64.b64decode(COPY.fullmatch(data).group(1), validate=True)  # type: ignore[union-attr]
