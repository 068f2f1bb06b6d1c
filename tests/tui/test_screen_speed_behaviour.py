"""What the speed work of issue 13 must not change: a form made once shows each profile as a fresh form; repaints
of only the changed lines still show the new state; the escape key still closes a screen in a real terminal.

How fast these are is measured by bench/keys.py and the start-up figure's idle row, never here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Select, Static

from bench._pty import TerminalProcess
from screens.profile_editing import ConfigChange, ProfileEditing
from screens.profile_form import ProfileFormScreen
from tui.core.backends.base import SourceState, SourceStatus
from tui.core.config import Config, load_config
from tui.terminal_driver import IDLE_SELECT_SECONDS, PromptEscapeDriver, select_timeout
from tui.widgets.profile_list import ProfileList
from tui.widgets.status_bar import StatusBar

SIZE = (120, 36)
CONFIG_TEXT = """\
[profiles.local]
edition = "dedicated"
url = "http://127.0.0.1:8188"

[profiles.queue]
edition = "api"
input_url = "http://127.0.0.1:9000/api/predict/comfy-svc"
token = "queue-secret-token-1234"
"""


class PanesApp(App[None]):
    """The profiles pane and the status bar, profile requests handled as the main screen handles them."""

    def __init__(self, config: Config, config_file: Path) -> None:
        super().__init__()
        self.config = config
        self.editing = ProfileEditing(self, fallback_file=config_file, changed=self._changed)
        self.changes: list[ConfigChange] = []

    def compose(self) -> ComposeResult:
        yield ProfileList(id="profiles")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.query_one(ProfileList).focus()
        self.query_one(StatusBar).set_profiles(list(self.config.profiles))

    def on_profile_list_open_requested(self, event: ProfileList.OpenRequested) -> None:
        self.editing.open_form(event.name)

    def _changed(self, change: ConfigChange) -> None:
        self.changes.append(change)
        self.query_one(ProfileList).config_changed()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG_TEXT)
    return path


def _values(screen: ProfileFormScreen) -> dict[str, str]:
    return {key: widget.value for key, widget in ((w.id or "", w) for w in screen.query(Input).results(Input))}


def _shown_errors(screen: ProfileFormScreen) -> list[str]:
    return [str(label.content) for label in screen.query(".form-error").results(Static) if label.has_class("-shown")]


def _screen_text(app: App[None]) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_the_form_made_once_shows_each_profile_as_a_fresh_form(config_file: Path) -> None:
    app = PanesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.pause()
        first = app.screen
        assert isinstance(first, ProfileFormScreen) and first.query_one("#form").border_title == "New profile"
        await pilot.press(*"half")  # typed into the name, then an empty save shows the problems
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert _shown_errors(first)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)

        await pilot.press("down", "E")  # the second profile: the API one, with a token in the file
        await pilot.pause()
        assert app.screen is first  # the same screen, filled in anew
        assert first.query_one("#form").border_title == "Edit profile queue"
        values = _values(first)
        assert values["form-name"] == "queue"
        assert values["form-input_url"] == "http://127.0.0.1:9000/api/predict/comfy-svc"
        assert values["form-token"] == "queue-secret-token-1234"
        assert first.query_one("#form-edition", Select).value == "api"
        assert not _shown_errors(first)  # the last form's problems are gone
        assert first.focused is first.query_one("#form-name", Input)
        assert first.query_one("#row-input_url").display and not first.query_one("#row-url").display
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("up", "E")  # the dedicated one: its fields, not the API profile's
        await pilot.pause()
        assert first.query_one("#form").border_title == "Edit profile local"
        assert first.query_one("#form-edition", Select).value == "dedicated"
        assert first.query_one("#row-url").display and not first.query_one("#row-input_url").display
        assert _values(first)["form-url"] == "http://127.0.0.1:8188"
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("n")  # new again: empty, not what was typed or shown before
        await pilot.pause()
        assert first.query_one("#form").border_title == "New profile"
        assert all(value == "" for value in _values(first).values())
        await pilot.press(*"second")
        first.query_one("#form-input_url", Input).value = "http://127.0.0.1:9001/api/predict/second"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ProfileFormScreen)
        assert [change.saved for change in app.changes] == ["second"]
        assert "second" in load_config(config_file).profiles


async def test_a_changed_status_line_is_repainted_with_the_new_state(config_file: Path) -> None:
    """Only the changed lines are repainted now: they must show the new state, not a cached old line."""
    app = PanesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        profiles = app.query_one(ProfileList)
        profiles.update_status(SourceStatus("local", SourceState.CONNECTED, last_seen=None))
        await pilot.pause()
        assert "✔ connected" in _screen_text(app)
        profiles.tick()  # nothing new: still the same
        await pilot.pause()
        assert "✔ connected" in _screen_text(app)
        profiles.update_status(SourceStatus("local", SourceState.RECONNECTING, last_seen=None, error="refused"))
        await pilot.pause()
        text = _screen_text(app)
        assert "reconnecting" in text and "refused" in text  # a line more: the whole list is rebuilt
        profiles.update_status(SourceStatus("local", SourceState.DEGRADED, last_seen=None, error="slow"))
        await pilot.pause()
        text = _screen_text(app)
        assert "◐ degraded" in text and "slow" in text and "reconnecting" not in text and "refused" not in text
        # An error folded over several lines, then another as long: the option is repainted whole, not line by line.
        for word in ("first", "second"):
            error = f"{word} " + "answers take longer than the deadline " * 4
            profiles.update_status(SourceStatus("local", SourceState.DEGRADED, last_seen=None, error=error))
            await pilot.pause()
        text = _screen_text(app).replace("\n", " ")
        assert "second" in text and "first" not in text and "slow" not in text


async def test_the_status_bar_repaints_only_when_what_it_shows_changed(config_file: Path) -> None:
    app = PanesApp(load_config(config_file), config_file)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(StatusBar)
        repaints: list[None] = []
        original = bar.refresh

        def counting_refresh(*args: object, **kwargs: object) -> StatusBar:
            repaints.append(None)
            return original(*args, **kwargs)  # type: ignore[arg-type]

        bar.refresh = counting_refresh  # type: ignore[method-assign]
        bar.update_status(SourceStatus("local", SourceState.CONNECTED, last_seen=1.0))
        await pilot.pause()
        assert repaints and "local ✔ connected" in bar.render().plain
        repaints.clear()
        bar.update_status(SourceStatus("local", SourceState.CONNECTED, last_seen=2.0))  # only last_seen moved
        bar.counts = dict(bar.counts)  # the same counts, a new dict
        await pilot.pause()
        assert not repaints
        bar.update_status(SourceStatus("local", SourceState.ERROR, last_seen=2.0, error="401 unauthorized"))
        await pilot.pause()
        assert repaints and "local ✘ auth" in bar.render().plain


def test_the_input_thread_waits_for_input_only_until_an_escape_is_due() -> None:
    assert select_timeout(None, 100.0) == IDLE_SELECT_SECONDS
    assert select_timeout(100.025, 100.0) == pytest.approx(0.025)
    assert select_timeout(99.0, 100.0) == 0.0  # overdue: look at once
    assert select_timeout(200.0, 100.0) == IDLE_SELECT_SECONDS


def test_comfyq_uses_the_prompt_escape_driver_unless_another_is_asked_for(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual import constants

    from tui.app import ComfyqApp

    class Probe(ComfyqApp):
        def __init__(self) -> None:  # only the driver choice is looked at: nothing else is built
            pass

    monkeypatch.setattr(constants, "DRIVER", None)
    assert Probe().get_driver_class() is PromptEscapeDriver
    monkeypatch.setattr(constants, "DRIVER", "textual.drivers.headless_driver:HeadlessDriver")
    assert Probe().get_driver_class().__name__ == "HeadlessDriver"  # e.g. the web driver of `comfyq serve`


@pytest.mark.timeout(120)
def test_a_lone_escape_from_a_real_terminal_closes_the_help(config_file: Path, tmp_path: Path) -> None:
    """The installed program in a pty: `?` opens the help, the ESC byte a terminal sends for the escape key closes it
    (tui/terminal_driver.py answers it once the escape wait is over)."""
    script = Path(sys.executable).parent / "comfyq"
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")}
    argv = [str(script), "--config", str(config_file), "--data-dir", str(tmp_path / "data")]
    with TerminalProcess(argv, env=env, cwd=tmp_path) as terminal:
        terminal.wait_for(lambda lines: any("Profiles" in line for line in lines), 60, "the main screen")
        terminal.send("?")
        terminal.wait_for(lambda lines: any("comfyq keys" in line for line in lines), 30, "the help")
        terminal.send("\x1b")
        terminal.wait_for(lambda lines: not any("comfyq keys" in line for line in lines), 30, "the help closed")
        terminal.send("q")
        terminal.process.wait(30)


@pytest.mark.timeout(120)
def test_sequences_that_begin_with_esc_are_not_the_escape_key_with_the_default_wait(
    config_file: Path, tmp_path: Path
) -> None:
    """With comfyq's own escape wait (10 ms, no ESCDELAY of the user's): an arrow key's and an alt key's bytes, written
    at once as a terminal writes them, stay those keys — the help stays open — and a lone ESC still closes it."""
    script = Path(sys.executable).parent / "comfyq"
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_") and key != "ESCDELAY"}
    argv = [str(script), "--config", str(config_file), "--data-dir", str(tmp_path / "data")]
    with TerminalProcess(argv, env=env, cwd=tmp_path) as terminal:
        terminal.wait_for(lambda lines: any("Profiles" in line for line in lines), 60, "the main screen")
        terminal.send("?")
        terminal.wait_for(lambda lines: any("comfyq keys" in line for line in lines), 30, "the help")
        # ↓ then ↑ (the help scrolls a line and back: its title is in view again), alt+x, alt+↓.
        for sequences in (("\x1b[B", "\x1b[A"), ("\x1bx",), ("\x1b[1;3B",)):
            for sequence in sequences:
                terminal.send(sequence)
                time.sleep(0.3)  # far longer than the wait: a sequence taken for esc would have closed the help
            assert any("comfyq keys" in line for line in terminal.display()), f"{sequences!r} closed the help"
        terminal.send("\x1b")
        terminal.wait_for(lambda lines: not any("comfyq keys" in line for line in lines), 30, "the help closed")
        terminal.send("q")
        terminal.process.wait(30)
