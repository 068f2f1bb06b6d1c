"""The daily loop's small promises (issue 13): a submitted job is selected, counts follow a cancel at once, a key
that cannot act says why, the palette offers only what the backend can, and the profiles pane moves and clicks
the way lists do."""

from __future__ import annotations

import pytest

from textual.command import CommandPalette
from textual.screen import ModalScreen
from textual.widgets import Footer

from tests.tui.conftest import (
    HOLD_STEP_SECONDS,
    SIZE,
    Sim,
    choose_profile,
    jobs_table,
    running,
    screen_text,
    submit_and_settle,
    submit_running_dedicated_job,
    tab_labels,
    toasts,
    wait_for,
    wait_for_row,
)
from tui.core.backends.base import SourceState, SourceStatus
from tui.core.jobs import JobState
from tui.widgets.profile_list import ProfileList
from tui.widgets.status_bar import StatusBar


async def test_ctrl_s_puts_the_cursor_on_the_new_job(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        [first] = await submit_and_settle(pilot, app, 1, JobState.SUCCEEDED)
        [second] = await submit_and_settle(pilot, app, 1, JobState.SUCCEEDED)
        table = jobs_table(app)
        await wait_for(pilot, lambda: table.cursor_job_id == second.id,
                       lambda: f"the cursor on the new job {second.id[:8]} (it is on {table.cursor_job_id})")
        # Another job is selected, then a submission in a view that hides it: the toast says where it went.
        table.move_cursor_to_job(first.id)
        await pilot.press("3")  # Failed: a new job (the emulator fails none here) is never in it
        await wait_for(pilot, lambda: table.row_count == 0, "the Failed filter")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("not in this view" in toast for toast in toasts(app)),
                       lambda: f"a toast saying the new job is hidden (toasts: {toasts(app)})")


async def test_counts_follow_a_cancel_in_the_same_update(sim: Sim) -> None:
    sim.set_step_seconds(HOLD_STEP_SECONDS)  # keep the job running until it is cancelled
    app = sim.app()
    async with running(app) as pilot:
        job = await submit_running_dedicated_job(pilot, app)
        await wait_for(pilot, lambda: "Active 1" in tab_labels(app), "Active 1")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ModalScreen), "the cancel confirm")
        await pilot.press("y")
        await wait_for_row(pilot, app, job.id, "cancelled")
        # The row that shows the cancel was drawn from the same update as the counts: no half-second-old numbers.
        assert tab_labels(app)[:2] == ["All 1", "Active 0"], tab_labels(app)
        assert app.screen.query_one(StatusBar).counts.get(JobState.CANCELLED) == 1


async def test_x_on_a_job_that_cannot_be_cancelled_says_why(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        [job] = await submit_and_settle(pilot, app, 1, JobState.SUCCEEDED)
        await wait_for(pilot, lambda: jobs_table(app).cursor_job_id == job.id, "the job under the cursor")
        await pilot.press("x")
        await wait_for(pilot, lambda: any("already ended" in toast for toast in toasts(app)),
                       lambda: f"a toast saying why x does nothing (toasts: {toasts(app)})")
        assert not isinstance(app.screen, ModalScreen)
        assert "Cancel" not in screen_text(app).splitlines()[-1]  # and the footer does not offer it


async def test_x_on_a_running_api_job_says_the_queue_cannot_interrupt_it(sim: Sim) -> None:
    sim.set_step_seconds(HOLD_STEP_SECONDS)
    app = sim.app()
    async with running(app) as pilot:
        await pilot.press("ctrl+s")
        job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        await wait_for_row(pilot, app, job.id, "running")
        await pilot.press("x")
        await wait_for(pilot, lambda: any("waiting in the queue" in toast for toast in toasts(app)),
                       lambda: f"a toast saying why (toasts: {toasts(app)})")
        assert app.store.get(job.id).state is JobState.RUNNING


async def palette_titles(pilot, app, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*query)
    await pilot.pause(0.3)
    palette = app.screen
    titles = [str(option.prompt) for option in palette.query_one("CommandList").options]
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette to close")
    return titles


async def test_the_palette_offers_cancel_only_where_the_backend_can(sim: Sim) -> None:
    sim.set_step_seconds(HOLD_STEP_SECONDS)
    app = sim.app()
    async with running(app) as pilot:
        await pilot.press("ctrl+s")  # sim-api: once an instance runs it, the EAS queue cannot take it back
        api_job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        await wait_for_row(pilot, app, api_job.id, "running")
        assert not any("Cancel job" in title for title in await palette_titles(pilot, app, "cancel"))

        await choose_profile(pilot, app, "sim-dedicated")
        await pilot.press("ctrl+s")
        dedicated = await wait_for(
            pilot, lambda: next((j for j in app.store.page() if j.profile == "sim-dedicated"), None), "the job"
        )
        await wait_for(pilot, lambda: jobs_table(app).cursor_job_id == dedicated.id, "the new job selected")
        assert any(f"Cancel job {dedicated.id[:8]}" in title for title in await palette_titles(pilot, app, "cancel"))


async def test_profiles_pane_moves_with_j_k_and_a_click_only_selects(sim: Sim) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        profiles = app.screen.query_one(ProfileList)
        profiles.focus()
        await pilot.pause()
        assert profiles.highlighted_profile == "sim-api" and profiles.active_profile == "sim-api"
        await pilot.press("j")
        assert profiles.highlighted_profile == "sim-dedicated"
        await pilot.press("k")
        assert profiles.highlighted_profile == "sim-api"

        # One click on the second profile: selected (highlighted), not made active.
        second_line = 1 + 3  # the border, then three lines per profile
        await pilot.click(ProfileList, offset=(4, second_line))
        await pilot.pause()
        assert profiles.highlighted_profile == "sim-dedicated" and profiles.active_profile == "sim-api"
        await pilot.click(ProfileList, offset=(4, second_line), times=2)  # a double click makes it active
        await wait_for(pilot, lambda: profiles.active_profile == "sim-dedicated", "a double click to activate")
        await pilot.press("k", "enter")
        await wait_for(pilot, lambda: profiles.active_profile == "sim-api", "enter to activate")


async def test_a_zoomed_pane_keeps_the_status_line_and_the_keys(sim: Sim) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        app.screen.query_one(ProfileList).focus()
        await pilot.press("z")
        await wait_for(pilot, lambda: app.screen.maximized is not None, "the zoom")
        lines = screen_text(app).splitlines()
        assert lines[-2].lstrip().startswith("profile "), lines[-2]  # the status bar
        assert "Commands" in lines[-1] and app.screen.query_one(Footer).region.height == 1  # the keys


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
async def test_the_profiles_queue_length_and_instances_are_not_cut(sim: Sim, size: tuple[int, int]) -> None:
    """In a narrow sidebar they go to a line of their own rather than end in "…"."""
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        profiles = app.screen.query_one(ProfileList)
        profiles.update_status(SourceStatus("sim-api", SourceState.CONNECTED, last_seen=None, queue_length=12,
                                            consumers=3))
        await pilot.pause()
        text = screen_text(app)
        assert "queue 12" in text and "3 consumers" in text, text
