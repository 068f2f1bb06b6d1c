"""One line at the bottom: active profile, each source's state, job counts, marks, and the last error."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.core.backends.base import SourceState, SourceStatus
from tui.core.jobs import JobState
from tui.core.safe_text import visible
from tui.core.presentation import STATE_ICONS, STATE_STYLES

# Icon and colour per source state; the icon differs per meaning, so the state reads without colour too.
SOURCE_STYLES: dict[SourceState, tuple[str, str]] = {
    SourceState.CONNECTED: ("✔", "green"),
    SourceState.CONNECTING: ("…", "yellow"),
    SourceState.RECONNECTING: ("…", "yellow"),
    SourceState.DEGRADED: ("◐", "yellow"),
    SourceState.ERROR: ("✘", "red"),
    SourceState.STOPPED: ("○", "grey50"),
}
_AUTH_WORDS = ("401", "403", "unauthor", "forbidden", "token")


def source_word(status: SourceStatus) -> str:
    """One word for a source's state: connected, connecting, reconnecting, degraded (answers time out or are too
    large; the Profiles pane says why), auth (refused credentials), error."""
    if status.state is SourceState.ERROR:
        error = (status.error or "").lower()
        return "auth" if any(word in error for word in _AUTH_WORDS) else "error"
    return status.state.value


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
    counts: reactive[dict[JobState, int]] = reactive(dict)  # a new dict each count: repainted when it differs
    failing: reactive[int] = reactive(0)  # still failing (latest attempts): the ✘ count, as the Failed filter
    marked: reactive[int] = reactive(0)
    last_error: reactive[str | None] = reactive(None)
    batch: reactive[str | None] = reactive(None)  # the followed batch's progress: "spring-catalog 112/200 ✔ 109 ✘ 3"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._statuses: dict[str, SourceStatus] = {}
        self._profiles: list[str] | None = None  # the configured profiles, in config order (None: not told yet)
        self.last_error_profile: str | None = None  # whose source the last error came from, if a source's

    def set_profiles(self, names: list[str]) -> None:
        """The profiles the config has now: a deleted one leaves the bar."""
        before = self._sources_look()
        self._profiles = list(names)
        self._statuses = {name: status for name, status in self._statuses.items() if name in self._profiles}
        if self.last_error_profile is not None and self.last_error_profile not in self._profiles:
            self.clear_error()
        if self._sources_look() != before:
            self.refresh()

    def update_status(self, status: SourceStatus) -> None:
        if self._profiles is not None and status.profile not in self._profiles:
            return
        before = self._sources_look()
        self._statuses[status.profile] = status
        if status.state is SourceState.CONNECTED and status.profile == self.last_error_profile:
            self.clear_error()  # the source that failed works again: its error is history (still in the log)
        # Sources re-send an unchanged status every few seconds (to keep `last_seen` fresh, which the bar does not
        # show): repaint only when what the bar shows of them changed.
        if self._sources_look() != before:
            self.refresh()

    def _sources_look(self) -> tuple[tuple[str, SourceState, str], ...]:
        """What the bar shows of the sources: each one's name, state and word, in order."""
        return tuple((name, status.state, source_word(status)) for name, status in self._statuses.items())

    def show_error(self, message: str, profile: str | None = None) -> None:
        self.last_error = message
        self.last_error_profile = profile

    def clear_error(self) -> None:
        self.last_error = None
        self.last_error_profile = None

    def render(self) -> Text:
        width = max(20, self.content_region.width or 120)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("profile ", style="dim")
        head.append(visible(self.active_profile or "—"), style="bold")
        counts = Text(no_wrap=True)
        counts.append("  │ ", style="dim")
        for state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED):
            count = self.failing if state is JobState.FAILED else self.counts.get(state, 0)
            counts.append(f"{STATE_ICONS[state]} {count} ", style=STATE_STYLES[state] if count else "dim")
        if self.batch:
            counts.append("│ ", style="dim")
            counts.append(visible(self.batch) + " ", style="bold")
        if self.marked:
            counts.append(f"│ {self.marked} marked ", style="bold yellow")
        error = Text(no_wrap=True, overflow="ellipsis")
        if self.last_error:
            error.append("│ last error: ", style="dim")
            error.append(visible(self.last_error), style="red")
        # The sources get what the rest leaves, but the error keeps at least a readable start.
        room = width - head.cell_len - counts.cell_len - min(error.cell_len, 40)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append_text(head)
        text.append_text(self._sources(room))
        text.append_text(counts)
        text.append_text(error)
        return text

    def _sources(self, room: int) -> Text:
        """Each source as `name ✔ connected` (readable without colour); counted when the names do not fit."""
        full = Text(no_wrap=True)
        for name, status in self._statuses.items():
            icon, colour = SOURCE_STYLES.get(status.state, ("?", "white"))
            full.append(f"  {visible(name)} ", style="dim")
            full.append(f"{icon} {source_word(status)}", style=colour)
        if full.cell_len <= room:
            return full
        short = Text(no_wrap=True)
        by_word: dict[tuple[str, str, str], int] = {}
        for status in self._statuses.values():
            icon, colour = SOURCE_STYLES.get(status.state, ("?", "white"))
            key = (icon, colour, source_word(status))
            by_word[key] = by_word.get(key, 0) + 1
        for (icon, colour, word), count in by_word.items():
            short.append(f"  {count} {icon} {word}", style=colour)
        return short
