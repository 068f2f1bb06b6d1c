"""Engine events reach widgets through the app's message loop, whatever thread reported them."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.tui.conftest import Sim, running, wait_for
from tui.core.backends.base import SourceState, SourceStatus
from tui.widgets.profile_list import ProfileList


async def test_a_status_reported_from_a_backend_thread_updates_the_profiles_pane(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    app = sim.app()
    async with running(app) as pilot:
        profiles = app.screen.query_one(ProfileList)
        name = next(iter(app.config.profiles))
        status = SourceStatus(name, SourceState.ERROR, error="401 from the service")
        # The EAS sink watcher and the pollers report from their own threads, outside the app's context.
        caplog.set_level(logging.ERROR)
        reporter = threading.Thread(target=app.engine._report_status, args=(status,))
        reporter.start()
        reporter.join()
        await wait_for(pilot, lambda: profiles._statuses.get(name) == status, "the status in the profiles pane")
        await pilot.pause()
        failures = [r for r in caplog.records if "subscriber" in r.getMessage() or r.exc_info]
        assert not failures, [r.getMessage() for r in failures]
        # The list still has its cursor and answers keys.
        assert profiles.highlighted_profile is not None
