"""The workflow editor pane: a parameters form and the API-format JSON (tabs), live validation, files, $EDITOR.

The JSON text is the one source of truth. The form reads it (each valid text is parsed into a Workflow and shown
in the form) and writes it by replacing only the literal it changes, so the user's formatting, cursor and undo
history survive a form edit. `workflow` is None while the text does not validate (or a form field holds text its
input cannot take); `error` says why and where, and `focus_error()` takes the user there.

Files are chosen by whoever hosts the editor: it posts `PathRequested` (open, or save as) and the host's dialog
hands the path back through `open_file` / `save_to` (screens/open_workflow.py: `WorkflowPathDialogs`). The editor
owns its text and its file; it never pushes a screen.

Characters that could steer the terminal (ESC, C1 controls, bidi overrides) never sit raw in the text area: they
are written as JSON escapes (``\\u001b``) whenever text comes in, which keeps the JSON's meaning.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, TabbedContent, TabPane, Tabs, TextArea

from tui.core.atomic_file import write_atomically
from tui.core.batch import job_count
from tui.core.external_editor import ExternalEditorError, edit_text_externally, external_editor_command
from tui.core.jobs import Job
from tui.core.json_text import (
    escape_unsafe_characters,
    find_input_value_span,
    has_unsafe_characters,
    offset_to_location,
)
from tui.core.recent import RecentFiles
from tui.core.safe_text import visible
from tui.core.sweep import SweepAxis
from tui.core.workflow import Scalar, Workflow, WorkflowError, parse_workflow
from tui.widgets.json_text_area import JsonTextArea
from tui.widgets.ordered_keys import OrderedInput
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.submit_bar import SubmitBar

log = logging.getLogger(__name__)

PARAMS_TAB = "workflow-params-tab"
JSON_TAB = "workflow-json-tab"

PathPurpose = Literal["open", "save"]  # a file to read, or where to write


def _file_text_of(workflow: Workflow | None, path: Path | None) -> str | None:
    """The file's own text when it holds ``workflow`` (so the editor keeps the user's layout), else None."""
    if workflow is None or path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
        return text if parse_workflow(text) == workflow else None
    except (OSError, UnicodeDecodeError, WorkflowError):
        return None


class WorkflowEditor(Vertical):
    """Edits one workflow. `workflow` is None while it cannot be submitted; `error` says why and where."""

    ALLOW_MAXIMIZE = True  # `z` zooms the pane (a plain container is not maximizable by default)

    BORDER_TITLE = "Workflow"

    DEFAULT_CSS = """
    WorkflowEditor #workflow-views {
        height: 1fr;
        & > ContentSwitcher, & TabPane {
            height: 1fr;
            padding: 0;
        }
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
    WorkflowEditor #workflow-count {
        width: 7;
        padding: 0 1;
        margin: 0 0 0 1;
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

    @dataclass
    class PathRequested(Message):
        """The editor needs a path from the user: a file to open (`purpose` "open") or where to save ("save").

        The screen shows its dialog (starting at `initial`, listing `recent`) and hands the answer back with
        `open_file` / `save_to`; a cancel hands back nothing. The editor keeps its text and file meanwhile.
        """

        editor: WorkflowEditor
        purpose: PathPurpose
        initial: str
        recent: list[Path]

        @property
        def control(self) -> WorkflowEditor:
            return self.editor

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
        initial_text = _file_text_of(workflow, path) or (workflow.to_json() if workflow is not None else "")
        self._initial_text = escape_unsafe_characters(initial_text)
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
        with TabbedContent(initial=initial_tab, id="workflow-views"):
            with TabPane("Parameters", id=PARAMS_TAB):
                yield ParametersForm(id="workflow-params")
            with TabPane("JSON", id=JSON_TAB):
                yield JsonTextArea(self._initial_text, id="workflow-text")
        yield Label("", id="workflow-status")
        count = OrderedInput("1", id="workflow-count", restrict=r"[0-9]*", max_length=4, compact=True)
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
        # Control characters stay escaped on disk as on screen: the same JSON, and a `cat` of it is harmless too.
        content = escape_unsafe_characters(parsed.to_json(indent=2)) if parsed is not None else self.text
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
        self.query_one("#workflow-views", TabbedContent).active = tab_id

    @property
    def active_view(self) -> str:
        """The tab shown: PARAMS_TAB or JSON_TAB."""
        return self.query_one("#workflow-views", TabbedContent).active

    def set_input(self, node_id: str, input_name: str, value: Scalar) -> None:
        """Write one literal input into the JSON, replacing only its value (formatting, cursor and undo kept)."""
        text = self.text
        span = find_input_value_span(text, node_id, input_name)
        if span is not None:
            start, end = span
            literal = escape_unsafe_characters(json.dumps(value, ensure_ascii=False))
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
        """Ask the screen for a file to open; the answer comes back through `open_file`."""
        self.post_message(self.PathRequested(self, "open", self._dialog_start(), self._recent_paths()))

    def action_save(self) -> None:
        if self.path is None:
            self.action_save_as()
        else:
            self.save_to(self.path)

    def action_save_as(self) -> None:
        """Ask the screen where to save (starting at the current file); the answer comes back through `save_to`."""
        initial = str(self.path) if self.path is not None else self._dialog_start() + "workflow.json"
        self.post_message(self.PathRequested(self, "save", initial, self._recent_paths()))

    def action_toggle_view(self) -> None:
        self.show_view(JSON_TAB if self.active_view == PARAMS_TAB else PARAMS_TAB)
        if self.active_view == JSON_TAB:
            self._area.focus()
        elif not self._form.focus_first_field():
            # A broken JSON disables the form: the tab row keeps the focus, so ctrl+t still answers here.
            self.query_one("#workflow-views Tabs", Tabs).focus()

    def action_external_editor(self) -> None:
        self.open_in_external_editor()

    # ------------------------------------------------------------------ events

    @on(TextArea.Changed, "#workflow-text")
    def _text_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if has_unsafe_characters(self.text):  # pasted or loaded raw: shown as the JSON escapes that mean them
            self._replace_all(self.text)
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
        text = escape_unsafe_characters(text)
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
        text = escape_unsafe_characters(text)
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
