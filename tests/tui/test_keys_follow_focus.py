"""Keys typed right after a key that moves focus or opens a screen go where that key sent them (issue 13: nothing a
user types is lost, nothing lands in the wrong place).

Textual forwards every key to the widget focused when the app takes it off its queue; a key the widget does not
consume (tab, `/`, ctrl+o…) then bubbles up the DOM one queue at a time before the app runs its binding. Keys that
arrive together — typed fast, handed over in one terminal read, or queued while the app repaints a live table — were
all forwarded to the old widget first: `/cat` typed fast on the job table copied the job ids (`c` is the screen's
copy key) instead of filtering for "cat", `ab⇥cd` in a form put `abcd` in the first field, and ctrl+o followed by a
path typed it into the workflow JSON. Each test posts a burst of keys at once, as the terminal driver does.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, TextArea

from screens.open_workflow import OpenWorkflowScreen, PathInput
from tests.tui.conftest import OFFLINE_CONFIG, app_on, running, seeded_dirs, wait_for
from tests.tui.test_typed_key_order import burst, emptied, json_editor, parameters_field, text_of
from tui.app import ComfyqApp
from tui.widgets.job_table import JobTable


async def focused_job_table(pilot: Pilot[int], app: ComfyqApp) -> JobTable:
    table = app.screen.query_one(JobTable)
    table.focus()
    await wait_for(pilot, lambda: table.has_focus, "the job table focused")
    return table


def next_in_focus_chain(app: ComfyqApp, widget: Widget) -> Widget:
    chain = app.screen.focus_chain
    return chain[(chain.index(widget) + 1) % len(chain)]


async def test_slash_then_a_word_typed_fast_filters_for_the_word(tmp_path: Path) -> None:
    """`/cat` on the job table: the filter opens and holds "cat" — the `c` is not the screen's copy-ids key."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        await focused_job_table(pilot, app)
        await burst(pilot, app, ["slash", "c", "a", "t"])
        field = app.screen.query_one("#filter", Input)
        assert field.has_focus
        assert field.value == "cat"


async def test_tab_in_a_burst_moves_the_rest_to_the_next_field(tmp_path: Path) -> None:
    """`ab⇥34` from the last parameters field: it holds `ab`, the next field (the copies count) 34 — not `ab34`."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        first = await parameters_field(pilot, app)
        second = next_in_focus_chain(app, first)
        assert isinstance(second, Input | TextArea), f"the field after #{first.id} is {second!r}"
        await emptied(pilot, second)
        await emptied(pilot, first)
        await burst(pilot, app, ["a", "b", "tab", "3", "4"])
        assert (text_of(first), text_of(second)) == ("ab", "34")
        assert second.has_focus


async def test_a_path_typed_right_after_ctrl_o_goes_to_the_dialog_not_the_workflow(tmp_path: Path) -> None:
    """ctrl+o in the JSON editor, then a path at once: the workflow text is untouched, the dialog's field has it."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        editor_text = await json_editor(pilot, app)
        editor_text.text = '{"1": {}}'
        await burst(pilot, app, ["ctrl+o", *"night.json"])
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
        path = app.screen.query_one("#path", PathInput)
        await wait_for(pilot, lambda: path.value.endswith("night.json"), lambda: f"the path typed (field: {path.value!r})")
        assert editor_text.text == '{"1": {}}'
        assert path.has_focus


async def test_a_burst_after_escape_closes_the_dialog_reaches_the_screen_below(tmp_path: Path) -> None:
    """escape closes the open dialog; `/` and a word right after it open the job filter with that word."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        await focused_job_table(pilot, app)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenWorkflowScreen), "the open dialog")
        main_screen = app.screen_stack[0]
        await burst(pilot, app, ["escape", "slash", "d", "o", "g"])
        await wait_for(pilot, lambda: app.screen is main_screen, "escape to close the dialog")
        field = main_screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: field.value == "dog", lambda: f"'dog' in the filter (it has {field.value!r})")


async def test_keys_after_a_filter_submitted_in_the_same_burst_stay_in_order(tmp_path: Path) -> None:
    """`/fail⏎j` typed at once on the job table: the filter holds "fail", enter takes the focus back to the table and
    `j` moves its cursor — found in tmux, where the enter overtook `fail` (still queued at the table), the focus
    came back to the table first and the table took `i` as "open the stats" (and the filter ended up "j")."""
    app = app_on(seeded_dirs(tmp_path, OFFLINE_CONFIG))
    async with running(app) as pilot:
        table = await focused_job_table(pilot, app)
        main_screen = app.screen
        await burst(pilot, app, ["slash", *"fail", "enter", "j"])
        field = main_screen.query_one("#filter", Input)
        await wait_for(pilot, lambda: table.has_focus, "the table focused again after enter")
        assert app.screen is main_screen, f"{app.screen!r} opened"
        assert field.value == "fail"
