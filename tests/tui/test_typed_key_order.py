"""What a user types lands in the order typed, in every text field of the app (issue 13: nothing typed is lost).

Textual inserts a printable key in the field's own key handler, but runs a bound key (backspace, delete, arrows,
home/end, ctrl+k…) only after the event has bubbled up to the app; keys that arrive together (fast typing, a paste
of keystrokes, a busy app) let a later character overtake an earlier backspace (Textualize/textual#6605):
backspace then `copy.json` turned `night.json` into `nigcopy.j`. These tests post a burst of keys to the running
app without waiting between them — the way the terminal driver hands over keys that arrive together — in each
kind of field: the job filter, the open dialog's path, the profile form, a parameters-form field and its prompt,
the JSON editor and the copies count.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from screens.open_workflow import OpenWorkflowScreen, PathInput
from screens.profile_form import ProfileFormScreen
from tests.tui.conftest import OFFLINE_CONFIG, app_on, running, seeded_dirs, wait_for
from tests.tui.editor_app import write_workflow
from tui.app import ComfyqApp
from tui.widgets.ordered_keys import OrderedInput, OrderedTextArea
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.profile_list import ProfileList
from tui.widgets.workflow_editor import JSON_TAB, PARAMS_TAB, WorkflowEditor

Field = Input | TextArea
Opener = Callable[[Pilot[Any], ComfyqApp], Awaitable[Field]]


def key_event(key: str) -> events.Key:
    """The Key event a terminal sends for `key`: a single character is printable, a name ("backspace") is not."""
    if len(key) == 1:
        return events.Key(key if key.isalnum() else _character_to_key(key), key)
    return events.Key(key, None)


async def burst(pilot: Pilot[Any], app: App[Any], keys: Sequence[str]) -> None:
    """Post every key to the app at once (no pause between them), then wait until the app has handled them all."""
    for key in keys:
        app.post_message(key_event(key))
    await settled(pilot, app)


async def settled(pilot: Pilot[Any], app: App[Any]) -> None:
    """Pause until no message waits in the app or on its screen. A bound key's event bubbles up the DOM one queue
    at a time before it acts (that is the bug), so one pause is not enough to see where stock Textual ends up."""
    for _ in range(50):
        await pilot.pause()
        if all(node._message_queue.empty() for node in (app, *app.screen.walk_children(with_self=True))):
            return
    raise AssertionError("messages kept coming: the app never settled after the burst")


def text_of(field: Field) -> str:
    return field.text if isinstance(field, TextArea) else field.value


async def emptied(pilot: Pilot[Any], field: Field) -> Field:
    """`field`, focused and empty, so a burst starts from nothing."""
    if isinstance(field, TextArea):
        field.text = ""
    else:
        field.value = ""
    field.focus()
    await wait_for(pilot, lambda: field.has_focus and text_of(field) == "", f"#{field.id} focused and empty")
    return field


# ------------------------------------------------------------------------------- how a user reaches each field


async def job_filter(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    await pilot.press("slash")
    field = app.screen.query_one("#filter", Input)
    await wait_for(pilot, lambda: field.has_focus, "the filter line")
    return await emptied(pilot, field)


async def open_dialog_path(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
    return await emptied(pilot, app.screen.query_one("#path", PathInput))


async def profile_form_name(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    app.screen.query_one(ProfileList).focus()
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, ProfileFormScreen), "the new-profile form")
    return await emptied(pilot, app.screen.query_one("#form-name", Input))


async def parameters_field(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    app.screen.query_one(WorkflowEditor).show_view(PARAMS_TAB)
    await pilot.pause()
    return await emptied(pilot, app.screen.query_one(ParametersForm).field_widget("9.filename_prefix"))


async def parameters_prompt(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    app.screen.query_one(WorkflowEditor).show_view(PARAMS_TAB)
    await pilot.pause()
    return await emptied(pilot, app.screen.query_one(ParametersForm).field_widget("6.text"))


async def json_editor(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    app.screen.query_one(WorkflowEditor).show_view(JSON_TAB)
    await pilot.pause()
    return await emptied(pilot, app.screen.query_one("#workflow-text", TextArea))


async def copies_count(pilot: Pilot[Any], app: ComfyqApp) -> Field:
    return await emptied(pilot, app.screen.query_one("#workflow-count", Input))


FIELDS: dict[str, Opener] = {
    "job filter": job_filter,
    "open dialog path": open_dialog_path,
    "profile form": profile_form_name,
    "parameters field": parameters_field,
    "parameters prompt": parameters_prompt,
    "JSON editor": json_editor,
    "copies count": copies_count,
}

# (keys posted at once, the field's text afterwards). Letters stand for what the field takes (the count: digits).
BURSTS: dict[str, tuple[list[str], str]] = {
    # Textual's own regression case (textual#6605): the backspace must delete the `a`, not the `c`.
    "backspace": (["b", "a", "backspace", "c"], "bc"),
    "arrows and home/end": (["c", "left", "b", "end", "d", "home", "a"], "abcd"),
    "delete": (["a", "b", "c", "home", "delete", "end", "backspace", "d"], "bd"),
}
DIGITS = str.maketrans("abcd", "1234")


@pytest.mark.parametrize("burst_name", list(BURSTS))
@pytest.mark.parametrize("field_name", list(FIELDS))
async def test_a_burst_of_keys_is_applied_in_the_order_typed(tmp_path: Path, field_name: str, burst_name: str) -> None:
    keys, expected = BURSTS[burst_name]
    if field_name == "copies count":  # it takes digits only
        keys = [key.translate(DIGITS) if len(key) == 1 else key for key in keys]
        expected = expected.translate(DIGITS)
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        field = await FIELDS[field_name](pilot, app)
        await burst(pilot, app, keys)
        assert text_of(field) == expected, f"{field_name}: {keys} gave {text_of(field)!r}"
        assert field.has_focus


async def test_the_open_dialog_keeps_a_fast_rename(tmp_path: Path) -> None:
    """The case found in tmux: `night.json` in the path field, then backspace ×10 and `copy.json` typed fast."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        field = await open_dialog_path(pilot, app)
        field.value = "flows/night.json"
        field.cursor_position = len(field.value)
        await burst(pilot, app, ["backspace"] * len("night.json") + list("copy.json"))
        assert field.value == "flows/copy.json"


async def test_tab_completion_in_a_burst_completes_what_was_typed_before_it(tmp_path: Path) -> None:
    """The path field's own binding (tab completes) runs in order too: `por` + tab + `a` gives `portrait_a`."""
    for name in ("portrait_a.json", "portrait_b.json"):
        write_workflow(tmp_path / name, 20)
    app = app_on(seeded_dirs(tmp_path / "home", OFFLINE_CONFIG))
    async with running(app) as pilot:
        field = await open_dialog_path(pilot, app)
        await burst(pilot, app, list(f"{tmp_path}/por") + ["tab", "a"])
        assert field.value == f"{tmp_path}/portrait_a"
        assert field.has_focus


async def test_a_keymap_override_of_the_fields_own_binding_is_applied_in_order(tmp_path: Path) -> None:
    """The field resolves its bindings the way the app does: a [keymap] override of the completion key counts."""
    for name in ("portrait_a.json", "portrait_b.json"):
        write_workflow(tmp_path / name, 20)
    config = OFFLINE_CONFIG + '\n[keymap]\nopen_workflow.complete = "ctrl+t"\n'
    app = app_on(seeded_dirs(tmp_path / "home", config))
    async with running(app) as pilot:
        field = await open_dialog_path(pilot, app)
        await burst(pilot, app, list(f"{tmp_path}/por") + ["ctrl+t", "b"])
        assert field.value == f"{tmp_path}/portrait_b"


async def test_enter_at_the_end_of_a_burst_opens_the_path_typed(tmp_path: Path) -> None:
    """A typed path and its enter, all at once: the dialog opens exactly that file (enter still submits)."""
    wanted = tmp_path / "night.json"
    write_workflow(wanted, 33)
    app = app_on(seeded_dirs(tmp_path / "home", OFFLINE_CONFIG))
    async with running(app) as pilot:
        await open_dialog_path(pilot, app)
        await burst(pilot, app, list(f"{tmp_path}/nightx") + ["backspace", ".", "j", "s", "o", "n", "enter"])
        await wait_for(pilot, lambda: not isinstance(app.screen, OpenWorkflowScreen), "the dialog to close")
        editor = app.screen.query_one(WorkflowEditor)
        await wait_for(pilot, lambda: editor.path == wanted, lambda: f"{wanted} opened (the editor has {editor.path})")


async def test_keys_the_field_does_not_bind_still_reach_the_screen(tmp_path: Path) -> None:
    """Only the field's own bindings run inline: escape (the screen's) after a burst still closes what it closes."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        field = await open_dialog_path(pilot, app)
        await burst(pilot, app, ["x", "y", "backspace", "escape"])
        await wait_for(pilot, lambda: not isinstance(app.screen, OpenWorkflowScreen), "escape to close the dialog")
        assert field.value == "x"

        filter_field = await job_filter(pilot, app)
        await burst(pilot, app, ["a", "b", "left", "backspace", "escape"])
        await wait_for(pilot, lambda: not filter_field.display and not filter_field.has_focus, "escape to close the filter")
        assert filter_field.value == ""  # the screen's escape clears what was typed


# ------------------------------------------------------- the upstream bug, on stock Textual: when to drop the fix


class _TwoFields(App[None]):
    def compose(self) -> ComposeResult:
        yield Input(id="stock")
        yield OrderedInput(id="ordered")
        yield TextArea(id="stock-area")
        yield OrderedTextArea(id="ordered-area")


@pytest.mark.parametrize(("stock_id", "ordered_id"), [("stock", "ordered"), ("stock-area", "ordered-area")])
async def test_stock_textual_still_reorders_a_burst(stock_id: str, ordered_id: str) -> None:
    """Textualize/textual#6605 is still there: a stock field turns `b a backspace c` into `ba`, ours into `bc`.

    When this fails on the stock field (a Textual release fixed #6605), tui/widgets/ordered_keys.py can go: put
    Input/TextArea back where OrderedInput/OrderedTextArea are built, and drop this test.
    """
    app = _TwoFields()
    async with app.run_test() as pilot:
        typed: dict[str, str] = {}
        for widget_id in (stock_id, ordered_id):
            field = cast(Field, app.query_one(f"#{widget_id}"))
            field.focus()
            await pilot.pause()
            await burst(pilot, app, ["b", "a", "backspace", "c"])
            typed[widget_id] = text_of(field)
        assert typed == {stock_id: "ba", ordered_id: "bc"}
