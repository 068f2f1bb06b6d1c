"""`?` reads at every size: each key beside what it does, and how to close it."""

from __future__ import annotations

import pytest

from tests.tui.conftest import Sim, running, screen_lines, wait_for
from screens.help import HelpScreen


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_help_shows_what_each_key_does_and_how_to_close(sim: Sim, size: tuple[int, int]) -> None:
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.pause()
        lines = screen_lines(app)
        text = "\n".join(lines)
        assert "esc closes" in text
        # The first keys on screen: each shown with its whole description on the same line.
        for keys, does in (("ctrl+s", "Submit"), ("q", "Quit")):
            matching = [line for line in lines if f" {keys} " in line and does in line]
            assert matching, f"{keys} → {does} not on one line at {size}:\n{text}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "the help screen to close")
