"""The detail of one job: states with timestamps, ids, attempt chain, outputs with OSS paths, error, raw result."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from tui.core.config import Config
from tui.core.jobs import Job
from tui.core.oss import compose_oss_path
from tui.core.store import JobStore
from tui.widgets.job_format import STATE_ICONS, STATE_STYLES, short_id


class JobDetail(Static):
    BORDER_TITLE = "Detail"

    class Navigate(Message):
        def __init__(self, job_id: str) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, config: Config, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config
        self.store = store
        self.job: Job | None = None

    def show_job(self, job: Job | None) -> None:
        self.job = job
        self.update(self._render_job(job) if job is not None else Text("no job selected", style="dim"))

    def copy_selected_oss_path(self) -> bool:
        return False

    def _render_job(self, job: Job) -> Group:
        title = Text()
        title.append(f"{STATE_ICONS[job.state]} {job.state.value}", style=STATE_STYLES[job.state])
        title.append(f"  job {short_id(job.id)}  {job.profile} ({job.edition.value})  attempt {job.attempt}")
        lines: list = [title]
        if job.failure is not None:
            lines.append(Text(f"{job.failure.category.value}: {job.failure.message}", style="red"))
        profile = self.config.profiles.get(job.profile)
        bucket = profile.oss_bucket_path if profile else None
        if job.outputs:
            table = Table(box=None, show_edge=False, pad_edge=False)
            for name in ("node", "type", "filename", "OSS path"):
                table.add_column(name)
            for output in job.outputs:
                location = compose_oss_path(bucket, output)
                table.add_row(output.node_id, output.type, output.filename, location.path if location else "—")
            lines.append(table)
        stamps = "  ".join(
            f"{state} {datetime.fromtimestamp(at).strftime('%H:%M:%S')}" for state, at in job.timestamps.items()
        )
        lines.append(Text(stamps, style="dim"))
        return Group(*lines)
