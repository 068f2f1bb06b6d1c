"""Add / edit a profile (a modal form) and confirm a deletion.

The form validates with the config loader's own rules: it renders the profile as a one-profile TOML document and
runs `parse_config_text` on it, then shows each issue next to the field it names. Only a profile that would load
is written (with `save_profile`, which keeps the file's comments and layout); the file is then read back with
`load_config` and the new Config is the form's result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import tomlkit

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from screens.kept_screen import KeptScreen

from tui.core.safe_text import visible
from tui.core.config import (
    API_ONLY_KEYS,
    BUILTIN_LOCAL_URL,
    DEDICATED_ONLY_KEYS,
    DEFAULT_WINDOW,
    Config,
    ConfigError,
    ConfigIssue,
    Profile,
    load_config,
    parse_config_text,
    save_profile,
)
from tui.core.jobs import Edition
from tui.core.secrets import redact
from tui.widgets.ordered_keys import OrderedInput

if TYPE_CHECKING:
    from tui.app import ComfyqApp

DEFAULT_CONSUMER_GROUP = "comfyq"

# (key, label, placeholder, editions it belongs to)
FIELDS: tuple[tuple[str, str, str, tuple[Edition, ...]], ...] = (
    ("input_url", "input URL", "http://<endpoint>/api/predict/<service>", (Edition.API,)),
    ("url", "URL", "http://127.0.0.1:8188", (Edition.DEDICATED,)),
    ("token", "token", "service token (stored in the config file)", tuple(Edition)),
    ("token_env", "token env", "or: the environment variable holding it", tuple(Edition)),
    ("oss_bucket_path", "OSS bucket path", "oss://<bucket>/<prefix>  (for output paths)", tuple(Edition)),
    ("consumer_group", "consumer group", f"{DEFAULT_CONSUMER_GROUP}  (sink watch)", (Edition.API,)),
    ("window", "window", f"{DEFAULT_WINDOW}  (sink watch window)", (Edition.API,)),
)
FORM_KEYS = ("edition",) + tuple(key for key, *_ in FIELDS)


@dataclass(frozen=True)
class ProfileSaved:
    """The form's result: the config as read back from the file, and what changed."""

    config: Config
    name: str
    old_name: str | None = None


def profile_fields(edition: Edition, values: Mapping[str, str]) -> dict[str, Any]:
    """The keys `save_profile` writes for a form's values: empty inputs and the other edition's keys become None
    (removed from the file), `window` becomes an integer when it is one (else the loader names the problem)."""
    fields: dict[str, Any] = {"edition": edition.value}
    for key, _, _, editions in FIELDS:
        value = values.get(key, "").strip()
        fields[key] = value if (value and edition in editions) else None
    window = fields.get("window")
    if window is not None:
        try:
            fields["window"] = int(window)
        except ValueError:
            pass
    # Keys of the other edition that the form does not show must go too, or the loader refuses the profile.
    other = DEDICATED_ONLY_KEYS if edition is Edition.API else API_ONLY_KEYS
    for key in other:
        fields.setdefault(key, None)
    return fields


def validate_profile(name: str, fields: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """The config loader's verdict on one profile, as if it were the only one in a file (empty list: it loads)."""
    issues: list[ConfigIssue] = []
    checked_name = name
    if not name.strip():
        # Still check the other fields (under a stand-in name), so every problem shows at once.
        issues.append(ConfigIssue("<form>", None, "name", "a profile name must not be empty"))
        checked_name = "new-profile"
    document = tomlkit.document()
    profiles = tomlkit.table(is_super_table=True)
    table = tomlkit.table()
    for key, value in fields.items():
        if value is not None:
            table[key] = value
    profiles[checked_name] = table
    document["profiles"] = profiles
    try:
        parse_config_text(tomlkit.dumps(document), "<form>", os.environ if env is None else env)
    except ConfigError as error:
        prefix = f"profiles.{checked_name}"
        for issue in error.issues:
            key = issue.key
            if key == prefix or key.startswith(prefix + "."):
                key = f"profiles.{name}" + key[len(prefix) :]
            issues.append(ConfigIssue(issue.path, issue.line, key, issue.message))
    return issues


def field_of(issue: ConfigIssue, name: str) -> str | None:
    """Which form field an issue is about (None: the whole profile or a key the form does not show)."""
    prefix = f"profiles.{name}."
    if issue.key == "name":
        return "name"
    if not issue.key.startswith(prefix):
        return None
    key = issue.key[len(prefix) :].split(".", 1)[0]
    return key if key in FORM_KEYS else None


class ProfileFormScreen(KeptScreen, ModalScreen[ProfileSaved | None]):
    """Add (`name` None) or edit a profile; ctrl+s saves, esc cancels. Shows only the chosen edition's fields."""

    CSS_PATH = "profile_form.tcss"

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="profile_form.save"),
        Binding("escape", "cancel", "Cancel", id="profile_form.cancel"),
    ]

    def __init__(self, config_file: Path, name: str | None = None, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.config_file = Path(config_file)
        self.old_name = name
        self.env = env
        self.saved = False
        self._initial: dict[str, str] = {}

    def prepare(self, config_file: Path, name: str | None = None) -> None:
        """Show the form anew for `name` (None: a new profile). The form is made once and kept (an installed
        screen): composing its nine fields took 110–230 ms of every `n` / `E`; filling them in takes a few."""
        self.config_file = Path(config_file)
        self.old_name = name
        self.saved = False
        if self.query("#form-name"):
            self._fill()
        # else: compose() fills the fields from these (or on_mount does, when asked while being made ahead)

    def _fill(self) -> None:
        """The fields, title and hint for the profile asked for (`old_name`), errors cleared, the name focused."""
        profile = self.profile
        values = self._initial = self._initial_values(profile)
        with self.prevent(Input.Changed, Select.Changed):
            for key in ("name",) + tuple(k for k, *_ in FIELDS):
                field = self.query_one(f"#form-{key}", Input)
                field.value = values.get(key, "")
                field.cursor_position = len(field.value)
            self.query_one("#form-edition", Select).value = (
                profile.edition if profile is not None else Edition.API
            ).value
        self.query_one("#form", Vertical).border_title = self._title()
        self.query_one("#form-hint", Static).update(self._hint())
        self._clear_errors()
        self._show_edition(self._edition())
        self.query_one("#form-fields", VerticalScroll).scroll_home(animate=False)
        self.query_one("#form-name", Input).focus()

    def _title(self) -> str:
        return f"Edit profile {self.old_name}" if self.old_name else "New profile"

    def _hint(self) -> str:
        return f"Saved to {self.config_file} (comments kept). Give a token or a token env, not both."

    @property
    def config(self) -> Config:
        """The app's config (held once, by the app)."""
        return cast("ComfyqApp", self.app).config

    @property
    def profile(self) -> Profile | None:
        """The profile being edited (None: a new one)."""
        return self.config.profiles.get(self.old_name) if self.old_name is not None else None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        profile = self.profile
        edition = profile.edition if profile is not None else Edition.API
        values = self._initial = self._initial_values(profile)
        with Vertical(id="form") as form:
            form.border_title = self._title()
            with VerticalScroll(id="form-fields"):
                with Horizontal(classes="form-row"):
                    yield Label("name", classes="form-label")
                    yield OrderedInput(values["name"], placeholder="e.g. artlab-api", id="form-name", compact=True)
                yield Static(id="error-name", classes="form-error")
                with Horizontal(classes="form-row"):
                    yield Label("edition", classes="form-label")
                    yield Select(
                        [
                            ("api — PAI-EAS queue (ArtLab API edition)", Edition.API.value),
                            ("dedicated — ComfyUI HTTP", Edition.DEDICATED.value),
                        ],
                        value=edition.value,
                        allow_blank=False,
                        id="form-edition",
                        compact=True,
                    )
                yield Static(id="error-edition", classes="form-error")
                for key, label, placeholder, editions in FIELDS:
                    classes = "form-row " + " ".join(f"-{e.value}" for e in editions)
                    with Horizontal(classes=classes, id=f"row-{key}"):
                        yield Label(label, classes="form-label")
                        yield OrderedInput(
                            values.get(key, ""),
                            placeholder=placeholder,
                            id=f"form-{key}",
                            password=key == "token",
                            compact=True,
                        )
                    yield Static(id=f"error-{key}", classes="form-error")
                yield Static(id="form-general-error", classes="form-error")
            yield Static(self._hint(), id="form-hint")
            with Horizontal(id="form-buttons"):
                yield Button("Cancel", id="form-cancel")
                yield Button("Save  ctrl+s", variant="primary", id="form-save")

    def on_mount(self) -> None:
        self._fill()  # what compose() showed, unless `prepare` asked for another profile meanwhile (made ahead)

    def on_resize(self) -> None:
        # A short terminal (80x24) gets the rows without blank lines between them, so the buttons stay in view.
        self.set_class(self.size.height < 32, "-short")

    @staticmethod
    def _initial_values(profile: Profile | None) -> dict[str, str]:
        if profile is None:
            return {"name": ""}
        values = {
            "name": profile.name,
            "input_url": profile.input_url or "",
            "url": profile.url or "",
            # A token read from the environment stays there: only a token written in the file is shown (masked).
            "token": profile.token if (profile.token and not profile.token_env) else "",
            "token_env": profile.token_env or "",
            "oss_bucket_path": profile.oss_bucket_path or "",
            "consumer_group": "" if profile.consumer_group == DEFAULT_CONSUMER_GROUP else profile.consumer_group,
            "window": "" if profile.window == DEFAULT_WINDOW else str(profile.window),
        }
        return values

    def _edition(self) -> Edition:
        value = self.query_one("#form-edition", Select).value
        return Edition(value) if isinstance(value, str) else Edition.API

    def _show_edition(self, edition: Edition) -> None:
        for key, _, _, editions in FIELDS:
            shown = edition in editions
            self.query_one(f"#row-{key}").display = shown
            if not shown:
                self._set_error(key, None)

    @on(Select.Changed, "#form-edition")
    def _edition_changed(self, event: Select.Changed) -> None:
        self._show_edition(self._edition())

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("form-")
        self._set_error(key, None)

    # ------------------------------------------------------------------ saving

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#form-{key}", Input).value for key in ("name",) + tuple(k for k, *_ in FIELDS)}

    def _set_error(self, key: str, message: str | None) -> None:
        target = self.query(f"#error-{key}" if key != "general" else "#form-general-error")
        if not target:
            return
        label = target.first(Static)
        label.update(Text(visible(f"✘ {message}")) if message else "")
        label.set_class(bool(message), "-shown")

    def _clear_errors(self) -> None:
        for label in self.query(".form-error").results(Static):
            label.update("")
            label.remove_class("-shown")

    def _show_issues(self, issues: list[ConfigIssue], name: str) -> None:
        by_field: dict[str, list[str]] = {}
        for issue in issues:
            field = field_of(issue, name) or "general"
            message = redact(issue.message)
            if message == "missing key":  # the loader's words for a required key that is absent
                message = "required"
            if field == "general" and issue.key:
                message = f"{issue.key}: {message}"
            by_field.setdefault(field, []).append(message)
        for field, messages in by_field.items():
            self._set_error(field, "; ".join(messages))
        first = next(iter(by_field), None)
        if first is not None and first != "general":
            widget = self.query_one(f"#form-{first}")
            widget.focus()
            widget.scroll_visible()
        self.app.bell()

    def action_save(self) -> None:
        self._clear_errors()
        values = self.values()
        name = values["name"].strip()
        edition = self._edition()
        fields = profile_fields(edition, values)
        issues = validate_profile(name, fields, self.env)
        if name and name != self.old_name and name in self.config.profiles:
            issues.insert(0, ConfigIssue("<form>", None, "name", f"a profile named {name!r} already exists"))
        if issues:
            self._show_issues(issues, name)
            return
        try:
            self._bootstrap_file(name)
            save_profile(self.config_file, name, self._changed_fields(fields, values), old_name=self.old_name)
        except ConfigError as error:
            self._show_issues(error.issues, name)
            return
        except OSError as error:
            self._set_error("general", f"cannot write {self.config_file}: {error.strerror or error}")
            return
        self.saved = True
        try:
            config = load_config(self.config_file, explicit=True, env=self.env)
        except ConfigError as error:
            # Ours is saved and valid; something else in the file is not. Say so; the app keeps its config.
            self.app.notify(
                f"saved {name!r}, but the config file has other problems:\n{redact(str(error))}",
                title="Config not reloaded",
                severity="error",
                timeout=12,
            )
            self.dismiss(None)
            return
        self.dismiss(ProfileSaved(config, name, self.old_name if self.old_name != name else None))

    def _changed_fields(self, fields: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
        """Editing: keys the user did not touch are left as the file has them (no rewrite of their spelling)."""
        if self.profile is None or self._edition() is not self.profile.edition:
            return fields
        return {
            key: value
            for key, value in fields.items()
            if key == "edition" or key not in self._initial or values.get(key, "") != self._initial[key]
        }

    def _bootstrap_file(self, name: str) -> None:
        """With no profile configured yet (no file, or one with only [ui]/[keymap]), the app runs on the built-in
        `local` profile: keep it in the file beside the first one added."""
        if not self.config.uses_builtin_profile:
            return
        local = self.config.profiles.get("local")
        if local is None or name == "local" or self.old_name == "local":
            return
        local_fields = {"edition": Edition.DEDICATED.value, "url": local.url or BUILTIN_LOCAL_URL}
        save_profile(self.config_file, "local", local_fields)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#form-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#form-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _enter_pressed(self, event: Input.Submitted) -> None:
        # Enter moves to the next field; on the last visible one it saves.
        event.stop()
        inputs = [widget for widget in self.query(Input).results(Input) if widget.parent and widget.parent.display]
        if inputs and event.input is inputs[-1]:
            self.action_save()
        else:
            self.focus_next()
