"""The open dialog's path field behaves like a shell's: tab completes what candidates share, a second tab lists
them, and a pasted path (quoted, with its Enter) opens."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import Label

from screens.open_workflow import OpenWorkflowScreen, PathInput, pasted_path
from tests.tui.conftest import SIZE, wait_for
from tests.tui.editor_app import EditorApp, editor_of, write_workflow
from tui.core.workflow import seed_workflow


def test_pasted_text_means_one_path() -> None:
    assert pasted_path("/a/b.json") == ("/a/b.json", False)
    assert pasted_path("\n  '/a/my flow.json'  \n") == ("/a/my flow.json", True)
    assert pasted_path('"/a/b.json"\r') == ("/a/b.json", True)
    assert pasted_path("file:///a/my%20flow.json") == ("/a/my flow.json", False)
    assert pasted_path("\n \n") == ("", False)


async def test_tab_completes_the_shared_part_then_lists_the_candidates(tmp_path: Path) -> None:
    for name in ("portrait_a.json", "portrait_b.json", "landscape.json"):
        write_workflow(tmp_path / name, 20)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
        path_input = app.screen.query_one("#path", PathInput)
        path_input.value = str(tmp_path / "por")
        await pilot.press("tab")
        assert path_input.value == str(tmp_path / "portrait_")
        await pilot.press("tab")
        message = app.screen.query_one("#path-message", Label)
        await wait_for(pilot, lambda: "portrait_a.json" in str(message.render()), "the candidates listed")
        assert "portrait_b.json" in str(message.render()) and "landscape" not in str(message.render())
        assert path_input.value == str(tmp_path / "portrait_")  # listing changes nothing typed


async def test_a_pasted_path_with_its_enter_opens_the_file(tmp_path: Path) -> None:
    wanted = tmp_path / "my flows" / "night.json"
    wanted.parent.mkdir()
    expected = write_workflow(wanted, 33)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = EditorApp(seed_workflow(), data_dir)
    async with app.run_test(size=SIZE) as pilot:
        editor = editor_of(app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
        path_input = app.screen.query_one("#path", PathInput)
        assert path_input.value  # the dialog starts with a folder in the field
        # A terminal's bracketed paste of a quoted path and a line break: the whole path, then opened.
        path_input.post_message(events.Paste(f"'{wanted}'\n"))
        await wait_for(pilot, lambda: editor.path == wanted, "the pasted file to open")
        assert editor.workflow == expected
