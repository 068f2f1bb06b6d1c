"""The workflow editor pane, driven through the Pilot: live validation, the parameters form both ways, files,
recent files, $EDITOR — in a tiny app that mounts only the editor, and once through the real ComfyqApp."""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, Label, OptionList, Static, Tab, TabPane, Tabs

from screens.open_workflow import OpenWorkflowScreen, PathInput, complete_path
from tui.core.recent import RECENT_FILE_NAME, RecentFiles
from tui.core.workflow import SEED_MAX, UI_FORMAT_MESSAGE, Workflow, parse_workflow, seed_workflow
from tui.core.external_editor import ExternalEditorError, edit_text_externally, external_editor_command
from tui.core.json_text import find_input_value_span
from tui.widgets.json_text_area import JsonTextArea
from tui.widgets.parameters_form import MAX_FIELDS, ParametersForm
from tui.widgets.submit_bar import SubmitBar
from tui.widgets.workflow_editor import JSON_TAB, PARAMS_TAB, WorkflowEditor

from tests.tui.conftest import SIZE, wait_for
from tests.tui.editor_app import EditorApp, editor_of, write_workflow


class SuspendingEditorApp(EditorApp):
    """The headless driver cannot hand the terminal over (App.suspend raises SuspendNotSupported there). This app
    stands in for a real terminal's suspend so the rest of the $EDITOR flow runs for real: temp file, the editor
    process named by $VISUAL/$EDITOR, reading it back, validation, form update."""

    suspended = 0

    @contextmanager
    def suspend(self) -> Iterator[None]:  # type: ignore[override]
        self.suspended += 1
        yield


def status_of(app: App) -> str:
    return str(app.query_one("#workflow-status", Label).render())


def area_of(app: App) -> JsonTextArea:
    return app.query_one("#workflow-text", JsonTextArea)


def form_of(app: App) -> ParametersForm:
    return app.query_one(ParametersForm)


def focus_json(app: App) -> JsonTextArea:
    """The JSON tab shown and its text area focused, where typing goes."""
    editor_of(app).show_view(JSON_TAB)
    area = area_of(app)
    area.focus()
    return area


def location_of(text: str, needle: str, after: int = 0) -> tuple[int, int]:
    """(row, column) of the first `needle` in `text`, `after` characters past its start."""
    offset = text.index(needle) + after
    return text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


# ----------------------------------------------------------------------------------------------- validation


async def test_invalid_json_shows_line_and_column_blocks_and_fixing_validates(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        assert editor.workflow is not None and status_of(app).startswith("✔")
        area = focus_json(app)
        # Delete the comma after "steps": 20 — the next line then lacks its ',' delimiter.
        row, column = location_of(area.text, '"steps": 20,', len('"steps": 20,'))
        area.move_cursor((row, column))
        await pilot.press("backspace")
        await wait_for(pilot, lambda: editor.workflow is None, "the edit to invalidate the workflow")

        error = editor.error
        assert error is not None and error.line == row + 2  # JSON complains at the next key, 1-based lines
        assert error.message == "invalid JSON: Expecting ',' delimiter"
        assert status_of(app) == f"✘ line {error.line}:{error.column} invalid JSON: Expecting ',' delimiter"
        assert area.error_location == (error.line - 1, error.column - 1)

        # Submit's guard: focus_error jumps to the position in the JSON tab.
        area.move_cursor((0, 0))
        editor.show_view(PARAMS_TAB)
        editor.focus_error()
        await pilot.pause()
        assert editor_of(app).active_view == JSON_TAB
        assert area.has_focus and area.cursor_location == (error.line - 1, error.column - 1)

        # Typing the comma back makes it valid again and clears the marker.
        area.move_cursor((row, column - 1))
        await pilot.press("comma")
        await wait_for(pilot, lambda: editor.workflow is not None, "the fix to validate")
        assert editor.error is None and area.error_location is None
        assert status_of(app).startswith("✔ valid")
        assert editor.workflow == seed_workflow()


async def test_ui_format_workflow_gets_the_export_message(data_dir: Path) -> None:
    app = EditorApp(None, data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        assert editor.workflow is None and "empty" in status_of(app)
        area_of(app).load_text(json.dumps({"last_node_id": 9, "nodes": [{"id": 3}], "links": []}, indent=2))
        await wait_for(pilot, lambda: UI_FORMAT_MESSAGE in status_of(app), "the UI-format message")
        assert editor.workflow is None and editor.error is not None
        assert editor.error.message == UI_FORMAT_MESSAGE
        assert form_of(app).workflow is None  # the form cannot edit a broken workflow


# ----------------------------------------------------------------------------------------------- form <-> JSON


async def test_form_edit_rewrites_only_that_value_in_the_json(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        area = area_of(app)
        area.move_cursor((4, 3))
        before = area.text.splitlines()
        steps = form_of(app).field_widget("3.steps")
        assert isinstance(steps, Input) and steps.value == "20"
        steps.focus()
        await pilot.press("end", "backspace", "backspace", "3", "5")
        await wait_for(pilot, lambda: '"steps": 35' in area.text, "the JSON to get the new steps")

        after = area.text.splitlines()
        changed = [(old, new) for old, new in zip(before, after) if old != new]
        assert len(before) == len(after) and changed == [('      "steps": 20,', '      "steps": 35,')]
        assert editor.workflow is not None and editor.workflow.nodes["3"]["inputs"]["steps"] == 35
        assert area.cursor_location == (4, 3)  # the JSON cursor stays where it was
        assert steps.value == "35" and steps.has_focus  # the typist keeps the field

        # A prompt is a text area; its text goes to the JSON as a JSON string.
        prompt = form_of(app).field_widget("7.text")
        prompt.focus()
        await pilot.press("end", "!")
        await wait_for(pilot, lambda: '"text": "text, watermark!"' in area.text, "the prompt in the JSON")


def screen_cells(app: App) -> list[list[tuple[str, object, object, bool]]]:
    """Every cell of the screen as (character, colour, background, bold): what the terminal shows (a space shows
    only its background)."""
    rows = []
    for strip in app.screen._compositor.render_strips():
        row = []
        for segment in strip:
            style = segment.style
            background = style.bgcolor if style else None
            for character in segment.text:
                if character == " ":
                    row.append((" ", None, background, False))
                else:
                    row.append((character, style and style.color, background, bool(style and style.bold)))
        rows.append(row)
    return rows


async def test_invalid_form_input_shows_inline_error_and_leaves_json_alone(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        steps = form_of(app).field_widget("3.steps")
        steps.focus()
        await pilot.press("end", "backspace")  # "2": still a value, so the JSON follows
        await wait_for(pilot, lambda: '"steps": 2,' in area_of(app).text, "the JSON to follow a valid edit")
        text_before = area_of(app).text
        await pilot.press("backspace", "a", "b", "c")
        await wait_for(pilot, lambda: "abc" in form_of(app).errors.get("3.steps", ""), "the inline error")

        message = '3.steps (KSampler) takes an integer; "abc" is not one'
        assert form_of(app).errors == {"3.steps": message}
        error_label = next(label for label in app.query(".param-error").results(Label) if label.has_class("-shown"))
        assert str(error_label.render()) == '✘ takes an integer; "abc" is not one'  # the field names the rest
        assert steps.has_class("-invalid")
        assert area_of(app).text == text_before
        # Submitting now would send a value the user no longer sees: blocked, and focus_error goes to the field.
        assert editor.workflow is None and editor.error is not None and editor.error.message == message
        assert status_of(app) == f"✘ parameters: {message}"
        steps.blur()
        editor.focus_error()
        await pilot.pause()
        assert steps.has_focus

        await pilot.press("ctrl+u", "2", "8")  # ctrl+u: delete to the start of the input
        await wait_for(pilot, lambda: editor.workflow is not None, "the fixed field to validate")
        assert form_of(app).errors == {} and not steps.has_class("-invalid")
        assert editor.workflow.nodes["3"]["inputs"]["steps"] == 28


async def test_json_edit_updates_the_form_without_a_loop(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        area = focus_json(app)
        row, column = location_of(area.text, '"steps": 20', len('"steps": '))
        area.move_cursor((row, column))
        await pilot.press("delete", "delete", "4", "2")
        steps = form_of(app).field_widget("3.steps")
        await wait_for(pilot, lambda: steps.value == "42", "the form to show the JSON's steps")
        await pilot.pause()
        # No echo: the text is exactly what was typed, the cursor stayed, one line differs from the original.
        assert area.cursor_location == (row, column + 2)
        assert area.text == seed_workflow().to_json().replace('"steps": 20', '"steps": 42')

        # A new node with common inputs rebuilds the form with a field for it.
        workflow = seed_workflow().to_dict()
        workflow["10"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "third", "clip": ["4", 1]}}
        area.load_text(json.dumps(workflow, indent=2))
        await wait_for(pilot, lambda: _has_field(app, "10.text"), "a field for the new node")
        assert form_of(app).field_widget("10.text").text == "third"  # type: ignore[union-attr]


async def test_the_form_says_when_it_has_nothing_to_show_or_the_json_is_broken(data_dir: Path) -> None:
    bare = Workflow(
        {
            "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }
    )  # no common input
    app = EditorApp(bare, data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        note = app.query_one("#params-note", Static)
        assert note.display and "No common parameters" in str(note.render())

        editor_of(app).load_workflow(seed_workflow())
        await pilot.pause()
        assert not note.display and _has_field(app, "3.steps")
        assert not app.query("#params-more")  # nothing beyond the shown fields: that line is never built

        area = area_of(app)
        area.load_text(area.text.replace('"steps": 20,', '"steps": 20'))  # a missing comma
        await pilot.pause()
        assert note.display and note.has_class("-error") and "The JSON has an error" in str(note.render())
        assert form_of(app).disabled and form_of(app).field_widget("3.steps").value == "20"  # kept, not editable

        area.load_text(seed_workflow().to_json())
        await pilot.pause()
        assert not note.display and not form_of(app).disabled
        assert [child.id for child in form_of(app).children][0] == "params-note"  # above the fields


async def test_a_huge_workflow_shows_the_first_fields_and_says_how_many_more(data_dir: Path) -> None:
    graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}}}
    for index in range(2, 2 + MAX_FIELDS):  # one prompt per node: MAX_FIELDS + 1 common inputs in all
        graph[str(index)] = {"class_type": "CLIPTextEncode", "inputs": {"text": f"p{index}", "clip": ["1", 1]}}
    app = EditorApp(Workflow(graph), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        form = form_of(app)
        assert len(app.query(".param")) == MAX_FIELDS
        assert _has_field(app, f"{MAX_FIELDS + 1}.text") and not _has_field(app, "1.ckpt_name")
        more = app.query_one("#params-more", Static)
        assert more.display and str(more.render()) == "… and 1 more: edit them in the JSON tab."
        assert form.workflow is not None


def _has_field(app: App, key: str) -> bool:
    try:
        form_of(app).field_widget(key)
    except KeyError:
        return False
    return True


async def test_randomize_seed_button_changes_the_seed(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        old_seed = seed_workflow().nodes["3"]["inputs"]["seed"]
        await pilot.pause()  # laid out, so the click lands on the button
        assert await pilot.click(".param-dice")
        await wait_for(
            pilot,
            lambda: editor.workflow is not None and editor.workflow.nodes["3"]["inputs"]["seed"] != old_seed,
            "a new seed in the workflow",
        )
        seed = editor.workflow.nodes["3"]["inputs"]["seed"]
        assert isinstance(seed, int) and 0 <= seed <= SEED_MAX
        assert f'"seed": {seed},' in area_of(app).text
        assert form_of(app).field_widget("3.seed").value == str(seed)  # type: ignore[union-attr]


async def test_randomize_seeds_changes_every_seed_in_place(data_dir: Path) -> None:
    graph = seed_workflow().to_dict()
    graph["13"] = {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": 5, "steps": 4, "model": ["4", 0]}}
    app = EditorApp(Workflow(graph), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        before = area_of(app).text.splitlines()
        assert editor.randomize_seeds() == 2
        await pilot.pause()
        after = area_of(app).text.splitlines()
        changed = [new.strip().split(":")[0] for old, new in zip(before, after) if old != new]
        assert changed == ['"seed"', '"noise_seed"']  # only the two seed lines moved
        assert editor.workflow is not None
        assert editor.workflow.nodes["3"]["inputs"]["seed"] != graph["3"]["inputs"]["seed"]
        assert editor.workflow.nodes["13"]["inputs"]["noise_seed"] != 5


# ----------------------------------------------------------------------------------------------- files


async def test_open_through_the_dialog_loads_the_file_and_remembers_it(tmp_path: Path, data_dir: Path) -> None:
    wanted = tmp_path / "flows" / "portrait.json"
    wanted.parent.mkdir()
    expected = write_workflow(wanted, 31)
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        form_of(app).field_widget("3.steps").focus()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
        path_input = app.screen.query_one("#path", PathInput)
        # Type a folder prefix; tab takes the completion like a shell.
        path_input.value = str(tmp_path / "fl")
        await wait_for(pilot, lambda: path_input._suggestion == str(tmp_path / "flows") + os.sep, "a completion")
        await pilot.press("tab")
        assert path_input.value == str(tmp_path / "flows") + os.sep
        await wait_for(pilot, lambda: path_input._suggestion == str(wanted), "the file's completion")
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: editor.path == wanted, "the file to open")

        assert not isinstance(app.screen, OpenWorkflowScreen)
        assert area_of(app).text == wanted.read_text(encoding="utf-8")  # the file's own layout, untouched
        assert editor.workflow == expected and not editor.dirty
        assert form_of(app).field_widget("3.steps").value == "31"  # type: ignore[union-attr]
        assert "portrait.json" in str(editor.border_title)
        assert RecentFiles.in_data_dir(data_dir).load() == [wanted]
        assert json.loads((data_dir / RECENT_FILE_NAME).read_text())["files"] == [str(wanted)]

        # The next dialog lists it; choosing it from the list opens it.
        area_of(app).load_text(seed_workflow().to_json())
        editor.path = None
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog again")
        recent = app.screen.query_one("#recent", OptionList)
        assert recent.option_count == 1 and str(recent.get_option_at_index(0).prompt).endswith("portrait.json")
        recent.focus()
        recent.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.path == wanted, "the recent file to open")


async def test_open_dialog_refuses_a_missing_file_and_keeps_the_editor(tmp_path: Path, data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        text_before = area_of(app).text
        form_of(app).field_widget("3.steps").focus()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
        app.screen.query_one("#path", PathInput).value = str(tmp_path / "nope.json")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OpenWorkflowScreen)
        assert str(app.screen.query_one("#path-message", Label).render()) == f"no such file: {tmp_path / 'nope.json'}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, OpenWorkflowScreen), "the dialog to close")
        assert editor.path is None and area_of(app).text == text_before


async def test_opening_an_invalid_file_shows_it_with_its_error(tmp_path: Path, data_dir: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "3": {"class_type": "KSampler", "inputs": {}\n}\n', encoding="utf-8")
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        assert editor.open_file(broken)
        await pilot.pause()
        assert area_of(app).text == broken.read_text(encoding="utf-8")
        assert editor.workflow is None and editor.error is not None and editor.error.line == 4
        assert editor_of(app).active_view == JSON_TAB
        assert any(severity == "warning" and "broken.json: line 4" in note for severity, note in app.notes)


async def test_save_writes_pretty_json_and_save_as_asks_for_a_path(tmp_path: Path, data_dir: Path) -> None:
    original = tmp_path / "flow.json"
    write_workflow(original, 20)
    app = EditorApp(None, data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        assert editor.open_file(original)
        await pilot.pause()
        steps = form_of(app).field_widget("3.steps")
        steps.focus()
        await pilot.press("end", "backspace", "backspace", "4", "4")
        await wait_for(pilot, lambda: editor.dirty and "●" in str(editor.border_title), "the unsaved marker")

        await pilot.press("f2")
        await wait_for(pilot, lambda: not editor.dirty, "the save")
        saved = original.read_text(encoding="utf-8")
        assert saved == editor.workflow.to_json(indent=2) + "\n"  # type: ignore[union-attr]
        assert parse_workflow(saved).nodes["3"]["inputs"]["steps"] == 44
        assert area_of(app).text + "\n" == saved  # the editor shows what is on disk
        assert "●" not in str(editor.border_title)

        # Save as: a new name in an existing folder; the editor now edits that file.
        copy = tmp_path / "copy.json"
        await pilot.press("shift+f2")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the save-as dialog")
        assert app.screen.query_one("#path", PathInput).value == str(original)
        app.screen.query_one("#path", PathInput).value = str(copy)
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.path == copy, "the save-as")
        assert copy.read_text(encoding="utf-8") == saved

        # Save as onto an existing file asks first (enter twice).
        await pilot.press("shift+f2")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the save-as dialog again")
        app.screen.query_one("#path", PathInput).value = str(original)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OpenWorkflowScreen)
        assert "exists" in str(app.screen.query_one("#path-message", Label).render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: editor.path == original, "the confirmed overwrite")
        assert RecentFiles.in_data_dir(data_dir).load()[:2] == [original, copy]


async def test_a_workflow_given_with_its_file_shows_the_file_layout(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "given.json"
    workflow = write_workflow(path, 25)  # 4-space indent, unlike to_json()'s 2
    app = EditorApp(workflow, data_dir, path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = editor_of(app)
        assert area_of(app).text == path.read_text(encoding="utf-8")
        assert editor.workflow == workflow and not editor.dirty and editor.path == path
        assert str(editor.border_title) == "Workflow · given.json"
        assert RecentFiles.in_data_dir(data_dir).load() == [path]


async def test_save_without_a_path_opens_save_as(tmp_path: Path, data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        area_of(app).focus()
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the save-as dialog")
        assert app.screen.mode == "save"
        target = tmp_path / "new.json"
        app.screen.query_one("#path", PathInput).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, "the new file")
        assert parse_workflow(target.read_text(encoding="utf-8")) == seed_workflow()
        assert editor.path == target


async def test_a_failed_save_says_why_and_loses_nothing(tmp_path: Path, data_dir: Path) -> None:
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    target = not_a_folder / "flow.json"  # its "folder" is a file: the write must fail (even as root)
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        text_before = area_of(app).text
        assert editor.save_to(target) is False
        await pilot.pause()
        assert editor.path is None and area_of(app).text == text_before
        severity, message = app.notes[-1]
        assert severity == "error" and message.startswith(f"cannot save {target}: ")
        assert "your text is still here" in message
        assert set(tmp_path.iterdir()) == {not_a_folder, data_dir}  # no temp file left behind


async def test_save_keeps_the_mode_of_an_existing_file(tmp_path: Path, data_dir: Path) -> None:
    target = tmp_path / "private.json"
    write_workflow(target, 20)
    target.chmod(0o600)
    app = EditorApp(None, data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        assert editor.open_file(target)
        await pilot.pause()
        assert editor.save_to(target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ----------------------------------------------------------------------------------------------- $EDITOR


@pytest.fixture
def scripted_editor(tmp_path: Path) -> str:
    """$EDITOR text for an "editor" that changes steps 20 -> 77 in the file it is given, as a user would (a
    Python script rather than `sed -i`, whose flags differ between GNU and BSD)."""
    script = tmp_path / "my editor.py"  # a space in the path: $EDITOR is split like a shell would
    script.write_text(
        "import pathlib, sys\n"
        "path = pathlib.Path(sys.argv[-1])\n"
        "path.write_text(path.read_text().replace('\"steps\": 20', '\"steps\": 77'))\n"
    )
    return shlex.join([sys.executable, str(script)])


async def test_external_editor_round_trip_updates_json_and_form(
    data_dir: Path, scripted_editor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISUAL", scripted_editor)  # $VISUAL wins over $EDITOR
    monkeypatch.setenv("EDITOR", "false")
    app = SuspendingEditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        area_of(app).focus()
        await pilot.press("f4")
        await wait_for(pilot, lambda: '"steps": 77' in area_of(app).text, "the edited text")
        assert app.suspended == 1
        assert editor.workflow is not None and editor.workflow.nodes["3"]["inputs"]["steps"] == 77
        await wait_for(pilot, lambda: form_of(app).field_widget("3.steps").value == "77", "the form")  # type: ignore[union-attr]
        assert editor.dirty  # not saved anywhere yet: the user decides


async def test_external_editor_failure_and_headless_terminal_are_reported(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "false")
    app = SuspendingEditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        text_before = area_of(app).text
        editor_of(app).open_in_external_editor()
        await pilot.pause()
        assert area_of(app).text == text_before
        assert app.notes[-1] == ("error", "false exited with status 1; the workflow is unchanged")

        monkeypatch.setenv("EDITOR", "/nonexistent/editor --wait")
        editor_of(app).open_in_external_editor()
        await pilot.pause()
        severity, message = app.notes[-1]
        assert severity == "error" and message.startswith("cannot run the editor '/nonexistent/editor'")

    plain = EditorApp(seed_workflow(), data_dir)  # Textual's headless driver: no terminal to hand over
    async with plain.run_test(size=SIZE) as pilot:
        editor_of(plain).open_in_external_editor()
        await pilot.pause()
        severity, message = plain.notes[-1]
        assert severity == "error" and message.startswith("this terminal cannot hand over to an external editor")


def test_editor_command_prefers_visual_then_editor_and_splits_like_a_shell() -> None:
    assert external_editor_command({"VISUAL": "code --wait", "EDITOR": "nano"}) == ["code", "--wait"]
    assert external_editor_command({"VISUAL": "  ", "EDITOR": "'/opt/my editor/bin/ed' -n"}) == [
        "/opt/my editor/bin/ed",
        "-n",
    ]
    assert external_editor_command({}) == ["vi"]
    with pytest.raises(ExternalEditorError, match=r"\$EDITOR cannot be split"):
        external_editor_command({"EDITOR": "vim 'unclosed"})


def test_edit_text_externally_runs_the_command_on_a_temp_file(tmp_path: Path) -> None:
    script = tmp_path / "editor.py"
    seen = tmp_path / "seen.txt"
    script.write_text(
        "import sys, pathlib\n"
        "path = pathlib.Path(sys.argv[1])\n"
        f"pathlib.Path({str(seen)!r}).write_text(path.name)\n"
        "path.write_text(path.read_text().upper())\n"
    )
    entered: list[str] = []

    @contextmanager
    def suspend() -> Iterator[None]:
        entered.append("in")
        yield

    result = edit_text_externally('{"a": "b"}', [sys.executable, str(script)], suspend=suspend, file_name="x.json")
    assert result == '{"A": "B"}' and entered == ["in"] and seen.read_text() == "x.json"


# ----------------------------------------------------------------------------------------------- small parts


async def test_the_tabs_switch_views_by_click_key_and_ctrl_t(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = editor_of(app)
        tabs = app.query_one("#editor Tabs", Tabs)  # Textual's own tabs (TabbedContent's)
        form, area = form_of(app), area_of(app)
        pane_of = lambda widget: next(node for node in widget.ancestors if isinstance(node, TabPane))  # noqa: E731
        assert editor.active_view == PARAMS_TAB and pane_of(form).display and not pane_of(area).display
        assert [str(tab.label) for tab in tabs.query(Tab)] == ["Parameters", "JSON"]

        assert await pilot.click(f"#editor Tab#--content-tab-{JSON_TAB}")
        await pilot.pause()
        assert editor.active_view == JSON_TAB and pane_of(area).display and not pane_of(form).display
        assert tabs.has_focus  # a click focuses the tabs

        await pilot.press("left")  # keys move between tabs while the tabs have focus (and wrap around)
        await pilot.pause()
        assert editor.active_view == PARAMS_TAB and pane_of(form).display
        await pilot.press("left")
        await pilot.pause()
        assert editor.active_view == JSON_TAB and pane_of(area).display

        form.field_widget("3.steps").focus()  # focusing a field shows its tab
        await pilot.pause()
        assert editor.active_view == PARAMS_TAB
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert editor.active_view == JSON_TAB and area.has_focus
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert editor.active_view == PARAMS_TAB and app.focused is form.field_widget("6.text")  # the first field


async def test_count_and_target_label(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    submitted: list[WorkflowEditor.SubmitRequested] = []
    async with app.run_test(size=SIZE, message_hook=lambda m: submitted.append(m) if isinstance(m, WorkflowEditor.SubmitRequested) else None) as pilot:
        editor = editor_of(app)
        editor.set_target_label("→ 2 profiles")
        await pilot.pause()
        bar = app.query_one(SubmitBar)
        assert bar.target == "→ 2 profiles"
        assert bar.target_text == "→ 2 profiles"
        assert not app.query_one("#workflow-same-seed").display  # one copy: nothing to vary
        count = app.query_one("#workflow-count", Input)
        count.focus()
        await pilot.press("backspace", "1", "2", "x", "enter")  # letters are refused by the input
        await pilot.pause()
        assert editor.count == 12 and len({id(message) for message in submitted}) == 1
        assert bar.target_text == "12 jobs → 2 profiles"
        await pilot.pause()
        line = "".join(cell[0] for cell in screen_cells(app)[bar.region.y])
        assert line.split() == ["copies", "12", "▐X▌", "same", "seed", "12", "jobs", "→", "2", "profiles"]
        assert app.query_one("#workflow-same-seed").display and not editor.same_seed


async def test_a_number_field_takes_a_list_or_a_range_and_the_bar_counts_the_jobs(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        editor.set_target_label("→ sim-api")
        form = app.query_one(ParametersForm)
        await pilot.pause()
        cfg = form.field_widget("3.cfg")
        cfg.value = "5, 7, 9"
        steps = form.field_widget("3.steps")
        steps.value = "20..40:10"
        await pilot.pause()
        assert {axis.key: axis.values for axis in editor.sweeps} == {
            "3.steps": (20, 30, 40), "3.cfg": (5.0, 7.0, 9.0)
        }
        assert editor.job_count == 9 and editor.workflow is not None  # a sweep is not an error
        assert app.query_one(SubmitBar).target_text.endswith("9 jobs → sim-api")
        # The JSON keeps the single values meanwhile, and a change elsewhere does not wipe the lists.
        assert editor.workflow.nodes["3"]["inputs"]["cfg"] == seed_workflow().nodes["3"]["inputs"]["cfg"]
        form.field_widget("5.width").value = "256"
        await pilot.pause()
        assert cfg.value == "5, 7, 9" and editor.job_count == 9
        count = app.query_one("#workflow-count", Input)
        count.value = "3"
        await pilot.pause()
        assert editor.job_count == 27
        assert app.query_one(SubmitBar).target_text.endswith("27 jobs → sim-api")
        steps.value = "20..40:0"  # a bad range is an error under the field, and nothing can be submitted
        await pilot.pause()
        assert editor.workflow is None and "cannot be 0" in form.errors["3.steps"]
        steps.value = "25"
        await pilot.pause()
        assert editor.workflow is not None and editor.job_count == 9
        assert editor.workflow.nodes["3"]["inputs"]["steps"] == 25


def test_find_input_value_span_points_at_the_literal() -> None:
    text = '{"1": {"inputs": {"a": 1}}, "3": {"class_type": "K", "inputs": {"steps": 20, "x": "s,}"}}}'
    start, end = find_input_value_span(text, "3", "steps")  # type: ignore[misc]
    assert text[start:end] == "20"
    start, end = find_input_value_span(text, "3", "x")  # type: ignore[misc]
    assert text[start:end] == '"s,}"'
    assert find_input_value_span(text, "3", "nope") is None
    assert find_input_value_span(text, "9", "steps") is None
    duplicate = '{"3": {"inputs": {"s": 1}}, "3": {"inputs": {"s": 2}}}'
    start, end = find_input_value_span(duplicate, "3", "s")  # type: ignore[misc]
    assert duplicate[start:end] == "2"  # JSON keeps the last duplicate, so do we


def test_recent_files_newest_first_capped_and_robust(tmp_path: Path) -> None:
    recent = RecentFiles.in_data_dir(tmp_path / "data", limit=3)
    assert recent.load() == []
    for name in ("a", "b", "c", "d"):
        recent.add(tmp_path / f"{name}.json")
    assert recent.load() == [tmp_path / "d.json", tmp_path / "c.json", tmp_path / "b.json"]
    recent.add(tmp_path / "b.json")
    assert recent.load() == [tmp_path / "b.json", tmp_path / "d.json", tmp_path / "c.json"]
    assert recent.remove(tmp_path / "d.json") == [tmp_path / "b.json", tmp_path / "c.json"]
    recent.file.write_text("{not json")
    assert recent.load() == []  # a corrupt list is an empty list, not a crash
    assert recent.add(Path("relative.json")) == [Path.cwd() / "relative.json"]


def test_path_completion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "work.json").write_text("{}")
    (tmp_path / "wonder.txt").write_text("")
    (tmp_path / ".hidden.json").write_text("{}")
    assert complete_path(str(tmp_path / "wo")) == str(tmp_path / "workflows") + os.sep  # folders first
    assert complete_path(str(tmp_path / "work.")) == str(tmp_path / "work.json")
    assert complete_path(str(tmp_path / "won")) == str(tmp_path / "wonder.txt")
    assert complete_path(str(tmp_path / "zz")) is None
    assert complete_path(str(tmp_path) + os.sep) == str(tmp_path / "workflows") + os.sep  # no hidden files
    assert complete_path(str(tmp_path / ".h")) == str(tmp_path / ".hidden.json")
    assert complete_path("wo", base_dir=tmp_path) == "workflows" + os.sep  # relative to the base folder
    monkeypatch.setenv("HOME", str(tmp_path))
    assert complete_path("~" + os.sep + "wo") == "~" + os.sep + "workflows" + os.sep  # "~" stays as typed


# ----------------------------------------------------------------------------------------------- the real app


async def test_in_the_real_app_invalid_json_blocks_submit_at_its_position(tmp_path: Path) -> None:
    from tui.app import ComfyqApp, LaunchOptions
    from tui.core.config import builtin_config
    from tui.core.locations import resolve_locations

    locations = resolve_locations(tmp_path / "config.toml", tmp_path / "data")
    options = LaunchOptions(config=builtin_config(), locations=locations, workflow=seed_workflow(), start_engine=False)
    app = ComfyqApp(options)
    async with app.run_test(size=SIZE) as pilot:
        editor = app.screen.query_one(WorkflowEditor)
        assert editor.workflow is not None
        area = focus_json(app)
        area.move_cursor((0, 0))
        await pilot.press("x")  # "x{" is not JSON
        await wait_for(pilot, lambda: editor.workflow is None, "the error")
        area.move_cursor((10, 0))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert area.has_focus and area.cursor_location == (0, 0)
        assert app.store.total() == 0  # nothing was submitted
    await app.shutdown()  # after the app stopped: its timers no longer touch the store it closes


# ----------------------------------------------------------------------------------------------- issue 13 / 11 leftovers


async def test_ctrl_t_to_parameters_while_the_json_is_broken_keeps_focus_and_ctrl_t_works(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        area = focus_json(app)
        area.move_cursor((0, 0))
        await pilot.press("x")  # "x{" is not JSON: the form is disabled
        await wait_for(pilot, lambda: editor.workflow is None, "the error")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert editor.active_view == PARAMS_TAB
        focused = app.focused
        assert focused is not None and editor in focused.ancestors_with_self  # focus stays in the editor
        await pilot.press("ctrl+t")  # ...so the key still answers
        await pilot.pause()
        assert editor.active_view == JSON_TAB and area.has_focus


@pytest.mark.parametrize(
    ("key", "typed", "message"),
    [
        ("3.steps", "0", "✘ takes 1 to 10000; 0 is not in range"),
        ("3.cfg", "150", "✘ takes 0.0 to 100.0; 150 is not in range"),
        ("3.denoise", "1.5", "✘ takes 0.0 to 1.0; 1.5 is not in range"),
        ("5.width", "500", "✘ takes a multiple of 8 from 16 to 16384; 500 is not one"),
        ("5.height", "8", "✘ takes a multiple of 8 from 16 to 16384; 8 is not one"),
    ],
)
async def test_number_fields_check_comfyuis_range_under_the_field(
    data_dir: Path, key: str, typed: str, message: str
) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor, form = editor_of(app), form_of(app)
        field = form.field_widget(key)
        assert isinstance(field, Input)
        field.focus()
        await pilot.press("ctrl+u", *typed)
        await wait_for(pilot, lambda: key in form.errors, f"the range error of {key}")
        shown = [str(label.render()) for label in app.query(".param-error").results(Label) if label.has_class("-shown")]
        assert shown == [message]
        name = key.split(".")[1]
        assert f'"{name}": {typed}' not in area_of(app).text  # out of range never reaches the JSON
        assert editor.workflow is None  # ...and nothing can be submitted meanwhile
        await pilot.press("ctrl+u", *("16" if "width" in key or "height" in key else "1"))
        await wait_for(pilot, lambda: not form.errors, "the error to clear")
        assert editor.workflow is not None


async def test_a_sweep_out_of_range_is_refused_under_the_field(data_dir: Path) -> None:
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        form = form_of(app)
        form.field_widget("3.steps").value = "0, 10, 20"
        await wait_for(pilot, lambda: "3.steps" in form.errors, "the sweep's range error")
        assert "0 is not in range" in form.errors["3.steps"] and editor_of(app).workflow is None


class SidebarEditorApp(EditorApp):
    """The editor as wide as the main screen's sidebar at 120 columns (44 cells, border included)."""

    CSS = "#editor { width: 44; border: round $primary; }"


async def test_a_long_checkpoint_name_is_shown_whole(data_dir: Path) -> None:
    name = "3dAnimationDiffusion_v10.safetensors"
    app = SidebarEditorApp(seed_workflow().with_input("4", "ckpt_name", name), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.query_one("#workflow-count").focus()  # the field unfocused, as a user first sees it
        await pilot.pause()
        lines = ["".join(cell[0] for cell in row) for row in screen_cells(app)]
        assert any(name in line for line in lines), "\n".join(lines)
        assert app.query_one("#" + str(form_of(app).field_widget("4.ckpt_name").id) + "-row").has_class("-stacked")

    wide = EditorApp(seed_workflow().with_input("4", "ckpt_name", name), data_dir)  # where it fits: one line
    async with wide.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines = ["".join(cell[0] for cell in row) for row in screen_cells(wide)]
        assert any(line.startswith("checkpoint  " + name) for line in (text.lstrip("│ ") for text in lines))


CONTROL_WORKFLOW = (
    '{\n  "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a\x1b]52;c;ZWNobyBQV05FRAo=\x07b"}},\n'
    '  "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "x\x1b[2K\ry\u202ez", "clip": ["1", 1]}},\n'
    '  "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "\x9b31m", "images": ["2", 0]}}\n}\n'
)


def _no_raw_controls(text: str) -> bool:
    return not any(ord(ch) < 0x20 and ch not in "\n\t" or 0x7F <= ord(ch) <= 0x9F or ch == "\u202e" for ch in text)


async def test_control_bytes_from_a_file_are_shown_escaped_and_save_back_with_the_same_meaning(
    data_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "hostile.json"
    source.write_text(CONTROL_WORKFLOW, encoding="utf-8")
    meaning = json.loads(CONTROL_WORKFLOW, strict=False)  # raw control characters inside JSON strings
    app = EditorApp(None, data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        assert editor.open_file(source)
        await pilot.pause()
        area = area_of(app)
        assert _no_raw_controls(area.text) and "\\u001b]52" in area.text and "\\u009b31m" in area.text
        assert json.loads(area.text) == meaning  # the escapes say exactly what the file said
        assert editor.workflow is not None and editor.workflow.nodes == meaning
        # The form shows the values visibly too (never the raw bytes), and every cell on screen is safe.
        for key in ("1.ckpt_name", "2.text", "3.filename_prefix"):
            widget = form_of(app).field_widget(key)
            shown = widget.text if hasattr(widget, "text") and not isinstance(widget, Input) else widget.value
            assert _no_raw_controls(shown), (key, shown)
        for view in (PARAMS_TAB, JSON_TAB):
            editor.show_view(view)
            await pilot.pause()
            assert all(_no_raw_controls("".join(cell[0] for cell in row)) for row in screen_cells(app))
        assert editor.workflow is not None and editor.workflow.nodes == meaning  # showing changed nothing
        saved = tmp_path / "saved.json"
        assert editor.save_to(saved)
        assert json.loads(saved.read_text(encoding="utf-8")) == meaning
