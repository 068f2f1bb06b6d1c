"""One line at the bottom: active profile, each source's state, job counts, marks, and the last error."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.core.backends.base import SourceState, SourceStatus
from tui.core.jobs import JobState
from tui.core.safe_text import visible
from tui.widgets.job_format import STATE_ICONS, STATE_STYLES

SOURCE_STYLES: dict[SourceState, tuple[str, str]] = {
    SourceState.CONNECTED: ("●", "green"),
    SourceState.CONNECTING: ("◌", "yellow"),
    SourceState.RECONNECTING: ("◌", "yellow"),
    SourceState.ERROR: ("●", "red"),
    SourceState.STOPPED: ("○", "grey50"),
}


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    active_profile: reactive[str | None] = reactive(None)
    counts: reactive[dict[JobState, int]] = reactive(dict, always_update=True)
    marked: reactive[int] = reactive(0)
    last_error: reactive[str | None] = reactive(None)
    batch: reactive[str | None] = reactive(None)  # the followed batch's progress: "spring-catalog 112/200 ✔ 109 ✘ 3"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._statuses: dict[str, SourceStatus] = {}

    def update_status(self, status: SourceStatus) -> None:
        self._statuses[status.profile] = status
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("profile ", style="dim")
        text.append(self.active_profile or "—", style="bold")
        for name, status in self._statuses.items():
            icon, colour = SOURCE_STYLES.get(status.state, ("?", "white"))
            text.append("  ")
            text.append(icon, style=colour)
            text.append(f" {name}", style="dim")
        text.append("  │ ", style="dim")
        for state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED):
            count = self.counts.get(state, 0)
            text.append(f"{STATE_ICONS[state]} {count} ", style=STATE_STYLES[state] if count else "dim")
        if self.batch:
            text.append("│ ", style="dim")
            text.append(visible(self.batch) + " ", style="bold")
        if self.marked:
            text.append(f"│ {self.marked} marked ", style="bold yellow")
        if self.last_error:
            text.append("│ last error: ", style="dim")
            text.append(self.last_error.replace("\n", " "), style="red")
        return text
