"""Adding, editing and deleting profiles for a screen: push the form or the confirmation, write the config file,
read it back, and make that the app's config (`app.config`, the one copy) — then tell the screen what changed.

The profiles pane only asks (`ProfileList.OpenRequested` / `DeleteRequested`); the screen that holds it hands
the request to a `ProfileEditing` (the main screen; the profile tests' small app does the same).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from textual.app import App

from screens.confirm import ConfirmScreen
from screens.profile_form import ProfileFormScreen, ProfileSaved
from tui.core.config import Config, ConfigError, delete_profile, load_config
from tui.core.secrets import redact


PROFILE_FORM = "profile-form"  # the installed form's name


class HoldsConfig(Protocol):
    """What ProfileEditing needs of the app: the one config, read and replaced."""

    config: Config


@dataclass(frozen=True)
class ConfigChange:
    """The config file was written and read back: `config` is the app's config now.

    `saved` names the profile added / edited (`renamed_from` its old name), `deleted` the one removed.
    """

    config: Config
    saved: str | None = None
    renamed_from: str | None = None
    deleted: str | None = None


class ProfileEditing:
    def __init__(self, app: App[object], *, fallback_file: Path | None, changed: Callable[[ConfigChange], None]) -> None:
        self.app = app
        self.holder = cast(HoldsConfig, app)  # the same app, seen through the attribute read and replaced here
        self.fallback_file = fallback_file  # where profiles are saved while the config is the built-in one
        self.changed = changed

    @property
    def config_file(self) -> Path | None:
        """Where profiles are saved: the loaded file, else the file comfyq would read."""
        path = self.holder.config.path
        return Path(path) if path is not None else self.fallback_file

    def _apply(self, change: ConfigChange) -> None:
        self.holder.config = change.config
        self.changed(change)

    def open_form(self, name: str | None) -> None:
        """The add (`name` None) / edit form; saved, the app takes the new config."""
        config_file = self.config_file
        if config_file is None:
            self.app.notify("no config file location is known", title="Profiles", severity="error")
            return

        def saved(result: ProfileSaved | None) -> None:
            if result is None:
                return
            verb = "renamed" if result.old_name else ("saved" if name is not None else "added")
            self.app.notify(f"profile {result.name!r} {verb} in {config_file}", title="Profiles")
            self._apply(ConfigChange(result.config, saved=result.name, renamed_from=result.old_name))

        # Made once and kept (an installed screen): each open fills the same form in.
        if self.app.is_screen_installed(PROFILE_FORM):
            form = self.app.get_screen(PROFILE_FORM)
            assert isinstance(form, ProfileFormScreen)
            form.prepare(config_file, name)
        else:
            self.app.install_screen(ProfileFormScreen(config_file, name), PROFILE_FORM)
        self.app.push_screen(PROFILE_FORM, saved)

    def delete(self, name: str, in_flight: int = 0) -> None:
        """Ask, then remove the profile from the config file; the app takes the config read back."""
        config = self.holder.config
        if config.path is None:
            self.app.notify(
                f"{name!r} is the built-in default, not in a config file: add your own profile first",
                title="Cannot delete",
                severity="warning",
            )
            return
        if len(config.profiles) <= 1:
            self.app.notify(
                "comfyq needs at least one profile: add another before deleting this one",
                title="Cannot delete",
                severity="warning",
            )
            return
        config_file = Path(config.path)
        warning = f"\n{in_flight} of its jobs are still in flight; they will no longer be followed." if in_flight else ""
        message = f"Delete profile {name!r} from {config_file}?\nIts jobs stay in the job store.{warning}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(config_file, name)

        self.app.push_screen(ConfirmScreen("Delete profile", message), answered)

    def _delete(self, config_file: Path, name: str) -> None:
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
        self.app.notify(f"profile {name!r} deleted", title="Profiles")
        self._apply(ConfigChange(config, deleted=name))
