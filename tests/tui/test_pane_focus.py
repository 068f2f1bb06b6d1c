"""Every pane reachable from the keyboard: Tab walks through each field of the parameters form on its way (a dozen
presses at 80×24), so the command palette goes to a pane by name — "Go to Profiles" — as a keyboard user of k9s
or posting expects. The sidebar comes back first if `ctrl+b` hid it."""

from __future__ import annotations

from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widget import Widget

from tests.tui.conftest import Sim, running, screen_text, wait_for
from tui.app import ComfyqApp
from tui.widgets.job_detail import JobDetail
from tui.widgets.job_table import JobTable
from tui.widgets.profile_list import ProfileList
from tui.widgets.workflow_editor import WorkflowEditor


async def go_to(pilot: Pilot[Any], app: ComfyqApp, title: str) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
    await pilot.press(*title)
    await wait_for(pilot, lambda: title in screen_text(app), f"{title!r} in the palette")
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette closed")


def inside(widget: Widget | None, pane: type[Widget]) -> bool:
    return widget is not None and (isinstance(widget, pane) or any(isinstance(a, pane) for a in widget.ancestors))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
async def test_the_palette_goes_to_each_pane_by_name(sim: Sim, size: tuple[int, int]) -> None:
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        for title, pane in (("Go to Profiles", ProfileList), ("Go to Workflow", WorkflowEditor),
                            ("Go to Detail", JobDetail), ("Go to Jobs", JobTable)):
            await go_to(pilot, app, title)
            await wait_for(pilot, lambda: inside(app.focused, pane),
                           lambda: f"{title}: the focus is on {app.focused!r}")
        # With the sidebar hidden (ctrl+b), going to a pane in it shows it again.
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: not app.screen.query_one("#sidebar").display, "the sidebar hidden")
        await go_to(pilot, app, "Go to Profiles")
        await wait_for(pilot, lambda: inside(app.focused, ProfileList), lambda: f"focus on {app.focused!r}")
        assert app.screen.query_one("#sidebar").display
        assert "n New profile" in screen_text(app).splitlines()[-1]  # the footer shows the pane's keys
