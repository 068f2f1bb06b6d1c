"""Batches in the app (issue 14), against the emulators: copies with their own seeds, a sweep typed in a number
field with its job count under the editor and a confirm above `confirm_above`, the batch's progress in the status
bar, the toast and terminal notification at its end, `R` inside a `batch:` filter, and the seed column."""

from __future__ import annotations

from textual.screen import ModalScreen
from textual.widgets import Checkbox

from tests.tui.conftest import (
    Sim,
    choose_profile,
    jobs_by_submission,
    jobs_table,
    row_cells,
    running,
    screen_text,
    set_copies,
    submit_and_settle,
    toasts,
    wait_for,
)
from tui.core.jobs import JobState
from tui.core.workflow import seed_workflow
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.status_bar import StatusBar
from tui.widgets.workflow_editor import WorkflowEditor

SEED = seed_workflow().nodes["3"]["inputs"]["seed"]


def received(sim: Sim) -> list[dict]:  # type: ignore[type-arg]
    """The workflows the dedicated emulator ran, as it received them."""
    return [entry["prompt"][2] for entry in sim.server.comfyui.history.values()]


async def test_copies_get_their_own_seeds_unless_same_seed_is_on(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        jobs = await submit_and_settle(pilot, app, 3, JobState.SUCCEEDED)
        seeds = [wf["3"]["inputs"]["seed"] for wf in received(sim)]
        assert len(set(seeds)) == 3 and SEED in seeds  # copy 1 keeps the editor's seed
        assert {job.params["3.seed"] for job in jobs} == set(seeds)
        assert len({output.filename for job in jobs for output in job.outputs}) == 3
        (batch,) = {job.batch for job in jobs}
        assert batch and batch.startswith("workflow-")  # the editor's workflow has no file: its label and the time

        toggle = app.screen.query_one("#workflow-same-seed", Checkbox)
        assert toggle.display  # shown beside copies while copies > 1
        toggle.value = True
        await pilot.pause()
        again = await submit_and_settle(pilot, app, 3, JobState.SUCCEEDED)
        assert len({job.params["3.seed"] for job in again}) == 1
        assert any("from its cache" in toast for toast in toasts(app)), toasts(app)


async def test_a_sweep_in_a_field_shows_the_job_count_asks_above_the_limit_and_sends_every_combination(
    sim: Sim,
) -> None:
    sim.write_config('[ui]\nnotify = "bell"\n')
    text = sim.config_file.read_text(encoding="utf-8").replace("[defaults]\n", "[defaults]\nconfirm_above = 4\n")
    sim.config_file.write_text(text, encoding="utf-8")
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        form = app.screen.query_one(ParametersForm)
        form.field_widget("3.cfg").value = "5, 7"
        form.field_widget("3.steps").value = "2..4"
        await wait_for(pilot, lambda: "6 jobs → sim-dedicated" in screen_text(app), "the job count under the editor")

        await pilot.press("ctrl+s")  # 6 > confirm_above = 4: asked first
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the confirm dialog")
        assert "Submit 6 jobs → sim-dedicated" in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModalScreen), "the dialog to close")
        assert app.store.total() == 0 and received(sim) == []  # declined: nothing stored or sent

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the confirm dialog")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.store.total() == 6, "six jobs")
        (batch,) = {job.batch for job in jobs_by_submission(app)}
        await wait_for(pilot, lambda: f"{batch} " in screen_text(app), "the batch in the status bar")
        await wait_for(pilot, lambda: any("Batch finished" in toast and "6 done" in toast for toast in toasts(app)),
                       lambda: f"the batch toast ({toasts(app)})")
        # The toast covers the right end of the status bar for a while: read the bar itself.
        bar = app.screen.query_one(StatusBar)
        assert bar.batch == f"{batch} 6/6 ✔ 6 ✘ 0"
        combos = sorted((wf["3"]["inputs"]["cfg"], wf["3"]["inputs"]["steps"]) for wf in received(sim))
        assert combos == [(5.0, 2), (5.0, 3), (5.0, 4), (7.0, 2), (7.0, 3), (7.0, 4)]
        assert app.terminal_notifications == ["\a"]  # [ui] notify = "bell"


async def test_the_cap_refuses_a_sweep_before_anything_is_stored(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        await set_copies(pilot, app, 9999)
        form = app.screen.query_one(ParametersForm)
        form.field_widget("3.steps").value = "1..2"
        await wait_for(pilot, lambda: app.screen.query_one(WorkflowEditor).job_count == 19998, "the count")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("over the cap of 10,000" in toast for toast in toasts(app)),
                       lambda: f"the cap toast ({toasts(app)})")
        assert app.store.total() == 0 and not isinstance(app.screen, ModalScreen)


async def test_R_inside_a_batch_filter_retries_only_that_batch(sim: Sim) -> None:
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        first = await submit_and_settle(pilot, app, 2, JobState.FAILED)
        second = await submit_and_settle(pilot, app, 2, JobState.FAILED)
        sim.set_fail_rate(0.0)
        (batch,) = {job.batch for job in first}
        assert batch and {job.batch for job in second} != {batch}
        table = jobs_table(app)
        await pilot.press("slash", *f"batch:{batch}", "enter")
        await wait_for(pilot, lambda: table.row_count == 2, "the batch's two rows")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the confirm dialog of R")
        assert "Resubmit 2 failed jobs" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: all(app.store.children(job.id) for job in first), "a retry of each")
        assert all(app.store.children(job.id) == [] for job in second)
        children = [app.store.children(job.id)[0] for job in first]
        assert {child.batch for child in children} == {batch}  # retries stay in the batch (and in the view)
        await wait_for(pilot, lambda: table.row_count == 4, "the retries in the filtered view")


async def test_the_seed_is_a_column_when_the_table_has_room(sim: Sim) -> None:
    app = sim.app()
    async with running(app, size=(120, 36)) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        [job] = await submit_and_settle(pilot, app, 1, JobState.SUCCEEDED)
        assert "seed" not in row_cells(jobs_table(app), job.id)  # beside the sidebar the table is 74 cells wide
        await pilot.press("ctrl+b")  # the sidebar hidden: the table has the 120 columns
        await wait_for(pilot, lambda: row_cells(jobs_table(app), job.id).get("seed") == str(SEED), "the seed column")
