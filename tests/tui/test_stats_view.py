"""The stats view (`i`) and "Export this view", on the real app over the emulators: the sparklines move when jobs
finish, the profiles pane shows the last hour, and the export writes every job of the view."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from textual.widgets import Sparkline

from screens.stats import StatsScreen
from tests.tui.conftest import Sim, running, screen_text, wait_for
from tui.core.engine import SubmissionRequest
from tui.core.jobs import JobState
from tui.core.workflow import seed_workflow
from tui.widgets.profile_list import ProfileList

pytestmark = pytest.mark.timeout(120)


def sparkline_data(screen: StatsScreen, name: str) -> list[float]:
    return list(screen.query_one(f"#{name}", Sparkline).data or [])


async def test_the_sparklines_change_when_jobs_finish(sim: Sim) -> None:
    app = sim.app()
    async with running(app) as pilot:
        # The dedicated edition: its websocket says when each job starts running, so every job has a run time.
        # (The API edition's jobs are seen running only when the queue monitor catches them in the act.)
        profile = "sim-dedicated"
        app.screen.switch_profile(profile)
        await wait_for(pilot, lambda: app.screen.query_one(ProfileList).active_profile == profile, "the profile")
        await pilot.press("i")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, StatsScreen) and app.screen, "the stats view")
        assert isinstance(screen, StatsScreen) and screen.selection.profile == profile
        await wait_for(pilot, lambda: screen.computed >= 1, "the first figures")
        assert sum(sparkline_data(screen, "throughput")) == 0
        assert "no jobs finished in the last hour" in screen_text(app)

        sim.set_step_seconds(0.03)  # long enough (≈ 0.6 s a job) for every job to be seen running: it has a run time
        jobs = await app.engine.submit(SubmissionRequest(profile, seed_workflow(), count=3))
        ids = [job.id for job in jobs]
        await wait_for(pilot, lambda: all(app.store.get(i).state.is_terminal for i in ids), "the three jobs to end")
        succeeded = sum(app.store.get(i).state is JobState.SUCCEEDED for i in ids)
        await wait_for(pilot, lambda: sum(sparkline_data(screen, "throughput")) == 3,
                       lambda: f"three finished jobs in the throughput sparkline: {sparkline_data(screen, 'throughput')}")
        assert screen.stats is not None and screen.stats.finished == 3 and screen.stats.succeeded == succeeded
        assert sum(sparkline_data(screen, "histogram")) == screen.stats.run.count > 0
        assert any(value > 0 for value in sparkline_data(screen, "wait"))
        text = screen_text(app)
        assert f"profile {profile}" in text and "3 finished" in text and "p95" in text

        await pilot.press("4")  # all time: the same three jobs
        await wait_for(pilot, lambda: screen.stats is not None and screen.stats.window.label == "all", "window all")
        assert screen.stats.finished == 3
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StatsScreen), "the main screen back")

        # The profiles pane: the last hour in the profile's second line.
        profiles = app.screen.query_one(ProfileList)
        failed = 3 - succeeded
        expected = f"3.0/h · {failed / 3 * 100:.1f}% failed"
        await wait_for(pilot, lambda: expected in screen_text(app),
                       lambda: f"{expected!r} in the profiles pane:\n{screen_text(app)}", timeout=20)
        assert profiles.active_profile == profile


async def test_export_this_view_writes_every_job_of_the_filter(sim: Sim, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = sim.app()
    async with running(app) as pilot:
        profile = app.screen.query_one(ProfileList).active_profile
        assert profile is not None
        jobs = await app.engine.submit(SubmissionRequest(profile, seed_workflow(), count=2))
        await wait_for(pilot, lambda: all(app.store.get(j.id).state.is_terminal for j in jobs), "the jobs to end")
        app.screen.export_view("csv")
        written = await wait_for(pilot, lambda: list(tmp_path.glob("comfyq-jobs-*.csv")), "the export file")
        await wait_for(pilot, lambda: "Exported this view" in screen_text(app), "the export's toast")
        with open(written[0], newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(row["id"] for row in rows) == sorted(job.id for job in jobs)
        assert all(row["finished_at"].endswith("+00:00") for row in rows)
