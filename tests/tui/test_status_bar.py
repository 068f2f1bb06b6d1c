"""The status bar and error toasts: readable without colour, one toast for many broken profiles, errors that
clear once their source works again, deleted profiles gone."""

from __future__ import annotations

from pathlib import Path

from tests.tui.conftest import app_on, running, seeded_dirs, wait_for
from tui.app import ComfyqApp
from tui.core.backends.base import SourceState, SourceStatus
from tui.widgets.status_bar import StatusBar

BROKEN = "".join(
    f'[profiles.broken-{n}]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\nrequest_timeout = 1\n\n'
    for n in (1, 2, 3)
)


def _app(tmp_path: Path, text: str) -> ComfyqApp:
    return app_on(seeded_dirs(tmp_path, text), start_engine=True)


def _error_toasts(app: ComfyqApp) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "error"]


async def test_three_broken_profiles_make_one_toast_and_read_without_colour(tmp_path: Path) -> None:
    app = _app(tmp_path, BROKEN)
    async with running(app) as pilot:
        bar = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: len(bar._statuses) == 3 and all(
            s.state is not SourceState.CONNECTING for s in bar._statuses.values()), "three sources reported")
        await wait_for(pilot, lambda: _error_toasts(app), "the error toast")
        await pilot.pause(1.0)
        toasts = _error_toasts(app)
        assert len(toasts) == 1 and "3 profiles cannot connect" in toasts[0], toasts
        text = str(bar.render())
        for n in (1, 2, 3):
            assert f"broken-{n} " in text or "3 " in text, text  # names with a word, or counted when too many
        assert "error" in text or "reconnecting" in text, text


async def test_an_error_clears_when_its_source_connects_and_deleted_profiles_leave(tmp_path: Path) -> None:
    app = _app(tmp_path, BROKEN)
    async with running(app) as pilot:
        bar = app.screen.query_one(StatusBar)
        bar.show_error("broken-1: 401 unauthorized", "broken-1")
        bar.update_status(SourceStatus("broken-2", SourceState.CONNECTED))
        assert bar.last_error  # another profile connecting does not clear it
        bar.update_status(SourceStatus("broken-1", SourceState.CONNECTED))
        assert bar.last_error is None
        assert "broken-1 ✔ connected" in str(bar.render())
        bar.set_profiles(["broken-2", "broken-3"])
        await pilot.pause()
        assert "broken-1 ✔" not in str(bar.render()) and "broken-2 ✔ connected" in str(bar.render())
