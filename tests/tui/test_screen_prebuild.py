"""The kept screens (job detail, help, profile form) are made while the app is idle after start-up, and each still
shows what it is opened for — never what it was made with.

How fast the first open is is measured by bench/keys.py (its first-press rows), never here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from textual.widgets import Input

from screens.help import HelpScreen
from screens.job_detail import JobDetailScreen
from screens.profile_editing import PROFILE_FORM
from screens.profile_form import ProfileFormScreen
from tests.tui.conftest import (
    OFFLINE_CONFIG,
    app_on,
    jobs_table,
    running,
    scale_job_id,
    screen_text,
    seeded_dirs,
    synthetic_jobs,
    wait_for,
)
from tui.app import ComfyqApp
from tui.core.presentation import short_id
from tui.widgets.job_detail import JobDetail
from tui.widgets.profile_list import ProfileList

KEPT = ("detail", "help", PROFILE_FORM)


def app_prebuilding(tmp_path: Path, jobs: int) -> ComfyqApp:
    """The app on a seeded store, making its kept screens ahead as it does in a terminal (not by default headless)."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG, synthetic_jobs(jobs)))
    app.prebuild_screens = True
    return app


async def _prebuilt(pilot, app: ComfyqApp) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: app.prebuilt, "the kept screens made ahead")


async def test_kept_screens_are_composed_while_idle_and_not_shown(tmp_path: Path) -> None:
    app = app_prebuilding(tmp_path, 5)
    async with running(app) as pilot:
        await _prebuilt(pilot, app)
        for name in KEPT:
            assert app.is_screen_installed(name), name
            screen = app.get_screen(name)
            assert screen.is_running and screen.is_mounted, f"{name} is composed"
        assert isinstance(app.get_screen("detail"), JobDetailScreen)
        assert isinstance(app.get_screen("help"), HelpScreen)
        assert isinstance(app.get_screen(PROFILE_FORM), ProfileFormScreen)
        assert app.get_screen(PROFILE_FORM).query("#form-name Input, Input#form-name")  # its fields exist
        assert len(app.screen_stack) == 1, "made, not shown"
        assert "─ Profiles ─" in screen_text(app)


async def test_headless_apps_make_screens_on_first_push(tmp_path: Path) -> None:
    """Unless asked: a headless run (a test, a snapshot) may end within a second, mid-mount."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG, synthetic_jobs(2)))
    async with running(app) as pilot:
        await pilot.pause(0.8)
        assert not app.prebuilt and not app.is_screen_installed("help")


async def test_prebuilt_detail_shows_the_job_opened(tmp_path: Path) -> None:
    app = app_prebuilding(tmp_path, 5)
    async with running(app) as pilot:
        await _prebuilt(pilot, app)
        table = jobs_table(app)
        table.focus()
        await pilot.pause()
        cursor = table.cursor_job_id
        assert cursor is not None
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the job detail screen")
        detail = app.screen.query_one(JobDetail)
        assert str(detail.border_title) == f"Job {short_id(cursor)}"
        assert short_id(cursor) in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "back on the main screen")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the job detail screen again")
        other = table.cursor_job_id
        assert other is not None and other != cursor
        assert str(app.screen.query_one(JobDetail).border_title) == f"Job {short_id(other)}"
        assert other in {scale_job_id(n) for n in range(5)}


async def test_prebuilt_help_opens_and_closes(tmp_path: Path) -> None:
    app = app_prebuilding(tmp_path, 3)
    async with running(app) as pilot:
        await _prebuilt(pilot, app)
        help_screen = app.get_screen("help")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen is help_screen, "the help made ahead")
        assert "comfyq keys" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not help_screen, "the help closed")


async def test_prebuilt_form_shows_the_profile_asked_for(tmp_path: Path) -> None:
    app = app_prebuilding(tmp_path, 3)
    async with running(app) as pilot:
        await _prebuilt(pilot, app)
        form = app.get_screen(PROFILE_FORM)
        profiles = app.screen.query_one(ProfileList)
        profiles.focus()
        await pilot.pause()
        await pilot.press("E")  # edit the highlighted profile (the first: farm-a)
        await wait_for(pilot, lambda: app.screen is form, "the edit form made ahead")
        assert form.query_one("#form-name", Input).value == "farm-a"
        assert "Edit profile farm-a" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not form, "the form closed")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, "the new-profile form")
        assert form.query_one("#form-name", Input).value == ""
        assert "New profile" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is not form, "the form closed again")


@pytest.mark.parametrize("screen_name", KEPT)
async def test_q_while_a_screen_is_being_made_quits(tmp_path: Path, screen_name: str) -> None:
    """Found in tmux: `q` pressed about 0.7 s after launch — while the kept screens were being made — opened the
    help screen and the app never ended. Quitting waits for the screen being made, then quits."""
    app = app_prebuilding(tmp_path, 5)
    shown: list[str] = []
    async with running(app) as pilot:
        await wait_for(pilot, lambda: app.is_screen_installed(screen_name), f"{screen_name} being made")
        await pilot.press("q")
        for _ in range(200):
            shown.append(type(app.screen).__name__ if app.screen_stack else "-")
            if app.return_value is not None:
                break
            await asyncio.sleep(0.01)
        await wait_for(pilot, lambda: app.return_value is not None, "the app to quit")
    assert app.return_value == 0
    assert set(shown) <= {"MainScreen", "-"}, f"shown while quitting: {sorted(set(shown))}"
