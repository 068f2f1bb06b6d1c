"""The workflow editor asks for a path by message and the screen shows the dialog (design.md: widgets post
requests, screens push modals): ctrl+o / shift+F2 post `WorkflowEditor.PathRequested`, the main screen's
`WorkflowPathDialogs` pushes the open / save-as dialog, and the chosen path comes back through the editor's
`open_file` / `save_to`. Driven through the real app on a seeded store with nothing to contact."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Button, Input

from screens.main import MainScreen
from screens.open_workflow import OpenWorkflowScreen, PathInput, WorkflowPathDialogs
from tui.app import ComfyqApp
from tui.core.recent import RecentFiles
from tui.core.workflow import parse_workflow, seed_workflow
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.workflow_editor import WorkflowEditor

from tests.tui.conftest import OFFLINE_CONFIG, app_on, jobs_table, running, seeded_dirs, wait_for
from tests.tui.editor_app import EditorApp, write_workflow

ROOT = Path(__file__).resolve().parents[2]


class PathRequests:
    """Every `PathRequested` the app handled, once each (the hook sees a message at each node it bubbles through)."""

    def __init__(self) -> None:
        self._seen: dict[int, WorkflowEditor.PathRequested] = {}

    def hook(self, message: Message) -> None:
        if isinstance(message, WorkflowEditor.PathRequested):
            self._seen.setdefault(id(message), message)

    @property
    def all(self) -> list[WorkflowEditor.PathRequested]:
        return list(self._seen.values())


def offline_app(tmp_path: Path) -> ComfyqApp:
    return app_on(seeded_dirs(tmp_path / "user", OFFLINE_CONFIG))


async def dialog_after(pilot: Pilot[int], app: ComfyqApp, key: str, what: str) -> OpenWorkflowScreen:
    """Press ``key`` and wait for the open / save-as dialog it brings up."""
    await pilot.press(key)
    return await wait_for(pilot, lambda: app.screen if isinstance(app.screen, OpenWorkflowScreen) else None, what)


def focus_the_editor(app: ComfyqApp) -> WorkflowEditor:
    """The focus in the editor (its "steps" field), so its own keys answer; returns the editor."""
    steps_field(app).focus()
    return app.screen.query_one(WorkflowEditor)


def steps_field(app: ComfyqApp) -> Input:
    field = app.screen.query_one(ParametersForm).field_widget("3.steps")
    assert isinstance(field, Input)
    return field


async def test_ctrl_o_in_the_editor_asks_the_main_screen_which_shows_the_dialog_and_opens_the_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    wanted = flows / "night.json"
    expected = write_workflow(wanted, 27)
    monkeypatch.chdir(flows)  # with no file of its own the editor starts the dialog in the current folder
    app = offline_app(tmp_path)
    requests = PathRequests()
    async with running(app, message_hook=requests.hook) as pilot:
        editor = focus_the_editor(app)
        dialog = await dialog_after(pilot, app, "ctrl+o", "the open dialog over the main screen")
        assert isinstance(app.screen_stack[-2], MainScreen)
        [request] = requests.all
        assert request.editor is editor and request.purpose == "open" and dialog.mode == "open"
        assert request.initial == str(flows) + os.sep
        path_input = dialog.query_one("#path", PathInput)
        assert path_input.value == request.initial  # the dialog starts where the editor said

        path_input.value = request.initial + "night.json"
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.path == wanted, "the chosen file to open")
        assert isinstance(app.screen, MainScreen)
        assert editor.text == wanted.read_text(encoding="utf-8") and editor.workflow == expected
        assert not editor.dirty and "night.json" in str(editor.border_title)
        assert RecentFiles.in_data_dir(app.options.locations.data_dir).load() == [wanted]

        # The screen's own ctrl+o (focus in the jobs table) goes the same way: through the editor's request,
        # and the dialog now lists the file just opened.
        jobs_table(app).focus()
        dialog = await dialog_after(pilot, app, "ctrl+o", "the open dialog again")
        assert len(requests.all) == 2 and requests.all[1].editor is editor
        assert requests.all[1].recent == [wanted] and dialog.recent == [wanted]
        assert dialog.query_one(PathInput).value == str(flows) + os.sep  # the folder of the editor's file


async def test_save_as_writes_where_chosen_and_a_later_f2_saves_there_without_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "out" / "mine.json"
    target.parent.mkdir()
    app = offline_app(tmp_path)
    requests = PathRequests()
    async with running(app, message_hook=requests.hook) as pilot:
        editor = focus_the_editor(app)
        dialog = await dialog_after(pilot, app, "shift+f2", "the save-as dialog")
        [request] = requests.all
        assert request.purpose == "save" and dialog.mode == "save"
        assert dialog.query_one(PathInput).value == str(tmp_path) + os.sep + "workflow.json"
        dialog.query_one(PathInput).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, "the file written where chosen")
        assert parse_workflow(target.read_text(encoding="utf-8")) == seed_workflow()
        assert editor.path == target and not editor.dirty and "mine.json" in str(editor.border_title)
        assert RecentFiles.in_data_dir(app.options.locations.data_dir).load() == [target]
        assert not (tmp_path / "workflow.json").exists()  # only where the user said

        # The editor has its file now: F2 writes it straight away, no dialog and no request.
        steps = steps_field(app)
        steps.focus()
        await pilot.press("end", "backspace", "backspace", "9")
        await wait_for(pilot, lambda: editor.dirty, "the edit")
        await pilot.press("f2")
        await wait_for(pilot, lambda: not editor.dirty, "the save")
        assert parse_workflow(target.read_text(encoding="utf-8")).nodes["3"]["inputs"]["steps"] == 9
        assert len(requests.all) == 1 and isinstance(app.screen, MainScreen)


async def test_cancelling_either_dialog_leaves_the_editor_as_it_was(tmp_path: Path) -> None:
    original = tmp_path / "flow.json"
    write_workflow(original, 20)
    app = offline_app(tmp_path)
    async with running(app) as pilot:
        editor = app.screen.query_one(WorkflowEditor)
        assert editor.open_file(original)
        steps = steps_field(app)
        steps.focus()
        await pilot.press("end", "backspace", "backspace", "3", "3")
        await wait_for(pilot, lambda: editor.dirty, "an unsaved edit")
        text, title = editor.text, str(editor.border_title)
        files = sorted(tmp_path.iterdir())
        recent = RecentFiles.in_data_dir(app.options.locations.data_dir).load()

        await dialog_after(pilot, app, "ctrl+o", "the open dialog")
        app.screen.query_one(PathInput).value = str(tmp_path / "other.json")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the open dialog to close")

        steps.focus()
        await dialog_after(pilot, app, "shift+f2", "the save-as dialog")
        app.screen.query_one(PathInput).value = str(tmp_path / "copy.json")
        await pilot.click(app.screen.query_one("#cancel", Button))
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the save-as dialog to close")

        assert editor.text == text and editor.path == original and editor.dirty and str(editor.border_title) == title
        assert "●" in title
        assert sorted(tmp_path.iterdir()) == files  # nothing written
        assert original.read_text(encoding="utf-8") != text + "\n"  # the file still holds the saved version
        assert RecentFiles.in_data_dir(app.options.locations.data_dir).load() == recent


async def test_a_second_request_while_the_dialog_is_coming_shows_one_dialog(tmp_path: Path) -> None:
    """Two requests queued before the first is handled (ctrl+o twice in one go): one dialog, one esc closes it."""
    app = offline_app(tmp_path)
    async with running(app) as pilot:
        editor = app.screen.query_one(WorkflowEditor)
        editor.action_open()
        editor.action_save_as()
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the dialog")
        await pilot.pause()
        assert sum(isinstance(screen, OpenWorkflowScreen) for screen in app.screen_stack) == 1
        assert app.screen.mode == "open"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen back")


def test_the_main_screen_and_the_editor_test_app_share_one_handler() -> None:
    handler = WorkflowPathDialogs.on_workflow_editor_path_requested
    assert WorkflowEditor.PathRequested.handler_name == handler.__name__
    assert MainScreen.on_workflow_editor_path_requested is handler
    assert EditorApp.on_workflow_editor_path_requested is handler


def test_importing_the_editor_loads_nothing_from_screens() -> None:
    code = (
        "import sys\n"
        "import tui.widgets.workflow_editor\n"
        "loaded = sorted(m for m in sys.modules if m == 'screens' or m.startswith('screens.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


SCREEN_CALLS = {"push_screen", "switch_screen", "install_screen", "uninstall_screen"}


def screen_use_in(path: Path) -> list[str]:
    """Where a module imports from `screens` or calls a screen-stack method (file:line and what)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path.name}:{node.lineno} imports {name}" for name in names
                  if name == "screens" or name.startswith("screens.")]
        if isinstance(node, ast.Attribute) and node.attr in SCREEN_CALLS:
            found.append(f"{path.name}:{node.lineno} uses {node.attr}")
    return found


def test_no_widget_imports_screens_or_pushes_one() -> None:
    """Widgets post requests; screens (or the app) push modals (design.md). Checked over every widget module."""
    widgets = sorted((ROOT / "tui" / "widgets").glob("*.py"))
    assert any(path.name == "workflow_editor.py" for path in widgets)
    assert [use for path in widgets for use in screen_use_in(path)] == []


def test_the_widget_check_sees_an_import_and_a_push(tmp_path: Path) -> None:
    """The check above would catch the old editor (an import from screens and a push_screen call)."""
    old = tmp_path / "old_editor.py"
    old.write_text(
        "from screens.open_workflow import OpenWorkflowScreen\n"
        "def action_open(self):\n"
        "    self.app.push_screen(OpenWorkflowScreen('open'))\n",
        encoding="utf-8",
    )
    assert screen_use_in(old) == [
        "old_editor.py:1 imports screens.open_workflow",
        "old_editor.py:3 uses push_screen",
    ]
