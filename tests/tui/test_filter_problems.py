"""A filter that cannot match says why, instead of showing an empty table."""

from __future__ import annotations

from tests.tui.conftest import Sim, running, screen_text, wait_for
from tui.widgets.job_table import JobTable


async def test_unknown_state_and_profile_are_named_with_the_valid_ones(sim: Sim) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        app.screen.query_one(JobTable).focus()
        await pilot.press("slash")
        await pilot.press(*"state:bogus")
        await wait_for(pilot, lambda: "not a state" in screen_text(app), "the state problem")
        assert "succeeded" in screen_text(app)  # the valid names are listed
        await pilot.press(*" profile:nope")
        await wait_for(pilot, lambda: "no such profile" in screen_text(app), "the profile problem")
        assert "sim-api" in screen_text(app)
        # Fixed: the note goes away.
        for _ in range(len("state:bogus profile:nope")):
            await pilot.press("backspace")
        await pilot.press(*"profile:sim")
        await wait_for(pilot, lambda: "no such profile" not in screen_text(app), "the note to go")
        assert "not a state" not in screen_text(app)
