"""A tiny app that mounts only the workflow editor, for the editor's and the open dialog's tests.

It carries the app attributes the editor reads (`options.locations.data_dir`) and keeps a log of notifications, so
tests drive the editor's files, recent list and dialogs (answered by the main screen's own handler) without the
engine, the store or an emulator.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from screens.open_workflow import WorkflowPathDialogs
from tui.core.locations import Locations
from tui.core.workflow import Workflow, seed_workflow
from tui.widgets.workflow_editor import WorkflowEditor


class EditorApp(WorkflowPathDialogs, App[None]):
    """Only the editor, with the app attributes it reads (`options.locations.data_dir`) and a notification log.

    Its open / save-as requests reach the same handler as on the main screen (`WorkflowPathDialogs`).
    """

    def __init__(self, workflow: Workflow | None, data_dir: Path, path: Path | None = None) -> None:
        super().__init__()
        self._workflow = workflow
        self._path = path
        self.options = _Options(data_dir)
        self.notes: list[tuple[str, str]] = []  # (severity, message)

    def compose(self) -> ComposeResult:
        yield WorkflowEditor(self._workflow, self._path, id="editor")

    def notify(self, message: str, **kwargs: object) -> None:  # type: ignore[override]
        self.notes.append((str(kwargs.get("severity", "information")), message))
        super().notify(message, **kwargs)  # type: ignore[arg-type]


class _Options:
    def __init__(self, data_dir: Path) -> None:
        self.locations = Locations(
            config_file=data_dir / "config.toml",
            data_dir=data_dir,
            store_file=data_dir / "jobs.sqlite3",
            log_file=data_dir / "comfyq.log",
            config_explicit=False,
        )


def editor_of(app: App) -> WorkflowEditor:
    return app.query_one(WorkflowEditor)


def write_workflow(path: Path, steps: int) -> Workflow:
    """The seed workflow with `steps` sampler steps, written to `path` with a 4-space indent (unlike to_json()'s 2)."""
    workflow = seed_workflow().with_input("3", "steps", steps)
    path.write_text(workflow.to_json(indent=4) + "\n", encoding="utf-8")
    return workflow
