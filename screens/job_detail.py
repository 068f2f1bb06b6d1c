"""The job detail, full screen (enter on a job): the same JobDetail widget as the pane, with room to read."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding

from screens.footer_fit import FittedFooterScreen
from screens.kept_screen import KeptScreen
from tui.core.config import Config
from tui.core.jobs import Job
from tui.core.store import JobNotFound
from tui.widgets.job_detail import JobDetail
from tui.widgets.key_footer import KeyFooter
from tui.core.presentation import short_id

if TYPE_CHECKING:
    from tui.app import ComfyqApp


class JobDetailScreen(KeptScreen, FittedFooterScreen[None]):
    """One job full screen; `[` / `]` or the attempts list switch to another attempt of its chain."""

    CSS_PATH = "job_detail.tcss"

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="detail.back")]
    FOOTER_FIRST = ("app.help", "detail.back")  # how to leave stays in a narrow footer

    def __init__(self, job_id: str | None = None) -> None:
        super().__init__()
        self.job_id = job_id  # None: made ahead, empty until `show` (tui/app.py pre-builds it while idle)

    @property
    def comfyq(self) -> ComfyqApp:
        return cast("ComfyqApp", self.app)

    def compose(self) -> ComposeResult:
        yield JobDetail(self.comfyq.store, id="detail-full", opened=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(JobDetail).focus()
        if self.job_id is not None:
            self.show(self.job_id)
        self.comfyq.jobs_signal.subscribe(self, self._jobs_changed)  # live: the job and its attempts
        self.watch(self.app, "config", self._config_changed, init=False)

    def on_screen_resume(self) -> None:
        self.query_one(JobDetail).focus()

    def warm_up(self, job: Job) -> None:
        """Made ahead (tui/app.py): draw `job` once — its sections built, the modules they use imported — then show
        nothing again, so the first open fills a screen that is already built. The preview is left out (it would
        fetch the job's image): only its module is imported."""
        import tui.widgets.output_preview  # noqa: F401 - httpx and the fetch code, imported by the first preview

        detail = self.query_one(JobDetail)
        opened, detail.opened = detail.opened, False
        try:
            detail.show_job(job)
            detail.show_job(None)
        finally:
            detail.opened = opened

    def show(self, job_id: str) -> None:
        """Show `job_id` (the screen is made once and shows each job asked for)."""
        if not self.query(JobDetail):
            self.job_id = job_id  # asked while it is being made ahead: on_mount shows it
            return
        detail = self.query_one(JobDetail)
        try:
            job = self.comfyq.store.get(job_id)
        except JobNotFound:
            self.app.notify(f"job {short_id(job_id)} is no longer in the store", severity="warning")
            return
        self.job_id = job_id
        detail.border_title = f"Job {short_id(job_id)}"
        detail.show_job(job)

    @on(JobDetail.Navigate)
    def _navigate(self, event: JobDetail.Navigate) -> None:
        event.stop()
        self.show(event.job_id)

    def _jobs_changed(self, jobs: list[Job]) -> None:
        self.query_one(JobDetail).jobs_changed(jobs)

    def _config_changed(self, config: Config) -> None:
        """The config file was re-read (OSS bucket paths may have changed)."""
        self.query_one(JobDetail).config_changed()
