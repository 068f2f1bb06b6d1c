"""`q` while jobs are still being sent asks first, and says what happens to them."""

from __future__ import annotations

from screens.confirm import ConfirmScreen
from tests.tui.conftest import Sim, choose_profile, running, screen_text, wait_for
from tui.core.jobs import JobState
from tui.widgets.profile_list import ProfileList


async def test_q_with_a_submission_in_flight_asks_first(sim: Sim) -> None:
    sim.server.comfyui.stall_prompt_response_seconds = 3.0  # the server takes the prompt and holds its answer
    app = sim.app()
    async with running(app) as pilot:
        if app.screen.query_one(ProfileList).active_profile != "sim-dedicated":
            await choose_profile(pilot, app, "sim-dedicated")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.store.page(), "the job being sent")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "a question before quitting")
        assert "next start" in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the question to close")
        assert app.return_value is None  # still running
        await wait_for(pilot, lambda: app.engine.sending == 0, "the service's answer to arrive")
        assert app.store.page()[0].state is not JobState.SUBMITTING
        await pilot.press("q")  # nothing in flight: quits at once
        await wait_for(pilot, lambda: app.return_value is not None, "the app to quit")
    assert app.return_value == 0
