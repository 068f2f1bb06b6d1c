"""End-to-end flows of the real app (Pilot) against the real emulators over loopback.

Each test drives `ComfyqApp` with keys, the way a user does, and checks both the job store and what the screen
shows. Waits are on conditions with a deadline (tests/tui/conftest.py), never on fixed sleeps.
"""

from __future__ import annotations

import io
import time

import pytest

from rich.console import Console
from textual.command import CommandPalette
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from screens.help import HelpScreen
from screens.job_detail import JobDetailScreen
from tests.tui.conftest import (
    BUCKET,
    HOLD_STEP_SECONDS,
    STEP_SECONDS,
    Sim,
    choose_profile,
    jobs_table,
    row_cells,
    row_line,
    running,
    screen_lines,
    screen_text,
    submit_and_settle,
    submit_running_dedicated_job,
    tab_labels,
    table_lines,
    toasts,
    wait_for,
    wait_for_row,
)
from tui.app import ComfyqApp
from tui.core.jobs import Job, JobState
from tui.core.store import JobStore
from tui.widgets.job_detail import JobDetail
from tui.widgets.profile_list import ProfileList
from tui.widgets.workflow_editor import JSON_TAB, JsonTextArea, WorkflowEditor


def expected_oss_path(job: Job) -> str:
    output = job.outputs[0]
    parts = [BUCKET, "output", *([output.subfolder] if output.subfolder else []), output.filename]
    return "/".join(parts)


def visible_job_rows(app: ComfyqApp) -> list[str]:
    return [line for line in table_lines(jobs_table(app))[1:] if line.strip()]


# ---------------------------------------------------------------------------------------------- 1. submit


async def test_submit_api_edition_runs_to_success_and_the_detail_copies_the_oss_path(sim: Sim) -> None:
    await _submit_runs_to_success(sim, "sim-api")


async def test_submit_dedicated_edition_runs_to_success_and_the_detail_copies_the_oss_path(sim: Sim) -> None:
    await _submit_runs_to_success(sim, "sim-dedicated")


async def _submit_runs_to_success(sim: Sim, profile: str) -> None:
    sim.set_step_seconds(HOLD_STEP_SECONDS)  # hold the job in `running` until the screen has shown it
    app = sim.app()
    async with running(app) as pilot:
        table = jobs_table(app)
        if app.screen.query_one(ProfileList).active_profile != profile:
            await choose_profile(pilot, app, profile)
        assert f"profile {profile}" in screen_text(app)  # the status bar names the target

        await pilot.press("ctrl+s")
        job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        assert job.profile == profile
        await wait_for_row(pilot, app, job.id, "running")
        assert app.store.get(job.id).state is JobState.RUNNING

        sim.set_step_seconds(STEP_SECONDS)  # let it finish
        await wait_for_row(pilot, app, job.id, "succeeded")
        cells = row_cells(table, job.id)
        assert cells["state"] == "✔ succeeded" and cells["id"] == job.id[:8], cells
        # One output file: in the out column, or — where the table is too narrow for it — in the detail column.
        assert cells["profile"] == profile and (cells.get("out") or cells["detail"]) in ("1", "1 output"), cells

        done = app.store.get(job.id)
        assert done.state is JobState.SUCCEEDED and len(done.outputs) == 1
        stamps = done.timestamps
        assert {"submitting", "running", "succeeded"} <= set(stamps), stamps
        order = [name for name in ("submitting", "queued", "running", "succeeded") if name in stamps]
        assert [stamps[name] for name in order] == sorted(stamps[name] for name in order)
        if profile == "sim-api":
            assert "queued" in stamps  # the queue put's answer comes before any search says it runs

        # The detail pane follows the cursor's job.
        pane = app.screen.query_one("#detail", JobDetail)
        await wait_for(pilot, lambda: pane.job is not None and pane.job.state is JobState.SUCCEEDED, "the pane")
        path = expected_oss_path(done)
        assert pane.all_oss_paths() == [path]

        # enter: full screen; it shows the state, the output and its composed OSS path; y copies it.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the detail screen")
        full = app.screen.query_one(JobDetail)
        await wait_for(pilot, lambda: full.job is not None and full.job.id == job.id, "the detail of the job")
        await pilot.pause()
        text = screen_text(app)
        assert f"Job {job.id[:8]}" in text and "succeeded" in text
        assert "Outputs (1, 1 with an OSS path)" in text
        assert f"{BUCKET}/output/ComfyUI_" in text  # the path as the terminal shows it (long names are cut)
        cells = " ".join(str(cell) for cell in full.query_one("#detail-outputs", DataTable).get_row_at(0))
        assert done.outputs[0].filename in cells and path in cells

        await pilot.press("y")
        await wait_for(pilot, lambda: app.clipboard == path, "the OSS path on the clipboard")
        await wait_for(pilot, lambda: "Copied OSS path" in screen_text(app), "the copy toast")

        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "back to the main screen")


# --------------------------------------------------------------------------------------- 2. fail, resubmit


async def test_a_failed_job_resubmitted_with_r_gets_a_child_that_succeeds(sim: Sim) -> None:
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        [failed] = await submit_and_settle(pilot, app, 1, JobState.FAILED)
        assert failed.failure is not None and "out of memory" in failed.failure.message.lower()
        await wait_for_row(pilot, app, failed.id, "failed")
        cells = row_cells(jobs_table(app), failed.id)
        assert cells["state"] == "✘ failed" and cells["detail"].startswith("OOM · KSampler"), cells  # the short form
        pane = app.screen.query_one("#detail", JobDetail)
        await wait_for(pilot, lambda: pane.job is not None and pane.job.id == failed.id, "the failed job's detail")
        assert "out of memory" in screen_text(app).lower()

        sim.set_fail_rate(0.0)
        assert jobs_table(app).cursor_job_id == failed.id
        await pilot.press("r")
        children = await wait_for(pilot, lambda: app.store.children(failed.id), "the resubmitted child")
        [child] = children
        assert child.parent_id == failed.id and child.attempt == 2
        assert child.workflow == failed.workflow and child.profile == failed.profile

        await wait_for(pilot, lambda: app.store.get(child.id).state.is_terminal, "the child to finish")
        assert app.store.get(child.id).state is JobState.SUCCEEDED
        await wait_for_row(pilot, app, child.id, "succeeded")
        assert "failed" in (row_line(jobs_table(app), failed.id) or "")  # the parent keeps its row and state
        assert jobs_table(app).cursor_job_id == failed.id  # the cursor stayed on its job when the child came in


# ------------------------------------------------------------------------------------------- 3. filters


async def test_text_filter_and_quick_filters_with_live_counts(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        sim.set_fail_rate(1.0)
        failed = await submit_and_settle(pilot, app, 2, JobState.FAILED)
        sim.set_fail_rate(0.0)
        [succeeded] = await submit_and_settle(pilot, app, 1, JobState.SUCCEEDED)

        await wait_for(
            pilot,
            lambda: tab_labels(app) == ["All 3", "Active 0", "Failed 2", "Done 3"],
            f"the counts in the quick filter tabs (now {tab_labels(app)})",
        )
        app.clear_notifications()  # the submissions' toasts stack from the bottom up over the tabs
        await pilot.pause()
        assert "All 3" in screen_text(app) and "Failed 2" in screen_text(app)

        table = jobs_table(app)
        await pilot.press("3")
        await wait_for(pilot, lambda: table.row_count == 2, "the failed quick filter")
        assert set(table.row_ids) == {job.id for job in failed}
        assert all("failed" in line for line in visible_job_rows(app)) and len(visible_job_rows(app)) == 2
        await pilot.press("2")
        await wait_for(pilot, lambda: table.row_count == 0, "the active quick filter")
        assert visible_job_rows(app) == []
        await pilot.press("4")
        await wait_for(pilot, lambda: table.row_count == 3, "the done quick filter")
        await pilot.press("1")
        await wait_for(pilot, lambda: table.row_count == 3, "all jobs")
        # A click on a filter's label picks it too (toasts are dismissed first, as a user would before clicking
        # what they cover: the submissions' and batches' toasts stack from the bottom up to the tabs).
        app.clear_notifications()
        await pilot.pause()
        await pilot.click("#filter-failed")
        await wait_for(pilot, lambda: table.row_count == 2, "the failed quick filter, clicked")
        await pilot.press("1")
        await wait_for(pilot, lambda: table.row_count == 3, "all jobs again")

        # `/` opens the filter line: state:failed, then free text.
        await pilot.press("slash")
        filter_input = app.screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: filter_input.has_focus, "the filter input")
        await pilot.press(*"state:failed")
        await wait_for(pilot, lambda: set(table.row_ids) == {job.id for job in failed}, "state:failed")
        assert len(visible_job_rows(app)) == 2

        await pilot.press(*" memory")  # free text searches failure messages too
        await wait_for(pilot, lambda: table.row_count == 2, "state:failed memory")

        filter_input.value = ""
        await pilot.press(*"profile:sim-dedicated")
        await wait_for(pilot, lambda: table.row_count == 0, "profile:sim-dedicated (every job went to sim-api)")
        filter_input.value = ""
        await pilot.press(*"profile:sim-api")
        await wait_for(pilot, lambda: table.row_count == 3, "profile:sim-api")

        filter_input.value = ""
        await pilot.press(*succeeded.id[:10])  # free text: an id prefix
        await wait_for(pilot, lambda: list(table.row_ids) == [succeeded.id], "the id filter")
        [line] = visible_job_rows(app)
        assert succeeded.id[:8] in line and "succeeded" in line

        await pilot.press("escape")  # clears the text first
        await wait_for(pilot, lambda: table.row_count == 3 and filter_input.value == "", "the cleared filter")


# --------------------------------------------------------------------------------------- 4. marks, bulk


async def test_marks_and_bulk_resubmit_then_resubmit_all_failed_after_confirm(sim: Sim) -> None:
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        failed = await submit_and_settle(pilot, app, 3, JobState.FAILED)
        sim.set_fail_rate(0.0)
        table = jobs_table(app)
        await wait_for(pilot, lambda: table.row_count == 3, "three rows")
        table.focus()
        await pilot.press("home", "space", "space")  # mark the first two rows (space moves down)
        marked = set(table.row_ids[:2])
        assert table.marked == marked
        await wait_for(pilot, lambda: "2 marked" in screen_text(app), "the marks in the status bar")
        assert sum(line.startswith("●") for line in visible_job_rows(app)) == 2

        await pilot.press("r")
        await wait_for(
            pilot, lambda: all(app.store.children(job_id) for job_id in marked), "a child for every marked job"
        )
        children = [child for job_id in marked for child in app.store.children(job_id)]
        assert len(children) == 2 and {child.parent_id for child in children} == marked
        assert all(child.attempt == 2 for child in children)
        unmarked = ({job.id for job in failed} - marked).pop()
        assert app.store.children(unmarked) == []
        await wait_for(pilot, lambda: not table.marked, "the marks to clear after the resubmit")
        await wait_for(
            pilot,
            lambda: all(app.store.get(child.id).state is JobState.SUCCEEDED for child in children),
            "the children to succeed",
        )

        # R works on the view: a view without failed jobs has nothing to resubmit.
        await pilot.press("slash", *"profile:sim-dedicated", "enter")
        await wait_for(pilot, lambda: table.row_count == 0, "the empty sim-dedicated view")
        await pilot.press("R")
        await wait_for(pilot, lambda: "no failed jobs in this view" in screen_text(app), "the nothing-to-do toast")
        assert not isinstance(app.screen, ModalScreen)
        await pilot.press("slash", "escape")  # clear the filter again
        await wait_for(pilot, lambda: table.row_count == 5, "every job back in view")

        # R: every failed job in the view that has no retry yet (only the unmarked one), after a confirm.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the confirm dialog of R")
        assert "Resubmit 1 failed job " in screen_text(app)  # the dialog says how many
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModalScreen), "the dialog to close")
        assert app.store.children(unmarked) == []  # cancelled: nothing sent

        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the confirm dialog of R")
        await pilot.press("y")
        [child] = await wait_for(pilot, lambda: app.store.children(unmarked), "the R child")
        assert child.attempt == 2
        await wait_for(pilot, lambda: app.store.get(child.id).state is JobState.SUCCEEDED, "the R child to succeed")
        assert app.store.total() == 6


# ------------------------------------------------------------------------------------------ 5. bad JSON


async def test_invalid_json_blocks_submit_and_says_where(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        editor = app.screen.query_one(WorkflowEditor)
        editor.show_view(JSON_TAB)
        area = app.screen.query_one("#workflow-text", JsonTextArea)
        area.focus()
        await pilot.pause()
        area.move_cursor((2, 0))
        await pilot.press(*"oops")
        error = await wait_for(pilot, lambda: editor.error, "the JSON error")
        assert error.line == 3

        jobs_table(app).focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Cannot submit" in screen_text(app), "the refusal toast")
        text = screen_text(app)
        assert f"line {error.line}:{error.column}" in text  # the status line and the toast give the position
        assert area.has_focus and area.cursor_location[0] == error.line - 1  # the cursor is put on the error
        assert app.store.total() == 0  # nothing was sent


# ------------------------------------------------------------------------------------ 6. help, palette


def _help_text(app: ComfyqApp) -> str:
    static = app.screen.query(Static).first()
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(static.content)
    return console.export_text()


async def test_help_lists_every_binding_with_its_id(sim: Sim) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        owners = [app, app.screen, *app.screen.walk_children()]
        ids = {
            binding.id: binding
            for owner in owners
            for cls in type(owner).__mro__  # the main screen's job keys are in its base class
            for binding in cls.__dict__.get("BINDINGS", [])
            if getattr(binding, "id", None)
        }
        assert {"main.submit", "main.resubmit", "jobs.mark", "app.help"} <= set(ids)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        text = _help_text(app)
        missing = sorted(binding_id for binding_id in ids if binding_id not in text)
        assert not missing, f"bindings missing from the help screen: {missing}"
        for binding_id in ("main.submit", "main.resubmit_failed", "jobs.mark", "detail.copy_oss"):
            assert binding_id in text
        assert "ctrl+s" in text
        assert "[keymap]" in text.splitlines()[1] + text.splitlines()[2]  # the id column says where ids go
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "the help screen to close")


async def test_command_palette_finds_resubmit_for_the_cursor_job(sim: Sim) -> None:
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        [failed] = await submit_and_settle(pilot, app, 1, JobState.FAILED)
        sim.set_fail_rate(0.0)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        title = f"Resubmit job {failed.id[:8]}"
        # The whole title: "Resubmit job" alone also matches "Resubmit all failed jobs…", and under load the palette
        # may still be highlighting an earlier hit when enter arrives.
        await pilot.press(*title)
        await wait_for(pilot, lambda: title in screen_text(app), "the resubmit command in the palette")
        await pilot.press("enter")
        [child] = await wait_for(pilot, lambda: app.store.children(failed.id), "the resubmit from the palette")
        assert child.attempt == 2


# ------------------------------------------------------------------------------------ 7. keymap, theme


async def test_keymap_override_from_the_config_rebinds_submit(sim: Sim) -> None:
    sim.write_config('\n[keymap]\nmain.submit = "f5"\n')
    app = sim.app()
    async with running(app) as pilot:
        assert "f5" in screen_text(app).split("\n")[-1].lower()  # the footer shows the new key
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.store.total() >= 1, "the f5 submit")
        assert app.store.total() == 1  # ctrl+s no longer submits: only f5 did
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        help_lines = [line for line in _help_text(app).splitlines() if "main.submit" in line]
        assert help_lines and "f5" in help_lines[0]


async def test_theme_chosen_in_the_palette_is_remembered_in_the_config(sim: Sim) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        assert app.theme != "nord"
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        await pilot.press(*"theme")
        await wait_for(pilot, lambda: "Theme" in screen_text(app), "the theme command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the theme picker")
        await pilot.press(*"nord")
        await wait_for(pilot, lambda: "nord" in screen_text(app), "nord in the list")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.theme == "nord", "the nord theme")
    assert "# comfyq TUI tests" in sim.config_file.read_text()  # the user's comment survived the write-back
    assert sim.config().theme == "nord"
    again = sim.app(start_engine=False)
    async with running(again):
        assert again.theme == "nord"


# ---------------------------------------------------------------------------------------------- quitting


async def test_q_quits_with_code_0_and_the_jobs_stay_in_the_store(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        [job] = await submit_and_settle(pilot, app, 1, JobState.SUCCEEDED)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_value is not None, "the app to quit")
    assert app.return_value == 0
    with JobStore(sim.locations.store_file) as store:
        assert store.get(job.id).state is JobState.SUCCEEDED


async def test_after_shutdown_no_screen_timer_touches_the_closed_store(sim: Sim) -> None:
    """`q` runs ComfyqApp.shutdown() (engine stopped, store closed) and then exits; the screens' once-a-second
    timers must not reach the closed store in between (sqlite3.ProgrammingError, a traceback on quit)."""
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        table = jobs_table(app)
        ticks: list[float] = []
        tick = table.tick
        table.tick = lambda: (ticks.append(time.monotonic()), tick())[1]  # type: ignore[method-assign]
        await wait_for(pilot, lambda: ticks, "the main screen's timer")  # it runs
        await app.shutdown()
        # A negative check needs a window: one full timer period. A tick that reaches the store raises inside the
        # app, and run_test re-raises it when this block ends.
        await pilot.pause(1.2)


# ---------------------------------------------------------------------------------------------- feedback


async def test_a_failure_and_a_finished_batch_are_announced_in_toasts(sim: Sim) -> None:
    """Feedback (issue 5 §4): a toast when a job fails, and one when a batch finishes ("3 done · 1 failed")."""
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        [failed] = await submit_and_settle(pilot, app, 1, JobState.FAILED)
        await wait_for(
            pilot,
            lambda: any(failed.id[:8] in toast and "OOM · KSampler" in toast and "out of memory" in toast.lower()
                        for toast in toasts(app)),
            lambda: f"a toast about the failure of {failed.id[:8]} (toasts so far: {toasts(app)})",
            timeout=10,
        )
        # A one-job batch gets no "Batch finished" toast on top: its row and the failure's toast say how it ended.
        await pilot.pause(0.6)
        assert not any("Batch finished" in toast for toast in toasts(app)), toasts(app)
        sim.set_fail_rate(0.0)
        await submit_and_settle(pilot, app, 3, JobState.SUCCEEDED)
        await wait_for(
            pilot,
            lambda: any("3 done" in toast for toast in toasts(app)),
            lambda: f"the batch toast (toasts so far: {toasts(app)})",
            timeout=10,
        )


# ------------------------------------------------------------------------------------------------ cancel


def footer_line(app: ComfyqApp) -> str:
    return screen_lines(app)[-1]


async def test_cancel_asks_first_and_interrupts_a_running_dedicated_job(sim: Sim) -> None:
    """x (and ctrl+d) cancels where the backend can, after a confirm (issue 5 §3)."""
    sim.set_step_seconds(HOLD_STEP_SECONDS)  # keep the job running until it is cancelled
    app = sim.app()
    async with running(app) as pilot:
        job = await submit_running_dedicated_job(pilot, app)
        assert "Cancel" in footer_line(app)  # a dedicated job can be cancelled: the key is offered

        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the cancel confirm dialog", timeout=10)
        assert job.id[:8] in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModalScreen), "the dialog to close")
        assert app.store.get(job.id).state is JobState.RUNNING  # "no" leaves it alone

        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the cancel confirm dialog (ctrl+d)", timeout=10)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.store.get(job.id).state.is_terminal, "the job to end")
        assert app.store.get(job.id).state is JobState.CANCELLED
        await wait_for_row(pilot, app, job.id, "cancelled")


async def test_cancel_is_not_offered_for_the_api_edition(sim: Sim) -> None:
    """The EAS queue cannot interrupt a task an instance took: the cancel key is hidden for a running API-edition job
    (issue 5 §3; a waiting one can be withdrawn, issue 10)."""
    sim.set_step_seconds(HOLD_STEP_SECONDS)
    app = sim.app()
    async with running(app) as pilot:
        assert app.screen.query_one(ProfileList).active_profile == "sim-api"
        await pilot.press("ctrl+s")
        job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        await wait_for_row(pilot, app, job.id, "running")
        await wait_for(pilot, lambda: "Cancel" not in footer_line(app), lambda: f"no Cancel in {footer_line(app)!r}", timeout=10)
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ModalScreen)
        assert app.store.get(job.id).state is JobState.RUNNING
        sim.set_step_seconds(STEP_SECONDS)


# ------------------------------------------------------------------------------- more of the daily flow


def ksampler_seed(workflow: dict) -> int:  # type: ignore[type-arg]
    return int(next(node["inputs"]["seed"] for node in workflow.values() if node.get("class_type") == "KSampler"))


async def test_resubmit_with_a_new_seed_then_load_that_jobs_workflow_into_the_editor(sim: Sim) -> None:
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        [failed] = await submit_and_settle(pilot, app, 1, JobState.FAILED)
        sim.set_fail_rate(0.0)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        await pilot.press(*"new seed")
        await wait_for(pilot, lambda: "with a new seed" in screen_text(app), "the new-seed resubmit command")
        await pilot.press("enter")
        [child] = await wait_for(pilot, lambda: app.store.children(failed.id), "the new-seed child")
        assert child.workflow is not None and failed.workflow is not None
        assert ksampler_seed(child.workflow) != ksampler_seed(failed.workflow)
        assert {k: v for k, v in child.workflow.items() if k != "3"} == {
            k: v for k, v in failed.workflow.items() if k != "3"
        }  # only the sampler's seed changed

        # w on the child's row loads exactly its workflow into the editor.
        table = jobs_table(app)
        await wait_for(pilot, lambda: table.move_cursor_to_job(child.id), "the child's row")
        await pilot.press("w")
        editor = app.screen.query_one(WorkflowEditor)
        await wait_for(
            pilot,
            lambda: editor.workflow is not None and editor.workflow.to_dict() == child.workflow,
            "the child's workflow in the editor",
        )
        assert f"job {child.id[:8]}" in screen_text(app)  # the editor's title names where it came from


async def test_submit_to_every_marked_profile(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        profiles = app.screen.query_one(ProfileList)
        profiles.focus()
        await pilot.press("home", "space", "down", "space")
        assert profiles.marked_profiles() == ["sim-api", "sim-dedicated"]
        jobs_table(app).focus()
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: len(app.store.page()) == 2 and all(job.state.is_terminal for job in app.store.page()),
            "one job per marked profile",
        )
        jobs = app.store.page()
        assert sorted(job.profile for job in jobs) == ["sim-api", "sim-dedicated"]
        assert all(job.state is JobState.SUCCEEDED for job in jobs)


@pytest.mark.parametrize(
    ("focus", "pane"),
    [("#jobs", "jobs-pane"), ("#editor Tabs", "editor"), ("#profiles", "profiles"), ("#detail", "detail")],
)
async def test_zoom_the_focused_pane_and_back(sim: Sim, focus: str, pane: str) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        app.screen.query_one(focus).focus()
        await pilot.pause()
        await pilot.press("z")
        await wait_for(pilot, lambda: app.screen.maximized is not None, f"z to zoom the {pane} pane", timeout=10)
        zoomed = app.screen.maximized
        assert zoomed is not None and zoomed.id == pane
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.maximized is None, "the panes back", timeout=10)
        assert "Profiles" in screen_text(app)


async def test_usable_at_80x24_submit_and_see_it_succeed(sim: Sim) -> None:
    app = sim.app()
    async with running(app, size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        line = await wait_for_row(pilot, app, job.id, "succeeded")
        assert job.id[:8] in line
        # The footer recomposes when bindings change (Cancel goes away as the job ends): wait for it to settle.
        await wait_for(
            pilot,
            lambda: "Submit" in screen_lines(app)[-1] and "Resubmit" in screen_lines(app)[-1],
            lambda: f"the main keys in the footer: {screen_lines(app)[-1]!r}",
            timeout=10,
        )
