"""The workflow editor pane: API-format JSON with live validation, and how many copies to submit."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, TextArea

from tui.core.jobs import Job
from tui.core.workflow import Workflow, WorkflowError, parse_workflow


class WorkflowEditor(Vertical):
    """Edits one workflow. `workflow` is None while the text does not validate; `error` says why and where."""

    BORDER_TITLE = "Workflow"

    class SubmitRequested(Message):
        pass

    class Changed(Message):
        def __init__(self, editor: WorkflowEditor, valid: bool) -> None:
            super().__init__()
            self.editor = editor
            self.valid = valid

    def __init__(self, workflow: Workflow | None = None, path: Path | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = workflow
        self.path = path
        self.workflow: Workflow | None = workflow
        self.error: WorkflowError | None = None

    def compose(self) -> ComposeResult:
        text = self._initial.to_json() if self._initial is not None else ""
        yield TextArea(text, language="json", id="workflow-text", show_line_numbers=True, tab_behavior="indent")
        with Horizontal(id="workflow-bar"):
            yield Label("", id="workflow-status")
            yield Label("count", classes="dim")
            yield Input("1", id="workflow-count", type="integer", restrict=r"[0-9]*", max_length=4)

    def on_mount(self) -> None:
        self._validate()

    @property
    def count(self) -> int:
        try:
            return max(1, int(self.query_one("#workflow-count", Input).value or "1"))
        except ValueError:
            return 1

    @property
    def text(self) -> str:
        return self.query_one("#workflow-text", TextArea).text

    def load_workflow(self, workflow: Workflow, path: Path | None = None) -> None:
        self.path = path
        self.query_one("#workflow-text", TextArea).load_text(workflow.to_json())
        self._validate()

    def load_job_workflow(self, job: Job) -> None:
        if job.workflow is not None:
            self.load_workflow(Workflow(job.workflow, source=f"job {job.id[:8]}"))
            self.app.notify(f"loaded the workflow of job {job.id[:8]}", title="Workflow")

    def focus_error(self) -> None:
        area = self.query_one("#workflow-text", TextArea)
        area.focus()
        if self.error is not None and self.error.line:
            area.move_cursor((self.error.line - 1, max(0, (self.error.column or 1) - 1)))

    def open_in_external_editor(self) -> None:
        self.app.notify("not available yet", severity="warning")

    @on(TextArea.Changed, "#workflow-text")
    def _text_changed(self) -> None:
        self._validate()

    def _validate(self) -> None:
        status = self.query_one("#workflow-status", Label)
        source = str(self.path) if self.path else "workflow"
        try:
            self.workflow = parse_workflow(self.text, source=source)
            self.error = None
            status.update(f"✔ valid · {len(self.workflow.nodes)} nodes")
            status.set_classes("ok")
        except WorkflowError as error:
            self.workflow = None
            self.error = error
            where = f"line {error.line}:{error.column} " if error.line else ""
            status.update(f"✘ {where}{error.message}")
            status.set_classes("error")
        self.post_message(self.Changed(self, self.workflow is not None))
