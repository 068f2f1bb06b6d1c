"""The job detail, full screen (enter on a job)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from tui.widgets.job_detail import JobDetail


class JobDetailScreen(Screen[None]):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="detail.back")]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        app = self.app
        yield JobDetail(app.config, app.store, id="detail-full")  # type: ignore[attr-defined]
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(JobDetail).show_job(self.app.store.get(self.job_id))  # type: ignore[attr-defined]

    def jobs_changed(self, jobs) -> None:  # type: ignore[no-untyped-def]
        for job in jobs:
            if job.id == self.job_id:
                self.query_one(JobDetail).show_job(job)
