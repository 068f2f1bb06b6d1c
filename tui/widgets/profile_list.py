"""The profiles pane: every configured service with its edition, host, token (masked) and live source state.

Adding, editing and deleting profiles happens here too (screens/profile_form.py): the config file is written,
read back, and the new Config is announced with `ProfileList.ConfigSaved` for the screen to hand to everyone else.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.safe_text import visible
from tui.core.backends.base import SourceState, SourceStatus
from tui.core.config import Config, ConfigError, Profile, delete_profile, load_config
from tui.core.secrets import redact
from tui.core.jobs import Edition, Job
from tui.widgets.job_format import format_age
from tui.widgets.status_bar import SOURCE_STYLES


class ProfileList(OptionList):
    """Select the active profile (enter); mark several (space) to submit to all of them; n / E / delete to add,
    edit or remove one (saved to the config file); t tests the connection."""

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
        """Open the profile form: `name` None for a new profile (kept for callers; the list opens the form itself)."""

        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    class DeleteRequested(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class MarksChanged(Message):
        """The profiles marked for submission changed (submit goes to every marked profile)."""

        def __init__(self, marked: list[str]) -> None:
            super().__init__()
            self.marked = marked

    class TestRequested(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class ConfigSaved(Message):
        """The config file was written and read back: `config` is what the app, engine and widgets should use now.

        `saved` names the profile added / edited (`renamed_from` its old name), `deleted` the one removed.
        """

        def __init__(
            self,
            config: Config,
            *,
            saved: str | None = None,
            renamed_from: str | None = None,
            deleted: str | None = None,
        ) -> None:
            super().__init__()
            self.config = config
            self.saved = saved
            self.renamed_from = renamed_from
            self.deleted = deleted

    def __init__(self, config: Config, *, config_file: Path | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.config = config
        self._config_file = config_file
        self.active_profile: str | None = next(iter(config.profiles), None)
        self._marked: set[str] = set()
        self._statuses: dict[str, SourceStatus] = {}
        self._in_flight: dict[str, set[str]] = {}
        self._shape: list[tuple[str, int]] = []  # (profile, lines) of the options shown, to update them in place

    def on_mount(self) -> None:
        self._rebuild()
        self._update_subtitle()
        if self.active_profile:
            self.post_message(self.ActiveChanged(self.active_profile))

    @property
    def config_file(self) -> Path | None:
        """Where profiles are saved: the loaded file, else (built-in default) the file comfyq would read."""
        if self.config.path is not None:
            return Path(self.config.path)
        if self._config_file is not None:
            return self._config_file
        options = getattr(self.app, "options", None)
        locations = getattr(options, "locations", None)
        return Path(locations.config_file) if locations is not None else None

    def set_config(self, config: Config, *, renamed: tuple[str, str] | None = None) -> None:
        """The config file changed (profile added, edited or deleted). `renamed` = (old, new) keeps the active
        profile and the marks on a renamed profile."""
        self.config = config
        if renamed is not None:
            old, new = renamed
            if self.active_profile == old:
                self.active_profile = new
            if old in self._marked:
                self._marked.discard(old)
                self._marked.add(new)
            for table in (self._statuses, self._in_flight):
                if old in table:
                    table[new] = table.pop(old)  # type: ignore[index]
        if self.active_profile not in config.profiles:
            self.active_profile = next(iter(config.profiles), None)
            if self.active_profile:
                self.post_message(self.ActiveChanged(self.active_profile))
        self._marked &= set(config.profiles)
        self._rebuild()
        self._update_subtitle()

    def marked_profiles(self) -> list[str]:
        return [name for name in self.config.profiles if name in self._marked]

    @property
    def highlighted_profile(self) -> str | None:
        if self.highlighted is None or not self.option_count:
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

    # ---------------------------------------------------------------- drawing

    def _update_subtitle(self) -> None:
        source = "built-in default" if self.config.path is None else Path(self.config.path).name
        self.border_subtitle = f"{source} · n new · E edit · t test"

    def _rebuild(self) -> None:
        prompts = [(name, self._render_profile(profile)) for name, profile in self.config.profiles.items()]
        shape = [(name, len(prompt.renderables)) for name, prompt in prompts]
        if prompts and shape == self._shape:
            # Same profiles, same line counts (a count or a state changed): repaint the prompts in place — clearing
            # and re-adding options would ask for a layout pass of the whole screen, several times a second.
            for index, (_, prompt) in enumerate(prompts):
                self.replace_option_prompt_at_index(index, prompt)
            return
        self._shape = shape
        highlighted = self.highlighted
        self.clear_options()
        if not prompts:
            self.add_option(Option(Text("no profiles: press n to add one", style="dim"), id=None, disabled=True))
            return
        self.add_options([Option(prompt, id=name) for name, prompt in prompts])
        self.highlighted = min(highlighted if highlighted is not None else 0, self.option_count - 1)

    def _render_profile(self, profile: Profile) -> Group:
        now = time.time()
        active = profile.name == self.active_profile
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append("▶ " if active else "  ", style="bold green")
        title.append("● " if profile.name in self._marked else "", style="bold yellow")
        title.append(visible(profile.name), style="bold" if active else "")
        title.append(f"  {profile.edition.value}", style="cyan" if profile.edition is Edition.API else "magenta")
        flying = len(self._in_flight.get(profile.name, ()))
        if flying:
            title.append(f"  {flying} in flight", style="yellow")
        details = Text(no_wrap=True, overflow="ellipsis", style="dim")
        details.append(f"    {visible(profile.host or '(no host)')}")
        if profile.token:
            details.append(f"  token {profile.masked_token}")
            if profile.token_env:
                details.append(f" ${profile.token_env}")
        else:
            details.append("  no token")
        status_line = Text(no_wrap=True, overflow="ellipsis")
        status_line.append("    ")
        status = self._statuses.get(profile.name)
        lines = [title, details, status_line]
        if status is None:
            status_line.append("○ not started", style="dim")
        else:
            icon, colour = SOURCE_STYLES.get(status.state, ("?", "white"))
            status_line.append(f"{icon} {status.state.value}", style=colour)
            status_line.append(f" · seen {format_age(status.last_seen, now)}", style="dim")
            if status.queue_length is not None:
                status_line.append(f" · queue {status.queue_length}", style="dim")
            if status.consumers is not None:
                noun = "consumer" if status.consumers == 1 else "consumers"
                status_line.append(f" · {status.consumers} {noun}", style="dim")
            if status.error and status.state is not SourceState.CONNECTED:
                error = Text(no_wrap=True, overflow="ellipsis", style="red")
                error.append(f"    {visible(redact(status.error))}")
                lines.append(error)
        return Group(*lines)

    # ---------------------------------------------------------------- actions

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
        self.post_message(self.MarksChanged(self.marked_profiles()))

    def action_new_profile(self) -> None:
        self.open_form(None)

    def action_edit_profile(self) -> None:
        if self.highlighted_profile:
            self.open_form(self.highlighted_profile)

    def action_delete_profile(self) -> None:
        if self.highlighted_profile:
            self.confirm_delete(self.highlighted_profile)

    def action_test_connection(self) -> None:
        if self.highlighted_profile:
            self.post_message(self.TestRequested(self.highlighted_profile))

    # ------------------------------------------------------- add / edit / delete

    def open_form(self, name: str | None) -> None:
        """The add (`name` None) / edit form; on save the list takes the new config and posts ConfigSaved."""
        from screens.profile_form import ProfileFormScreen, ProfileSaved

        config_file = self.config_file
        if config_file is None:
            self.app.notify("no config file location is known", title="Profiles", severity="error")
            return

        def saved(result: ProfileSaved | None) -> None:
            if result is None:
                return
            renamed = (result.old_name, result.name) if result.old_name else None
            self.set_config(result.config, renamed=renamed)
            self._highlight(result.name)
            verb = "renamed" if result.old_name else ("saved" if name is not None else "added")
            self.app.notify(f"profile {result.name!r} {verb} in {config_file}", title="Profiles")
            self.post_message(self.ConfigSaved(result.config, saved=result.name, renamed_from=result.old_name))

        self.app.push_screen(ProfileFormScreen(self.config, config_file, name), saved)

    def confirm_delete(self, name: str) -> None:
        """Ask, then remove the profile from the config file and post ConfigSaved."""
        from screens.confirm import ConfirmScreen

        if self.config.path is None:
            self.app.notify(
                f"{name!r} is the built-in default, not in a config file: add your own profile first",
                title="Cannot delete",
                severity="warning",
            )
            return
        if len(self.config.profiles) <= 1:
            self.app.notify(
                "comfyq needs at least one profile: add another before deleting this one",
                title="Cannot delete",
                severity="warning",
            )
            return
        config_file = Path(self.config.path)
        flying = len(self._in_flight.get(name, ()))
        warning = f"\n{flying} of its jobs are still in flight; they will no longer be followed." if flying else ""
        message = f"Delete profile {name!r} from {config_file}?\nIts jobs stay in the job store.{warning}"

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                delete_profile(config_file, name)
            except (ConfigError, OSError) as error:
                self.app.notify(redact(str(error)), title=f"Could not delete {name!r}", severity="error", timeout=10)
                return
            try:
                config = load_config(config_file, explicit=True)
            except ConfigError as error:
                self.app.notify(
                    f"{name!r} deleted, but the config file has other problems:\n{redact(str(error))}",
                    title="Config not reloaded",
                    severity="error",
                    timeout=12,
                )
                return
            self.set_config(config)
            self.app.notify(f"profile {name!r} deleted", title="Profiles")
            self.post_message(self.ConfigSaved(config, deleted=name))

        self.app.push_screen(ConfirmScreen("Delete profile", message), answered)

    def _highlight(self, name: str) -> None:
        for index in range(self.option_count):
            if self.get_option_at_index(index).id == name:
                self.highlighted = index
                return
