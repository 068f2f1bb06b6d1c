"""The workflow editor pane: a parameters form and the API-format JSON (tabs), live validation, files, $EDITOR.

The JSON text is the one source of truth. The form reads it (each valid text is parsed into a Workflow and shown
in the form) and writes it by replacing only the literal it changes, so the user's formatting, cursor and undo
history survive a form edit. `workflow` is None while the text does not validate (or a form field holds text its
input cannot take); `error` says why and where, and `focus_error()` takes the user there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Click, Leave, MouseMove
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, ContentSwitcher, Input, Label, TextArea

from tui.core.safe_text import visible
from tui.core.atomic_file import write_atomically
from tui.core.batch import job_count
from tui.core.jobs import Job
from tui.core.sweep import SweepAxis
from tui.core.recent import RecentFiles
from tui.core.workflow import Scalar, Workflow, WorkflowError, parse_workflow
from tui.widgets.choice_row import ChoiceRow
from tui.widgets.parameters_form import CompactInput, ParametersForm
from tui.widgets.submit_bar import SubmitBar

log = logging.getLogger(__name__)

PARAMS_TAB = "workflow-params-tab"
JSON_TAB = "workflow-json-tab"
_VIEWS = {PARAMS_TAB: "workflow-params", JSON_TAB: "workflow-text"}  # tab -> the widget it shows

# --------------------------------------------------------------------------------------- text helpers (no Textual)

_WHITESPACE = re.compile(r"[ \t\n\r\ufeff]*")


def _members(text: str, start: int) -> list[tuple[str, int, int]]:
    """``(key, value_start, value_end)`` for each member of the JSON object at ``start`` ([] when it is not one)."""
    decoder = json.JSONDecoder()
    members: list[tuple[str, int, int]] = []
    try:
        pos = _WHITESPACE.match(text, start).end()  # type: ignore[union-attr]
        if text[pos] != "{":
            return members
        pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        while text[pos] == '"':
            key, pos = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
            pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text[pos] != ":":
                break
            value_start = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
            _, value_end = decoder.raw_decode(text, value_start)
            members.append((key, value_start, value_end))
            pos = _WHITESPACE.match(text, value_end).end()  # type: ignore[union-attr]
            if text[pos] != ",":
                break
            pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    except (ValueError, IndexError):
        pass
    return members


def _last(members: list[tuple[str, int, int]], key: str) -> tuple[str, int, int] | None:
    found = None
    for member in members:
        if member[0] == key:
            found = member  # JSON keeps the last of duplicate keys
    return found


def find_input_value_span(text: str, node_id: str, input_name: str) -> tuple[int, int] | None:
    """Offsets ``(start, end)`` of the literal of ``node_id.inputs.input_name`` in the JSON ``text``, or None."""
    node = _last(_members(text, 0), node_id)
    if node is None:
        return None
    inputs = _last(_members(text, node[1]), "inputs")
    if inputs is None:
        return None
    value = _last(_members(text, inputs[1]), input_name)
    return (value[1], value[2]) if value is not None else None


def offset_to_location(text: str, offset: int) -> tuple[int, int]:
    """A character offset in ``text`` as a TextArea location ``(row, column)``, both from 0."""
    row = text.count("\n", 0, offset)
    return row, offset - (text.rfind("\n", 0, offset) + 1)


class ExternalEditorError(Exception):
    """The external editor could not be started or did not finish cleanly; the message says which."""


def external_editor_command(env: Mapping[str, str] | None = None) -> list[str]:
    """``$VISUAL``, else ``$EDITOR``, else ``vi``, split like a shell would (``"code --wait"`` works)."""
    env = os.environ if env is None else env
    for name in ("VISUAL", "EDITOR"):
        value = env.get(name, "").strip()
        if value:
            try:
                command = shlex.split(value)
            except ValueError as error:
                raise ExternalEditorError(f"${name} cannot be split into a command ({error}): {value!r}") from None
            if command:
                return command
    return ["vi"]


def edit_text_externally(
    text: str,
    command: list[str],
    *,
    suspend: Callable[[], AbstractContextManager[object]],
    file_name: str = "workflow.json",
) -> str:
    """Write ``text`` to a temp file, run ``command + [file]`` inside ``suspend()``, return the file's new text.

    Raises ExternalEditorError when the editor is missing, exits non-zero or leaves an unreadable file, and lets
    textual's SuspendNotSupported through (the caller explains it). The temp file is always removed.
    """
    with tempfile.TemporaryDirectory(prefix="comfyq-edit-") as folder:
        path = Path(folder) / file_name
        path.write_text(text, encoding="utf-8")
        with suspend():
            try:
                status = subprocess.call([*command, str(path)])
            except OSError as error:
                raise ExternalEditorError(
                    f"cannot run the editor {command[0]!r}: {error.strerror or error} (set $VISUAL or $EDITOR)"
                ) from None
        if status != 0:
            raise ExternalEditorError(f"{shlex.join(command)} exited with status {status}; the workflow is unchanged")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ExternalEditorError(f"cannot read the edited file back: {error}") from None


def _file_text_of(workflow: Workflow | None, path: Path | None) -> str | None:
    """The file's own text when it holds ``workflow`` (so the editor keeps the user's layout), else None."""
    if workflow is None or path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
        return text if parse_workflow(text) == workflow else None
    except (OSError, UnicodeDecodeError, WorkflowError):
        return None


# --------------------------------------------------------------------------------------------------- widgets


# Textual's bundled json.scm minus its two `conceal` patterns: py-tree-sitter 0.26.1 frees a query's predicate
# lists twice when the query is dropped (heap corruption, then a segfault at a random later point), and those
# patterns are the only ones with predicates (#set!, #eq?). Conceal does not style anything, so nothing is lost.
JSON_HIGHLIGHT_QUERY = """
[
 (true)
 (false)
] @boolean

(null) @json.null

(number) @number

(pair key: (string) @json.label)
(pair value: (string) @string)

(array (string) @string)

(string_content) @spell

(ERROR) @json.error

["," ":"] @punctuation.delimiter

[
 "[" "]"
 "{" "}"
] @punctuation.bracket

(escape_sequence) @string.escape
"""


def _json_language() -> object | None:
    """tree-sitter's JSON grammar, or None when textual[syntax] is not installed."""
    try:
        import tree_sitter
        import tree_sitter_json
    except ImportError:
        return None
    try:
        return tree_sitter.Language(tree_sitter_json.language())
    except (OSError, AttributeError, ValueError, TypeError):
        return None


class JsonTextArea(TextArea):
    """A JSON TextArea that paints the line (and column) of the current validation error."""

    COMPONENT_CLASSES = TextArea.COMPONENT_CLASSES | {"json-area--error-line", "json-area--error-column"}

    DEFAULT_CSS = """
    JsonTextArea > .json-area--error-line {
        background: $error 25%;
    }
    JsonTextArea > .json-area--error-column {
        background: $error;
        color: $text;
    }
    """

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, show_line_numbers=True, tab_behavior="indent", soft_wrap=False)
        self.error_location: tuple[int, int] | None = None  # (row, column) from 0
        language = _json_language()
        if language is not None:  # without tree-sitter (or its JSON grammar) the text is plain, still editable
            self.register_language("json", language, JSON_HIGHLIGHT_QUERY)  # type: ignore[arg-type]
            self.language = "json"

    def set_error_location(self, location: tuple[int, int] | None) -> None:
        if location == self.error_location:
            return
        self.error_location = location
        line_cache = getattr(self, "_line_cache", None)  # rendered lines are cached by content, not by our marker
        if line_cache is not None:
            line_cache.clear()
        self.refresh()

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if self.error_location is not None and self.error_location[0] == line_index:
            line.stylize(self._component_style("json-area--error-line"))
            column = self.error_location[1]
            if column < len(line):
                line.stylize(self._component_style("json-area--error-column"), column, column + 1)
        return line

    def _component_style(self, name: str) -> Style:
        try:
            return self.get_component_rich_style(name)
        except Exception:  # before styles are ready (very first paint): no marker rather than a crash
            return Style()


def _bar(width: int, start: int, end: int, highlight: Style, background: Style) -> Text:
    """Textual's tab underline: a line of ━ with [start, end) in the highlight colour, half bars at its ends."""
    text = Text(end="")
    if end <= start:
        text.append("━" * width, style=background)
        return text
    if start > 0:
        text.append("━" * (start - 1) + "╸", style=background)
    text.append("━" * (min(end, width) - start), style=highlight)
    if end < width:
        text.append("╺" + "━" * (width - end - 1), style=background)
    return text


class Tabs(ChoiceRow, can_focus=True):
    """The editor's tab row (Parameters | JSON) and the bar under it, drawn by one widget.

    It stands in for Textual's ``Tabs`` — a scroll container, two boxes, a widget per tab and an animated underline,
    a fifth of what the editor cost to start — and looks and acts the same: click a tab (or the bar under it), or
    focus the row and press left / right. It keeps the name, so ``Tabs`` selectors still find the editor's tab row.
    Posts `Tabs.Chosen` when the user picks a tab; ``active`` set by code posts nothing.
    """

    DEFAULT_CSS = """
    Tabs {
        width: 1fr;
        height: 2;
        & > .tabs--tab {
            color: $foreground 50%;
        }
        & > .tabs--hover, & > .tabs--active {
            color: $foreground;
        }
        & > .tabs--bar {
            color: $block-cursor-background;
            background: $foreground 10%;
        }
        &:focus {
            & > .tabs--bar {
                background: $foreground 30%;
            }
            & > .tabs--active {
                text-style: $block-cursor-text-style;
                color: $block-cursor-foreground;
                background: $block-cursor-background;
            }
        }
        &:ansi {
            & > .tabs--tab {
                text-style: dim;
            }
            & > .tabs--active {
                text-style: not dim bold;
            }
            & > .tabs--bar {
                background: $border-blurred;
            }
        }
    }
    """

    COMPONENT_CLASSES = {"tabs--tab", "tabs--hover", "tabs--active", "tabs--bar"}

    BINDINGS = [
        Binding("left", "move(-1)", "Previous tab", show=False),
        Binding("right", "move(1)", "Next tab", show=False),
    ]

    class Chosen(ChoiceRow.Chosen):
        """The user picked the tab ``key``."""

    def __init__(self, labels: Mapping[str, str], *, active: str, id: str | None = None) -> None:
        super().__init__(labels, active=active, id=id)
        self._hover: str | None = None

    def _spans(self) -> list[tuple[int, int, str]]:
        """(first column, end column, tab id) of each tab, padding included: one cell each side of the label."""
        spans = []
        x = 0
        for tab_id, label in self._labels.items():
            width = cell_len(label) + 2
            spans.append((x, x + width, tab_id))
            x += width
        return spans

    def render(self) -> Text:
        tab_style = self.get_component_rich_style("tabs--tab")
        hover_style = self.get_component_rich_style("tabs--hover")
        active_style = self.get_component_rich_style("tabs--active")
        bar_style = self.get_component_rich_style("tabs--bar")
        text = Text(no_wrap=True, overflow="crop", end="")
        highlight = (0, 0)
        for start, end, tab_id in self._spans():
            style = active_style if tab_id == self._active else hover_style if tab_id == self._hover else tab_style
            padding = Style(bgcolor=style.bgcolor)  # a tab's padding has its background, not its text colour
            text.append(" ", style=padding)
            text.append(self._labels[tab_id], style=style)
            text.append(" ", style=padding)
            if tab_id == self._active:
                highlight = (start + 1, end - 1)  # under the label, not its padding
        text.append("\n")
        text.append_text(
            _bar(self.content_size.width, *highlight, Style.from_color(bar_style.color), Style.from_color(bar_style.bgcolor))
        )
        return text

    def action_move(self, step: int) -> None:
        ids = list(self._labels)
        self._choose(ids[(ids.index(self._active) + step) % len(ids)])

    def on_click(self, event: Click) -> None:
        if self.choice_at(event.x) is not None:  # the label row or the bar under it
            self.focus()
        super().on_click(event)

    def on_mouse_move(self, event: MouseMove) -> None:
        hover = self.choice_at(event.x) if event.y == 0 else None
        if hover != self._hover:
            self._hover = hover
            self.refresh()

    def on_leave(self, event: Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()


class WorkflowEditor(Vertical):
    """Edits one workflow. `workflow` is None while it cannot be submitted; `error` says why and where."""

    ALLOW_MAXIMIZE = True  # `z` zooms the pane (a plain container is not maximizable by default)

    BORDER_TITLE = "Workflow"

    DEFAULT_CSS = """
    WorkflowEditor #workflow-views {
        height: 1fr;
    }
    WorkflowEditor #workflow-text {
        height: 1fr;
        border: none;
        scrollbar-size-vertical: 1;
    }
    WorkflowEditor #workflow-status {
        width: 1fr;
        height: auto;
        max-height: 3;
        padding: 0 1;
    }
    WorkflowEditor #workflow-status.ok {
        color: $success;
    }
    WorkflowEditor #workflow-status.error {
        color: $error;
    }
    WorkflowEditor #workflow-submit-bar {
        layout: horizontal;
        height: 1;
        padding: 0 1;
        color: $text-muted;  /* "copies" and the target; the count has its own colours */
    }
    WorkflowEditor #workflow-count {
        width: 7;
        height: 1;
        border: none;
        padding: 0 1;
        margin: 0 1 0 7;  /* SubmitBar.COUNT_AT: right of "copies " */
        background: $boost;
    }
    """

    BINDINGS = [
        Binding("ctrl+o", "open", "Open", id="editor.open"),
        Binding("f2", "save", "Save", id="editor.save"),
        Binding("shift+f2,ctrl+shift+s", "save_as", "Save as", id="editor.save_as"),
        Binding("ctrl+t", "toggle_view", "Form/JSON", id="editor.toggle_view"),
        Binding("f4", "external_editor", "$EDITOR", show=False, id="editor.external"),
    ]

    class SubmitRequested(Message):
        pass

    class Changed(Message):
        """The text changed (or a form field became valid/invalid); `valid` says whether it can be submitted."""

        def __init__(self, editor: WorkflowEditor, valid: bool) -> None:
            super().__init__()
            self.editor = editor
            self.valid = valid

        @property
        def control(self) -> WorkflowEditor:
            return self.editor

    def __init__(
        self,
        workflow: Workflow | None = None,
        path: Path | None = None,
        *,
        recent: RecentFiles | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._initial_text = _file_text_of(workflow, path) or (workflow.to_json() if workflow is not None else "")
        self.path = path
        self._parsed: Workflow | None = workflow
        self._json_error: WorkflowError | None = None
        self._recent = recent
        self._saved_text = self._initial_text  # what is on disk (or what was loaded): the "unsaved" marker compares
        self._validated_text: str | None = None
        self._label: str | None = None  # what the title names when there is no path (e.g. "job 1a2b3c4d")

    def compose(self) -> ComposeResult:
        initial_tab = PARAMS_TAB
        if self._initial_text:
            try:
                parse_workflow(self._initial_text)
            except WorkflowError:
                initial_tab = JSON_TAB  # open on the error, not on a disabled form
        yield Tabs({PARAMS_TAB: "Parameters", JSON_TAB: "JSON"}, active=initial_tab, id="workflow-tab-row")
        with ContentSwitcher(id="workflow-views", initial=_VIEWS[initial_tab]):
            yield ParametersForm(id="workflow-params")
            yield JsonTextArea(self._initial_text, id="workflow-text")
        yield Label("", id="workflow-status")
        count = CompactInput("1", id="workflow-count", restrict=r"[0-9]*", max_length=4)
        count.tooltip = "how many copies to submit (ctrl+s)"
        yield SubmitBar(count, id="workflow-submit-bar")

    def on_mount(self) -> None:
        self._validate()
        self._update_title()
        if self.path is not None and self.path.is_file():
            self._remember(self.path)  # a file named on the command line counts as opened

    # ------------------------------------------------------------------ public API

    @property
    def workflow(self) -> Workflow | None:
        """The workflow to submit: None while the JSON does not validate or a form field holds bad text."""
        if self._parsed is None or self._form_error() is not None:
            return None
        return self._parsed

    @property
    def error(self) -> WorkflowError | None:
        """Why `workflow` is None: the JSON's error (with line/column when known), else the first form error."""
        return self._json_error or self._form_error()

    @property
    def count(self) -> int:
        try:
            return max(1, int(self.query_one("#workflow-count", Input).value or "1"))
        except ValueError:
            return 1

    @property
    def same_seed(self) -> bool:
        """The "same seed" toggle: identical copies (else copy 1 keeps the seed and the others get their own)."""
        return self.query_one("#workflow-same-seed", Checkbox).value

    @property
    def sweeps(self) -> list[SweepAxis]:
        """The lists and ranges typed in number fields (each job gets one combination of them)."""
        return self._form.sweeps if self._json_error is None else []

    @property
    def job_count(self) -> int:
        """How many jobs ctrl+s makes per profile: copies × the sweep's combinations."""
        return job_count(self.count, self.sweeps)

    @property
    def text(self) -> str:
        return self._area.text

    @property
    def dirty(self) -> bool:
        """True when the text differs from what was last opened, loaded or saved."""
        return self.text != self._saved_text

    def set_target_label(self, text: str) -> None:
        """Where ctrl+s sends the workflow, shown next to the count (e.g. "→ sim-api" or "→ 2 profiles")."""
        self.query_one(SubmitBar).target = text

    def load_workflow(self, workflow: Workflow, path: Path | None = None) -> None:
        self._load_text(workflow.to_json(), path)

    def load_job_workflow(self, job: Job) -> None:
        if job.workflow is not None:
            self._load_text(Workflow(job.workflow, source=f"job {job.id[:8]}").to_json(), None, label=f"job {job.id[:8]}")
            self.app.notify(f"loaded the workflow of job {job.id[:8]}", title="Workflow")

    def open_file(self, path: Path) -> bool:
        """Read ``path`` into the editor (even when it does not validate: the status shows why). False on I/O error."""
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except OSError as error:
            self.app.notify(f"cannot open {path}: {error.strerror or error}", title="Open", severity="error")
            return False
        except UnicodeDecodeError as error:
            self.app.notify(
                f"cannot open {path}: not UTF-8 text (bad byte at offset {error.start})", title="Open", severity="error"
            )
            return False
        self._load_text(text, path)
        self._remember(path)
        if self._json_error is not None:
            self.app.notify(f"{path.name}: {self._describe(self._json_error)}", title="Opened with an error", severity="warning")
            self.show_view(JSON_TAB)
        return True

    def save_to(self, path: Path) -> bool:
        """Write the workflow to ``path`` (pretty JSON, 2-space indent; the raw text when it does not validate).

        On success ``path`` becomes the editor's file. On failure the error is shown and nothing changes.
        """
        parsed = self._parsed
        content = parsed.to_json(indent=2) if parsed is not None else self.text
        try:
            write_atomically(path, content if content.endswith("\n") else content + "\n", default_mode=0o644)
        except OSError as error:
            reason = error.strerror or str(error)
            self.app.notify(f"cannot save {path}: {reason}; your text is still here", title="Save", severity="error")
            return False
        if parsed is not None and self.text != content:
            self._replace_all(content)  # show what is on disk; undo still has the old layout
        self.path = path
        self._label = None
        self._saved_text = self.text
        self._validate(force=True)
        self._update_title()
        self._remember(path)
        if parsed is None:
            self.app.notify(
                f"saved {path.name}, but it does not validate: {self._describe(self._json_error)}",
                title="Saved with an error",
                severity="warning",
            )
        else:
            self.app.notify(f"saved {path}", title="Saved")
        return True

    def focus_error(self) -> None:
        """Show where the problem is: the JSON error's line and column, or the form field with bad text."""
        if self._json_error is None:
            field = self._form.first_error_field()
            if field is not None:
                self.show_view(PARAMS_TAB)
                field.focus()
                return
        self.show_view(JSON_TAB)
        area = self._area
        area.focus()
        error = self._json_error
        if error is not None and error.line:
            area.move_cursor((error.line - 1, max(0, (error.column or 1) - 1)), center=True)
            # A tab that was hidden has no size until the next layout: centre again once it has one.
            area.call_after_refresh(area.scroll_cursor_visible, center=True)

    def show_view(self, tab_id: str) -> None:
        """Switch to the "Parameters" (PARAMS_TAB) or "JSON" (JSON_TAB) tab."""
        self.query_one(Tabs).active = tab_id
        self.query_one("#workflow-views", ContentSwitcher).current = _VIEWS[tab_id]

    @property
    def active_view(self) -> str:
        """The tab shown: PARAMS_TAB or JSON_TAB."""
        return self.query_one(Tabs).active

    def set_input(self, node_id: str, input_name: str, value: Scalar) -> None:
        """Write one literal input into the JSON, replacing only its value (formatting, cursor and undo kept)."""
        text = self.text
        span = find_input_value_span(text, node_id, input_name)
        if span is not None:
            start, end = span
            literal = json.dumps(value, ensure_ascii=False)
            self._area.replace(literal, offset_to_location(text, start), offset_to_location(text, end))
        elif self._parsed is not None:  # positions not found (cannot happen for valid text, but be safe)
            self._replace_all(self._parsed.with_input(node_id, input_name, value).to_json())
        self._validate()

    def randomize_seeds(self) -> int:
        """Give every literal seed / noise_seed a new random value (in the JSON, like a form edit); returns how many."""
        parsed = self._parsed
        if parsed is None:
            self.app.notify("fix the workflow first", title="Randomize seeds", severity="warning")
            return 0
        fresh = parsed.randomize_seeds()
        changed = 0
        for node_id, node in fresh.nodes.items():
            for name, value in node["inputs"].items():
                if value != parsed.nodes[node_id]["inputs"][name]:
                    self.set_input(node_id, name, value)
                    changed += 1
        return changed

    def open_in_external_editor(self) -> None:
        """Edit the current text in $VISUAL / $EDITOR (the app steps aside meanwhile), then validate what comes back."""
        name = self.path.name if self.path is not None else "workflow.json"
        try:
            command = external_editor_command()
            edited = edit_text_externally(self.text, command, suspend=self.app.suspend, file_name=name)
        except SuspendNotSupported:
            self.app.notify(
                "this terminal cannot hand over to an external editor (headless or web); "
                "save the workflow (F2) and edit the file outside comfyq",
                title="$EDITOR",
                severity="error",
            )
            return
        except ExternalEditorError as error:
            self.app.notify(str(error), title="$EDITOR", severity="error")
            return
        if edited == self.text:
            hint = " (an editor that returns at once, like plain `code`, needs its wait flag: `code --wait`)"
            self.app.notify(f"no changes{hint}", title="$EDITOR")
            return
        self._replace_all(edited)
        self._validate()
        if self._json_error is not None:
            self.show_view(JSON_TAB)
            self.app.notify(self._describe(self._json_error), title="Edited workflow has an error", severity="warning")

    # ------------------------------------------------------------------ actions

    def action_open(self) -> None:
        from screens.open_workflow import OpenWorkflowScreen

        self.app.push_screen(
            OpenWorkflowScreen("open", initial=self._dialog_start(), recent=self._recent_paths()),
            self._open_chosen,
        )

    def _open_chosen(self, path: Path | None) -> None:
        if path is not None:
            self.open_file(path)

    def action_save(self) -> None:
        if self.path is None:
            self.action_save_as()
        else:
            self.save_to(self.path)

    def action_save_as(self) -> None:
        from screens.open_workflow import OpenWorkflowScreen

        initial = str(self.path) if self.path is not None else self._dialog_start() + "workflow.json"
        self.app.push_screen(OpenWorkflowScreen("save", initial=initial, recent=self._recent_paths()), self._save_chosen)

    def _save_chosen(self, path: Path | None) -> None:
        if path is not None:
            self.save_to(path)

    def action_toggle_view(self) -> None:
        self.show_view(JSON_TAB if self.active_view == PARAMS_TAB else PARAMS_TAB)
        if self.active_view == JSON_TAB:
            self._area.focus()
        else:
            self._form.focus_next_field()

    def action_external_editor(self) -> None:
        self.open_in_external_editor()

    # ------------------------------------------------------------------ events

    @on(Tabs.Chosen)
    def _tab_chosen(self, event: Tabs.Chosen) -> None:
        event.stop()
        self.show_view(event.key)

    @on(TextArea.Changed, "#workflow-text")
    def _text_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._validate()

    @on(ParametersForm.Edited)
    def _form_edited(self, event: ParametersForm.Edited) -> None:
        event.stop()
        self.set_input(event.node_id, event.input_name, event.value)

    @on(ParametersForm.ErrorsChanged)
    def _form_errors_changed(self, event: ParametersForm.ErrorsChanged) -> None:
        event.stop()
        self._show_status()
        self.post_message(self.Changed(self, self.workflow is not None))

    @on(Input.Changed, "#workflow-count")
    @on(ParametersForm.SweepsChanged)
    def _job_count_changed(self, event: Message) -> None:
        event.stop()
        bar = self.query_one(SubmitBar)
        bar.copies = self.count
        bar.jobs = self.job_count

    @on(Input.Submitted, "#workflow-count")
    def _count_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.SubmitRequested())

    # ------------------------------------------------------------------ internals

    @property
    def _area(self) -> JsonTextArea:
        return self.query_one("#workflow-text", JsonTextArea)

    @property
    def _form(self) -> ParametersForm:
        return self.query_one("#workflow-params", ParametersForm)

    def _load_text(self, text: str, path: Path | None, *, label: str | None = None) -> None:
        area = self._area
        if self.dirty:
            # Keep the unsaved text reachable: a replace is undoable, a load_text is not.
            self._replace_all(text)
            area.move_cursor((0, 0))
            self.app.notify("your unsaved text was replaced; ctrl+z in the JSON tab brings it back", title="Workflow")
        else:
            area.load_text(text)
        self.path = path
        self._label = label
        self._saved_text = text
        self._validate(force=True)
        self._update_title()

    def _replace_all(self, text: str) -> None:
        area = self._area
        row, column = area.cursor_location
        area.replace(text, (0, 0), area.document.end, maintain_selection_offset=False)
        last_row = area.document.line_count - 1
        row = min(row, last_row)
        area.move_cursor((row, min(column, len(area.document.get_line(row)))))

    def _validate(self, *, force: bool = False) -> None:
        text = self.text
        if text == self._validated_text and not force:
            return  # our own edits come back as TextArea.Changed: nothing new to check
        self._validated_text = text
        source = self.path.name if self.path is not None else (self._label or "workflow")
        try:
            self._parsed = parse_workflow(text, source=source)
            self._json_error = None
        except WorkflowError as error:
            self._parsed = None
            self._json_error = error
        error = self._json_error
        self._area.set_error_location(
            (error.line - 1, max(0, (error.column or 1) - 1)) if error is not None and error.line else None
        )
        self._form.show_workflow(self._parsed, self._describe(error) if error is not None else None)
        self._show_status()
        self._update_title()
        self.post_message(self.Changed(self, self.workflow is not None))

    def _form_error(self) -> WorkflowError | None:
        if self._json_error is not None:
            return None
        errors = self._form.errors if self.is_mounted else {}
        for key, message in errors.items():
            node_id = key.partition(".")[0]
            return WorkflowError(message, source="parameters", node_id=node_id)
        return None

    @staticmethod
    def _describe(error: WorkflowError | None) -> str:
        if error is None:
            return ""
        where = f"line {error.line}:{error.column or 1} " if error.line else ""
        return f"{where}{error.message}"

    def _show_status(self) -> None:
        status = self.query_one("#workflow-status", Label)
        if self._json_error is not None:
            status.update(Text(visible(f"✘ {self._describe(self._json_error)}")))
            status.set_classes("error")
            return
        form_error = self._form_error()
        if form_error is not None:
            status.update(Text(visible(f"✘ parameters: {form_error.message}")))
            status.set_classes("error")
            return
        nodes = len(self._parsed.nodes) if self._parsed is not None else 0
        status.update(Text(f"✔ valid · {nodes} node{'s' if nodes != 1 else ''}"))
        status.set_classes("ok")

    def _update_title(self) -> None:
        name = self.path.name if self.path is not None else self._label
        title = "Workflow" + (f" · {name}" if name else "")
        if self.is_mounted and self.dirty:
            title += " ●"
        self.border_title = title

    def _recent_files(self) -> RecentFiles | None:
        if self._recent is not None:
            return self._recent
        options = getattr(self.app, "options", None)
        locations = getattr(options, "locations", None)
        data_dir = getattr(locations, "data_dir", None)
        return RecentFiles.in_data_dir(Path(data_dir)) if data_dir else None

    def _recent_paths(self) -> list[Path]:
        recent = self._recent_files()
        return recent.load() if recent is not None else []

    def _remember(self, path: Path) -> None:
        recent = self._recent_files()
        if recent is None:
            return
        try:
            recent.add(path)
        except OSError as error:  # a convenience list: say so in the log, do not interrupt the user
            log.warning("could not update the recent-files list %s: %s", recent.file, error)

    def _dialog_start(self) -> str:
        folder = self.path.parent if self.path is not None else Path.cwd()
        text = str(folder)
        return text if text.endswith(os.sep) else text + os.sep
