"""Open / save-as dialog for workflow files: a path input that completes like a shell, and the recent files.

The dialog only chooses a path (it returns it, or None when cancelled); the editor reads or writes the file. It
checks what it can up front, so a typo gets a message in the dialog rather than a failed open: "no such file",
"that is a folder", "the folder does not exist", and it asks before overwriting an existing file.

`WorkflowPathDialogs` is the one handler of the editor's `PathRequested`: the main screen and the editor-only test
app both mix it in, so the dialog is pushed by a screen (or app), never by the widget.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.widgets.ordered_keys import OrderedInput
from tui.widgets.workflow_editor import WorkflowEditor

DialogMode = Literal["open", "save"]


class PathSuggester(Suggester):
    """Completes a file-system path: folders first (with a trailing separator), then .json files, then the rest.

    Relative paths are taken from ``base_dir`` (the current directory by default); ``~`` is the home directory.
    What is typed is kept as typed (``~/wo`` completes to ``~/workflows/``), so the suggestion extends the value.
    """

    def __init__(self, base_dir: Path | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # the disk changes; never serve stale names
        self.base_dir = base_dir

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value, self.base_dir)


def complete_path(value: str, base_dir: Path | None = None) -> str | None:
    """The first completion of ``value`` (a path being typed), or None when nothing on disk matches."""
    if not value:
        return None
    prefix, matches = _names_matching(value, base_dir)
    if not matches:
        return None
    # Folders first, then .json files, then the rest; by name within each.
    _, name, is_dir = min((0 if is_dir else 1 if name.lower().endswith(".json") else 2, name, is_dir)
                          for name, is_dir in matches)
    completion = value + name[len(prefix) :] + (os.sep if is_dir else "")
    return completion if completion != value else None


def path_candidates(value: str, base_dir: Path | None = None, limit: int = 200) -> list[str]:
    """Every name in the folder `value` points into that starts with what follows its last separator (folders
    with a trailing separator), sorted; hidden names only when asked for with a leading dot. At most `limit`."""
    _, matches = _names_matching(value, base_dir, limit)
    return sorted(name + (os.sep if is_dir else "") for name, is_dir in matches)


def _names_matching(value: str, base_dir: Path | None, limit: int | None = None) -> tuple[str, list[tuple[str, bool]]]:
    """The name being typed at the end of ``value`` and ``(name, is_dir)`` of the entries of its folder that start
    with it (hidden ones only when it starts with a dot), at most ``limit``; none when the folder cannot be read.

    The folder is what precedes the last separator (``~`` expanded; relative to ``base_dir``, else the current
    directory); a value ending in a separator names a folder and an empty name.
    """
    expanded = os.path.expanduser(value)
    if not value or value.endswith(("/", os.sep)):
        folder_text, prefix = expanded, ""
    else:
        folder_text, prefix = os.path.split(expanded)
    folder = Path(folder_text or ".")
    if not folder.is_absolute():
        folder = (base_dir or Path.cwd()) / folder
    matches: list[tuple[str, bool]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
                    continue
                try:
                    matches.append((name, entry.is_dir()))
                except OSError:
                    continue
                if limit is not None and len(matches) >= limit:
                    break
    except OSError:
        return prefix, []
    return prefix, matches


def pasted_path(text: str) -> tuple[str, bool]:
    """What a paste into the path field means: the first non-blank line, without surrounding spaces or quotes
    (file managers quote paths; `file://` URIs become paths), and whether a line break followed it (the user
    pasted "path + Enter", as a shell would run it)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        path = line.strip()
        if not path:
            continue
        if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
            path = path[1:-1]
        if path.startswith("file://"):
            path = unquote(urlparse(path).path)
        followed_by_break = index < len(lines) - 1 or text.endswith(("\n", "\r"))
        return path, followed_by_break
    return "", False


class PathInput(OrderedInput):
    """A path field that completes like a shell: tab takes what every candidate shares; a second tab with
    nothing more to add lists the candidates under the field; with nothing to complete, tab moves focus."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="open_workflow.complete")]

    class CandidatesListed(Message):
        """Tab found several names to choose from: the dialog shows them."""

        def __init__(self, candidates: list[str]) -> None:
            super().__init__()
            self.candidates = candidates

    def action_complete(self) -> None:
        base_dir = getattr(self.screen, "base_dir", None)
        candidates = path_candidates(self.value, base_dir)
        if not candidates:
            self.screen.focus_next()
            return
        folder = self.value[: len(self.value) - len(self._typed_name())]
        shared = os.path.commonprefix(candidates)
        completed = folder + shared
        if len(completed) > len(self.value):
            self.value = completed
            self.cursor_position = len(completed)
        elif len(candidates) > 1:
            self.post_message(self.CandidatesListed(candidates))
        else:
            self.screen.focus_next()

    def _typed_name(self) -> str:
        """The part after the last separator: the name being completed."""
        if self.value.endswith(("/", os.sep)):
            return ""
        return os.path.split(self.value)[1]

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        path, submit = pasted_path(event.text)
        if not path:
            return
        # A pasted path replaces what the dialog put there: it is a whole path, not a name to append.
        self.value = path
        self.cursor_position = len(path)
        if submit:
            self.post_message(self.Submitted(self, self.value))


class OpenWorkflowScreen(ModalScreen[Path | None]):
    """Choose a workflow file to open (``mode="open"``) or a path to save to (``mode="save"``)."""

    CSS_PATH = "open_workflow.tcss"

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="open_workflow.cancel")]

    def __init__(
        self,
        mode: DialogMode = "open",
        *,
        initial: str = "",
        recent: Sequence[Path] = (),
        base_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.mode: DialogMode = mode
        self.initial = initial
        self.recent = list(recent)
        self.base_dir = base_dir or Path.cwd()
        self._confirmed_overwrite: Path | None = None

    def compose(self) -> ComposeResult:
        title = "Open workflow" if self.mode == "open" else "Save workflow as"
        hint = "tab completes · enter " + ("opens" if self.mode == "open" else "saves") + " · esc cancels"
        with Vertical(id="dialog") as dialog:
            dialog.border_title = title
            yield PathInput(
                self.initial,
                placeholder="path/to/workflow.json  (~ and relative paths work)",
                suggester=PathSuggester(self.base_dir),
                id="path",
            )
            yield Label(hint, id="path-message")
            if self.recent:
                yield Label("Recent files", id="recent-title")
                yield OptionList(*(self._recent_option(index, path) for index, path in enumerate(self.recent)), id="recent")
            with Horizontal(id="buttons"):
                yield Button("Open" if self.mode == "open" else "Save", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _recent_option(self, index: int, path: Path) -> Option:
        home = str(Path.home())
        shown = "~" + str(path)[len(home) :] if str(path).startswith(home + os.sep) else str(path)
        if not path.exists():
            return Option(Text(f"{shown}  (missing)", style="dim"), id=f"recent-{index}")
        return Option(Text(shown), id=f"recent-{index}")  # Text, not markup: a "[" in a file name stays a "["

    def on_mount(self) -> None:
        path_input = self.query_one("#path", PathInput)
        path_input.focus()
        path_input.cursor_position = len(path_input.value)

    # ------------------------------------------------------------------ choosing

    def resolve(self, text: str) -> Path:
        """The path the user means: ``~`` expanded, relative to the dialog's base folder."""
        path = Path(os.path.expanduser(text.strip()))
        return path if path.is_absolute() else self.base_dir / path

    def check(self, path: Path) -> tuple[str | None, str | None]:
        """``(error, warning)`` about choosing ``path`` in this mode; both None when it is fine."""
        if self.mode == "open":
            if path.is_dir():
                return f"{path} is a folder; choose a workflow .json file in it", None
            if not path.exists():
                return f"no such file: {path}", None
            return None, None
        if path.is_dir():
            return f"{path} is a folder; add a file name (for example {path / 'workflow.json'})", None
        if not path.parent.is_dir():
            return f"the folder {path.parent} does not exist", None
        if path.exists() and self._confirmed_overwrite != path:
            return None, f"{path.name} exists: press enter again to overwrite it"
        return None, None

    def _choose(self, text: str) -> None:
        message = self.query_one("#path-message", Label)
        if not text.strip():
            self._show(message, "type a path", "-error")
            return
        path = self.resolve(text)
        error, warning = self.check(path)
        if error:
            self._show(message, error, "-error")
            return
        if warning:
            self._confirmed_overwrite = path
            self._show(message, warning, "-warning")
            return
        self.dismiss(path)

    @staticmethod
    def _show(label: Label, text: str, css_class: str) -> None:
        label.update(text)
        label.set_classes(css_class)

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._choose(event.value)

    @on(PathInput.CandidatesListed)
    def _candidates_listed(self, event: PathInput.CandidatesListed) -> None:
        shown = event.candidates[:40]
        more = len(event.candidates) - len(shown)
        text = "  ".join(shown) + (f"  … {more} more" if more else "")
        self._show(self.query_one("#path-message", Label), text, "-candidates")

    @on(Input.Changed, "#path")
    def _typed(self, event: Input.Changed) -> None:
        if self._confirmed_overwrite is not None and self.resolve(event.value) != self._confirmed_overwrite:
            self._confirmed_overwrite = None

    @on(Button.Pressed, "#ok")
    def _ok(self, event: Button.Pressed) -> None:
        event.stop()
        self._choose(self.query_one("#path", PathInput).value)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#recent")
    def _recent_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int((event.option.id or "recent-0").removeprefix("recent-"))
        path = self.recent[index]
        path_input = self.query_one("#path", PathInput)
        path_input.value = str(path)
        if self.mode == "open":
            self._choose(str(path))
        else:
            path_input.focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


class WorkflowPathDialogs:
    """Mixed into the screen (or app) hosting a WorkflowEditor: shows the open / save-as dialog the editor asks for
    and hands the chosen path back to it. The naming-convention handler (not ``@on``) because ``@on`` registers
    only on message-pump classes, and this mixin is a plain class."""

    def on_workflow_editor_path_requested(self, event: WorkflowEditor.PathRequested) -> None:
        event.stop()
        editor = event.editor
        app = editor.app
        if isinstance(app.screen, OpenWorkflowScreen):
            return  # a second ctrl+o queued before the first dialog showed: one dialog is enough

        def chosen(path: Path | None) -> None:
            if path is None or not editor.is_mounted:
                return  # cancelled: the editor is as it was
            if event.purpose == "open":
                editor.open_file(path)
            else:
                editor.save_to(path)

        dialog = OpenWorkflowScreen(event.purpose, initial=event.initial, recent=event.recent)
        app.push_screen(dialog, chosen)
