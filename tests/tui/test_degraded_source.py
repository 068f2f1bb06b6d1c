"""A degraded source in the TUI (issue 11, item 3): a service whose answers come too slowly shows as degraded,
with the reason, in the status bar and in the Profiles pane — and as connected again once it answers in time.

The app runs its real engine against the real ComfyUI emulator behind a slow link (a proxy that holds every
answer `delay` seconds); the profile's `request_timeout` is 1 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Group
from textual.widgets.option_list import Option

from tests.faults.slow_link import SlowLink
from tests.tui.conftest import app_on, running, seeded_dirs, wait_for
from tui.app import ComfyqApp
from tui.core.backends.base import SourceState
from tui.sim.server import SimServer
from tui.widgets.profile_list import ProfileList
from tui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.timeout(120)

REASON = "did not answer GET /queue in time"


@pytest.fixture
async def link(tmp_path: Path) -> AsyncIterator[SlowLink]:
    sim = SimServer(step_seconds=0.01, instances=1, output_dir=tmp_path / "out", seed=1)
    await sim.start()
    slow = await SlowLink.start(sim.dedicated_url)
    try:
        yield slow
    finally:
        await slow.close()
        await sim.stop()


def _app(tmp_path: Path, link: SlowLink) -> ComfyqApp:
    config = (
        "[defaults]\npoll_interval = 0.1\nidle_poll_interval = 0.2\nrequest_timeout = 1\n\n"
        f'[profiles.slow]\nedition = "dedicated"\nurl = "{link.url}/"\n'
    )
    return app_on(seeded_dirs(tmp_path, config), start_engine=True)


def _profile_text(profiles: ProfileList, name: str) -> str:
    """The Profiles pane's entry for `name`, as its lines read."""
    option = profiles.get_option(name)
    assert isinstance(option, Option)
    prompt = option.prompt
    assert isinstance(prompt, Group)
    return "\n".join(str(line) for line in prompt.renderables)


async def test_a_slow_source_shows_degraded_with_its_reason_then_connected_again(
    tmp_path: Path, link: SlowLink
) -> None:
    app = _app(tmp_path, link)
    async with running(app) as pilot:
        bar = app.screen.query_one(StatusBar)
        profiles = app.screen.query_one(ProfileList)

        def state() -> SourceState | None:
            status = app.engine.source_statuses.get("slow") if app.engine else None
            return status.state if status else None

        await wait_for(pilot, lambda: state() is SourceState.CONNECTED, lambda: f"connected first (now {state()})")
        assert "slow ✔ connected" in str(bar.render())

        link.delay = 2.0  # every answer now comes after the 1 s deadline
        await wait_for(pilot, lambda: "slow ◐ degraded" in str(bar.render()),
                       lambda: f"the status bar to say degraded: {bar.render()}")
        await wait_for(pilot, lambda: REASON in str(bar.render()), lambda: f"the reason in the bar: {bar.render()}")
        await wait_for(pilot, lambda: "degraded" in _profile_text(profiles, "slow"),
                       lambda: f"the Profiles pane to say degraded: {_profile_text(profiles, 'slow')}")
        pane = _profile_text(profiles, "slow")
        assert REASON in pane, pane

        link.delay = 0.0
        await wait_for(pilot, lambda: "slow ✔ connected" in str(bar.render()),
                       lambda: f"the status bar to say connected again: {bar.render()}", timeout=30)
        await wait_for(pilot, lambda: "connected" in _profile_text(profiles, "slow"),
                       lambda: f"the pane to say connected: {_profile_text(profiles, 'slow')}")
        await pilot.pause()
        bar_text, pane = str(bar.render()), _profile_text(profiles, "slow")
        assert "degraded" not in bar_text and REASON not in bar_text, bar_text  # its error is history now
        assert "degraded" not in pane and REASON not in pane, pane
