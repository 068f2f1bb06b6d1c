"""The profiles pane: every configured service with its edition, host, token (masked) and live source state."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.backends.base import SourceState, SourceStatus
from tui.core.config import Config, Profile
from tui.core.jobs import Edition, Job
from tui.widgets.job_format import format_age
from tui.widgets.status_bar import SOURCE_STYLES


class ProfileList(OptionList):
    """Select the active profile (enter); mark several (space) to submit to all of them."""

    BORDER_TITLE = "Profiles"

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark profile", id="profiles.mark"),
        Binding("n", "new_profile", "New profile", id="profiles.new"),
        Binding("E", "edit_profile", "Edit profile", id="profiles.edit"),
        Binding("delete", "delete_profile", "Delete profile", id="profiles.delete"),
        Binding("t", "test_connection", "Test connection", id="profiles.test"),
    ]

    class ActiveChanged(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class EditRequested(Message):
        """Open the profile form: `name` None for a new profile."""

        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    class DeleteRequested(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class TestRequested(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, config: Config, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config
        self.active_profile: str | None = next(iter(config.profiles), None)
        self._marked: set[str] = set()
        self._statuses: dict[str, SourceStatus] = {}
        self._in_flight: dict[str, set[str]] = {}

    def on_mount(self) -> None:
        self._rebuild()
        if self.active_profile:
            self.post_message(self.ActiveChanged(self.active_profile))

    def set_config(self, config: Config) -> None:
        """The config file changed (profile added, edited or deleted)."""
        self.config = config
        if self.active_profile not in config.profiles:
            self.active_profile = next(iter(config.profiles), None)
            if self.active_profile:
                self.post_message(self.ActiveChanged(self.active_profile))
        self._marked &= set(config.profiles)
        self._rebuild()

    def marked_profiles(self) -> list[str]:
        return [name for name in self.config.profiles if name in self._marked]

    @property
    def highlighted_profile(self) -> str | None:
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id

    def update_status(self, status: SourceStatus) -> None:
        self._statuses[status.profile] = status
        self._rebuild()

    def jobs_changed(self, jobs: Sequence[Job]) -> None:
        changed = False
        for job in jobs:
            flying = self._in_flight.setdefault(job.profile, set())
            before = len(flying)
            if job.state.is_active:
                flying.add(job.id)
            else:
                flying.discard(job.id)
            changed = changed or before != len(flying)
        if changed:
            self._rebuild()

    def set_in_flight(self, profile: str, job_ids: set[str]) -> None:
        self._in_flight[profile] = set(job_ids)
        self._rebuild()

    def tick(self) -> None:
        # Ages ("3s ago") move on; a cheap rebuild of a handful of options.
        if self._statuses:
            self._rebuild()

    def _rebuild(self) -> None:
        highlighted = self.highlighted
        self.clear_options()
        self.add_options([Option(self._render_profile(profile), id=name) for name, profile in self.config.profiles.items()])
        if self.option_count:
            self.highlighted = min(highlighted if highlighted is not None else 0, self.option_count - 1)

    def _render_profile(self, profile: Profile) -> Group:
        now = time.time()
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append("▶ " if profile.name == self.active_profile else "  ", style="bold green")
        title.append("● " if profile.name in self._marked else "", style="bold yellow")
        title.append(profile.name, style="bold")
        title.append(f"  {profile.edition.value}", style="cyan" if profile.edition is Edition.API else "magenta")
        details = Text(no_wrap=True, overflow="ellipsis", style="dim")
        details.append(f"    {profile.host}")
        details.append(f"  token {profile.masked_token if profile.token else 'none'}")
        status_line = Text(no_wrap=True, overflow="ellipsis")
        status_line.append("    ")
        status = self._statuses.get(profile.name)
        if status is None:
            status_line.append("○ not started", style="dim")
        else:
            icon, colour = SOURCE_STYLES.get(status.state, ("?", "white"))
            status_line.append(f"{icon} {status.state.value}", style=colour)
            status_line.append(f" · seen {format_age(status.last_seen, now)}", style="dim")
            if status.queue_length is not None:
                status_line.append(f" · queue {status.queue_length}", style="dim")
            if status.consumers is not None:
                status_line.append(f" · {status.consumers} instances", style="dim")
            if status.error and status.state is not SourceState.CONNECTED:
                status_line.append(f"\n    {status.error}", style="red")
        flying = len(self._in_flight.get(profile.name, ()))
        if flying:
            status_line.append(f" · {flying} in flight", style="yellow")
        return Group(title, details, status_line)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.set_active(event.option.id)

    def set_active(self, name: str) -> None:
        if name in self.config.profiles and name != self.active_profile:
            self.active_profile = name
            self._rebuild()
            self.post_message(self.ActiveChanged(name))

    def action_toggle_mark(self) -> None:
        name = self.highlighted_profile
        if name is None:
            return
        self._marked.symmetric_difference_update({name})
        self._rebuild()

    def action_new_profile(self) -> None:
        self.post_message(self.EditRequested(None))

    def action_edit_profile(self) -> None:
        if self.highlighted_profile:
            self.post_message(self.EditRequested(self.highlighted_profile))

    def action_delete_profile(self) -> None:
        if self.highlighted_profile:
            self.post_message(self.DeleteRequested(self.highlighted_profile))

    def action_test_connection(self) -> None:
        if self.highlighted_profile:
            self.post_message(self.TestRequested(self.highlighted_profile))
