"""The profiles pane and its form: add, edit, rename, delete profiles in a real config file (comments kept),
validated with the config loader's own rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from screens.confirm import ConfirmScreen
from screens.profile_editing import ConfigChange, ProfileEditing
from screens.profile_form import ProfileFormScreen
from tui.core.backends.base import SourceState, SourceStatus
from tui.core.config import Config, builtin_config, load_config
from tui.core.jobs import Edition
from tui.widgets.profile_list import ProfileList

SIZE = (120, 36)

CONFIG_TEXT = """\
# comfyq profiles — my notes stay here
[defaults]
request_timeout = 20   # seconds

# the local box
[profiles.local]
edition = "dedicated"
url = "http://127.0.0.1:8188/"   # keep this comment

[profiles.queue]
edition = "api"
input_url = "http://127.0.0.1:9000/api/predict/comfy-svc"
service = "comfy-svc"          # derived from input_url anyway
token = "queue-secret-token-1234"
oss_bucket_path = "oss://bucket/prefix"
"""


class ProfilesApp(App[None]):
    """The profiles pane alone, its requests handled the way the main screen handles them."""

    def __init__(self, config: Config, config_file: Path) -> None:
        super().__init__()
        self.config = config
        self.editing = ProfileEditing(self, fallback_file=config_file, changed=self._changed)
        self.saved_events: list[ConfigChange] = []

    def compose(self) -> ComposeResult:
        yield ProfileList(id="profiles")

    def on_mount(self) -> None:
        self.query_one(ProfileList).focus()

    def on_profile_list_open_requested(self, event: ProfileList.OpenRequested) -> None:
        self.editing.open_form(event.name)

    def on_profile_list_delete_requested(self, event: ProfileList.DeleteRequested) -> None:
        self.editing.delete(event.name, event.in_flight)

    def _changed(self, change: ConfigChange) -> None:
        self.saved_events.append(change)
        renamed = (change.renamed_from, change.saved) if change.renamed_from and change.saved else None
        profiles = self.query_one(ProfileList)
        profiles.config_changed(renamed=renamed)
        if change.saved:
            profiles.highlight(change.saved)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG_TEXT)
    return path


def form(app: App[None]) -> ProfileFormScreen:
    screen = app.screen
    assert isinstance(screen, ProfileFormScreen)
    return screen


def error_text(screen: ProfileFormScreen, key: str) -> str:
    label = screen.query_one(f"#error-{key}" if key != "general" else "#form-general-error", Static)
    return str(label.content) if label.has_class("-shown") else ""


def fill(screen: ProfileFormScreen, **values: str) -> None:
    for key, value in values.items():
        screen.query_one(f"#form-{key}", Input).value = value


async def test_add_profile_through_the_form(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = form(app)
        assert screen.query_one("#form-token", Input).password  # the token is typed masked
        assert screen.query_one("#row-input_url").display and not screen.query_one("#row-url").display
        await pilot.press(*"artlab")  # typed into the focused name field
        fill(
            screen,
            input_url="http://127.0.0.1:9100/api/predict/artlab-svc/",
            token="artlab-token-abcdef",
            oss_bucket_path="oss://art-bucket/comfy/",
            window="8",
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)

        text = config_file.read_text()
        assert "# comfyq profiles — my notes stay here" in text
        assert "# keep this comment" in text and "# the local box" in text
        reread = load_config(config_file)
        profile = reread.profiles["artlab"]
        assert profile.edition is Edition.API
        assert profile.service == "artlab-svc" and profile.endpoint == "127.0.0.1:9100"
        assert profile.token == "artlab-token-abcdef"
        assert profile.oss_bucket_path == "oss://art-bucket/comfy"
        assert profile.window == 8
        assert "consumer_group" not in text  # left at its default: not written

        assert [event.saved for event in app.saved_events] == ["artlab"]
        assert "artlab" in app.saved_events[0].config.profiles
        profiles = app.query_one(ProfileList)
        assert "artlab" in profiles.config.profiles
        assert profiles.highlighted_profile == "artlab"


async def test_dedicated_form_shows_its_fields_and_saves(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = form(app)
        screen.query_one("#form-edition", Select).value = "dedicated"
        await pilot.pause()
        for key in ("input_url", "consumer_group", "window"):
            assert not screen.query_one(f"#row-{key}").display
        assert screen.query_one("#row-url").display
        fill(screen, name="box2", url="http://127.0.0.1:8189/", token_env="BOX2_TOKEN")
        await pilot.press("ctrl+s")
        await pilot.pause()
        # BOX2_TOKEN is not set: the loader's rule, shown next to the field, and nothing saved.
        assert "environment variable BOX2_TOKEN is not set" in error_text(screen, "token_env")
        assert config_file.read_text() == CONFIG_TEXT
        fill(screen, token_env="")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)
        profile = load_config(config_file).profiles["box2"]
        assert profile.edition is Edition.DEDICATED and profile.url == "http://127.0.0.1:8189"
        assert profile.token is None


async def test_validation_errors_are_shown_and_nothing_is_saved(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = form(app)
        await pilot.press("ctrl+s")  # an empty form: every problem at once
        await pilot.pause()
        assert "must not be empty" in error_text(screen, "name")
        assert "required" in error_text(screen, "input_url")
        fill(
            screen,
            name="broken",
            input_url="ftp://somewhere/api/predict/x",
            token="abc-secret-value",
            token_env="SOME_VAR",
            oss_bucket_path="oss://bucket/../escape",
            window="0",
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ProfileFormScreen)
        assert "scheme must be http or https" in error_text(screen, "input_url")
        assert "either token or token_env" in error_text(screen, "token_env")
        assert ".." in error_text(screen, "oss_bucket_path")
        assert "at least 1" in error_text(screen, "window")
        assert "abc-secret-value" not in "".join(error_text(screen, key) for key in ("token", "token_env", "general"))
        assert config_file.read_text() == CONFIG_TEXT
        assert app.saved_events == []

        # An existing name is refused too (saving would merge into that profile).
        fill(screen, name="local", input_url="http://127.0.0.1:9000/api/predict/x", token_env="",
             oss_bucket_path="", window="")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "already exists" in error_text(screen, "name")
        assert error_text(screen, "input_url") == ""
        assert config_file.read_text() == CONFIG_TEXT

        # Fixing a field clears its message as soon as it is edited.
        fill(screen, name="")
        await pilot.pause()
        assert error_text(screen, "name") == ""
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)
        assert config_file.read_text() == CONFIG_TEXT


async def test_edit_and_rename_profile(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        profiles = app.query_one(ProfileList)
        profiles.highlighted = 1  # queue
        profiles.set_active("queue")
        await pilot.press("E")
        await pilot.pause()
        screen = form(app)
        values = screen.values()
        assert values["name"] == "queue"
        assert values["input_url"] == "http://127.0.0.1:9000/api/predict/comfy-svc"
        assert values["token"] == "queue-secret-token-1234"
        assert values["oss_bucket_path"] == "oss://bucket/prefix"
        fill(screen, name="queue2", oss_bucket_path="oss://other-bucket/p")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)
        reread = load_config(config_file)
        assert "queue" not in reread.profiles
        assert reread.profiles["queue2"].oss_bucket_path == "oss://other-bucket/p"
        assert reread.profiles["queue2"].token == "queue-secret-token-1234"
        assert "# keep this comment" in config_file.read_text()
        assert app.saved_events[-1].saved == "queue2" and app.saved_events[-1].renamed_from == "queue"
        assert profiles.active_profile == "queue2"

        # Switching a profile's edition removes the other edition's keys from the file.
        profiles.highlighted = 0  # local
        await pilot.press("E")
        await pilot.pause()
        screen = form(app)
        screen.query_one("#form-edition", Select).value = "api"
        await pilot.pause()
        fill(screen, input_url="http://127.0.0.1:9200/api/predict/svc")
        await pilot.press("ctrl+s")
        await pilot.pause()
        local = load_config(config_file).profiles["local"]
        assert local.edition is Edition.API and local.url is None
        assert "8188" not in config_file.read_text()

        # ... and keys the form does not show (service) too.
        profiles.highlighted = 1  # queue2
        await pilot.press("E")
        await pilot.pause()
        screen = form(app)
        screen.query_one("#form-edition", Select).value = "dedicated"
        await pilot.pause()
        fill(screen, url="http://127.0.0.1:8190")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen), error_text(screen, "general")
        queue2 = load_config(config_file).profiles["queue2"]
        assert queue2.edition is Edition.DEDICATED and queue2.service is None
        assert "service" not in config_file.read_text()


async def test_delete_profile_with_confirm(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        profiles = app.query_one(ProfileList)
        profiles.highlighted = 1  # queue
        await pilot.press("delete")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # changed my mind
        await pilot.pause()
        assert config_file.read_text() == CONFIG_TEXT

        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        reread = load_config(config_file)
        assert list(reread.profiles) == ["local"]
        assert "# the local box" in config_file.read_text() and "request_timeout = 20" in config_file.read_text()
        assert app.saved_events[-1].deleted == "queue"
        assert list(profiles.config.profiles) == ["local"]

        # The last profile cannot go: comfyq needs one.
        await pilot.press("delete")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert "local" in load_config(config_file).profiles


async def test_first_save_without_a_config_file_creates_it(tmp_path: Path) -> None:
    config_file = tmp_path / "new" / "config.toml"
    app = ProfilesApp(builtin_config(), config_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.pause()
        fill(form(app), name="mine", input_url="http://127.0.0.1:9000/api/predict/svc")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert config_file.exists()
        assert config_file.stat().st_mode & 0o777 == 0o600  # it may hold tokens
        reread = load_config(config_file)
        assert list(reread.profiles) == ["local", "mine"]  # the built-in profile is kept
        assert app.saved_events[-1].config.path == config_file


async def test_first_profile_in_a_config_with_only_ui_keeps_the_built_in_one(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[ui]\ntheme = "nord"\n', encoding="utf-8")
    app = ProfilesApp(load_config(config_file, explicit=True), config_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.pause()
        fill(form(app), name="mine", input_url="http://127.0.0.1:9000/api/predict/svc")
        await pilot.press("ctrl+s")
        await pilot.pause()
        reread = load_config(config_file)
        assert list(reread.profiles) == ["local", "mine"] and reread.theme == "nord"


async def test_list_shows_token_masked_and_source_state(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        profiles = app.query_one(ProfileList)
        profiles.update_status(
            SourceStatus("queue", SourceState.RECONNECTING, last_seen=None, error="connection refused",
                         queue_length=3, consumers=2)
        )
        await pilot.pause()
        rendered = "\n".join(
            str(profiles.get_option_at_index(index).prompt.renderables[line])  # type: ignore[union-attr]
            for index in range(profiles.option_count)
            for line in range(len(profiles.get_option_at_index(index).prompt.renderables))  # type: ignore[union-attr]
        )
        assert "queue-secret-token-1234" not in rendered
        assert "queu…(23)" in rendered and "no token" in rendered
        assert "reconnecting" in rendered and "queue 3" in rendered and "2 consumers" in rendered
        assert "connection refused" in rendered


async def test_saving_an_untouched_profile_changes_nothing(config_file: Path) -> None:
    app = ProfilesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("E")  # local: its url is written with a trailing slash the loader drops
        await pilot.pause()
        assert form(app).values()["url"] == "http://127.0.0.1:8188"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)
        assert config_file.read_text() == CONFIG_TEXT
        assert app.saved_events[-1].saved == "local"


# ------------------------------------------------------------------------------------------------ snapshots

SnapCompare = Callable[..., bool]
SHOWN_CONFIG_FILE = Path("/home/me/.config/comfyq/config.toml")  # a fixed path for the form's hint (never written)


def snapshot_app(config_file: Path) -> ProfilesApp:
    config = dataclasses.replace(load_config(config_file), path=SHOWN_CONFIG_FILE)
    return ProfilesApp(config, SHOWN_CONFIG_FILE)


def steady(app: App[None]) -> None:
    for widget in app.screen.query(Input).results(Input):
        widget.cursor_blink = False


def test_snapshot_form_with_errors(snap_compare: SnapCompare, config_file: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await pilot.press("n")
        await pilot.pause()
        fill(form(pilot.app), name="artlab", input_url="ftp://artlab/api/predict/x", token="t0ken-value-xyz",
             token_env="ARTLAB_TOKEN", window="0")
        await pilot.press("ctrl+s")
        await pilot.pause()
        steady(pilot.app)

    assert snap_compare(snapshot_app(config_file), terminal_size=SIZE, run_before=run_before)
    assert not SHOWN_CONFIG_FILE.exists()


def test_snapshot_edit_form_small_terminal(snap_compare: SnapCompare, config_file: Path) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.query_one(ProfileList).highlighted = 1  # queue: its token shows masked
        await pilot.press("E")
        await pilot.pause()
        steady(pilot.app)

    assert snap_compare(snapshot_app(config_file), terminal_size=(80, 24), run_before=run_before)
