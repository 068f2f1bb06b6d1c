"""The parameters form: the inputs people change most (prompts, seed, steps, cfg, sampler, size, checkpoint, ...).

The form is a view of a :class:`Workflow`'s ``common_parameters()``. It never edits JSON itself: a field whose text
converts to the input's type posts :class:`ParametersForm.Edited` and the editor applies it to the JSON text. A field
whose text does not convert shows the model's message under it and posts nothing, so bad input never reaches the
JSON. When the editor hands over a new workflow, only fields whose *value* differs are rewritten, so the field
being typed in keeps its text and cursor (no feedback loop).

Stock widgets: a prompt is a title and a TextArea, any other field a row of a Label (its name) and an Input (and a
Button for a seed's dice); a long text (a checkpoint name) gets the row's whole width under its name. A typed
number is also checked against the range ComfyUI declares for it (tui/core/input_limits.py). The checkpoint field
completes from the target profile's checkpoints and says when a name is not among them (checkpoint_field.py). A value
holding characters that could steer the terminal is shown escaped and read-only (the JSON tab edits it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static, TextArea

from tui.core.batch import DEFAULT_MAX_JOBS
from tui.core.checkpoints import CheckpointChoices
from tui.core.safe_text import visible
from tui.core.sweep import SweepAxis, SweepError, is_number_input, looks_like_sweep, parse_values
from tui.core.workflow import SEED_MAX, EditableInput, Scalar, Workflow, WorkflowError
from tui.widgets.checkpoint_field import (
    CHECKPOINT_INPUT, CheckpointChoicesMixin, checkpoint_suggester, list_tooltip, missing_note, set_hint,
)
from tui.widgets.ordered_keys import OrderedInput, OrderedTextArea
from tui.widgets.parameter_text import (
    NAME_WIDTH, SAMPLER_NAMES, SCHEDULERS, field_tooltip, range_problem, same_value, short_message,
    shown_value,
)

MAX_FIELDS = 60  # the form shows the first ones (prompts and samplers come first); the JSON tab has everything
MAX_UNECHOED = 64  # sent values remembered per field until their echo (a bound: echoes are never lost in practice)

_SHORT_NAMES = {
    "sampler_name": "sampler",
    "ckpt_name": "checkpoint",
    "batch_size": "batch",
    "filename_prefix": "prefix",
    "noise_seed": "seed",
}
_SEED_NAMES = frozenset({"seed", "noise_seed"})
_PROMPT_CLASSES = frozenset({"CLIPTextEncode"})


@dataclass(frozen=True)
class _Field:
    """One field of the form and the input it edits."""

    widget_id: str
    item: EditableInput

    @property
    def is_prompt(self) -> bool:
        return self.item.class_type in _PROMPT_CLASSES and isinstance(self.item.value, str)


class ParametersForm(CheckpointChoicesMixin, VerticalScroll):
    """Edits the common parameters of one workflow; disabled while the JSON does not validate."""

    DEFAULT_CSS = """
    ParametersForm {
        height: 1fr;
        padding: 0 1 0 0;
        scrollbar-size-vertical: 1;
    }
    ParametersForm .param-row {
        height: 1;
    }
    ParametersForm .param-row.-stacked {  /* a long text: its name above, the input the whole width below */
        layout: vertical;
        height: auto;
    }
    ParametersForm .param-readout {  /* a text longer than even that: the whole of it, wrapped, under the input */
        display: none;
        width: 1fr;
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    ParametersForm .param-row.-overflowing > .param-readout {
        display: block;
    }
    ParametersForm .param-name {
        width: 11;
        height: 1;
        color: $text-muted;
    }
    ParametersForm .param-row.-stacked > .param-name {
        width: 1fr;
    }
    ParametersForm .param-title {
        color: $text-muted;
    }
    ParametersForm .param-input {
        width: 1fr;
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    ParametersForm .param-input.-invalid {
        background: $error 30%;
    }
    ParametersForm .param-prompt {
        height: 3;
        margin-bottom: 1;
        scrollbar-size-vertical: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    ParametersForm .param-prompt.-invalid {
        margin-bottom: 0;  /* the error line comes first, then the gap */
        background: $error 30%;
    }
    ParametersForm .param-dice {
        width: 4;
        min-width: 4;
        margin-left: 1;
    }
    ParametersForm .param-error {
        color: $error;
        display: none;
        width: 1fr;
        height: auto;
        padding-left: 11;
    }
    ParametersForm .param-error.-shown {
        display: block;
    }
    ParametersForm .param-hint {  /* what → completes to; a checkpoint the server does not list (never blocking) */
        color: $text-muted;
        width: 1fr;
        height: auto;
        padding: 0 1;
    }
    ParametersForm .param-hint.-warning {
        color: $text-warning;
    }
    ParametersForm .param-prompt-error {
        margin-bottom: 1;
    }
    ParametersForm #params-note {
        color: $text-muted;
        margin-top: 1;
    }
    ParametersForm #params-more {
        color: $text-muted;
        margin-top: 1;
    }
    ParametersForm #params-note.-error {
        color: $warning;
    }
    """

    class Edited(Message):
        """A field now holds a valid new value for ``node_id.input_name`` (already typed like the input)."""

        def __init__(self, form: ParametersForm, node_id: str, input_name: str, value: Scalar) -> None:
            super().__init__()
            self.form = form
            self.node_id = node_id
            self.input_name = input_name
            self.value = value

        @property
        def control(self) -> ParametersForm:
            return self.form

    class ErrorsChanged(Message):
        """The set of fields holding text their input cannot take changed (see ``errors``)."""

        def __init__(self, form: ParametersForm) -> None:
            super().__init__()
            self.form = form

        @property
        def control(self) -> ParametersForm:
            return self.form

    class SweepsChanged(Message):
        """A number field started or stopped holding a list (`5, 7, 9`) or a range (`20..40:10`): see ``sweeps``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workflow: Workflow | None = None
        # widget id -> the values a number field sweeps over (the JSON keeps the input's single value meanwhile)
        self._sweeps: dict[str, SweepAxis] = {}
        self._fields: dict[str, _Field] = {}  # widget id -> field
        self._shape: tuple[tuple[str, str, str], ...] | None = None  # what the fields were built for
        self._generation = 0  # widget ids change on each rebuild, so a late message from an old field is ignored
        self._errors: dict[str, str] = {}  # widget id -> why its text is not a value
        self._error_labels: dict[str, Label] = {}  # widget id -> the line under it (built on its first error)
        # widget id -> the values it sent (Edited) whose echo (the editor's show_workflow) has not come back yet
        self._sent: dict[str, list[Scalar]] = {}

    def on_mount(self) -> None:
        self.watch_source_statuses()

    def _line(self, widget_id: str) -> Static:
        """The note above the fields ("params-note") or below them ("params-more"), built the first time it is said
        (most workflows need neither)."""
        try:
            return self.query_one(f"#{widget_id}", Static)
        except NoMatches:
            line = Static("", id=widget_id)
            if widget_id == "params-note" and self.children:
                self.mount(line, before=0)
            else:
                self.mount(line)
            return line

    # ------------------------------------------------------------------ model -> fields

    def show_workflow(self, workflow: Workflow | None, problem: str | None = None) -> None:
        """Show ``workflow``'s parameters; ``None`` (the JSON does not validate) disables the form, keeping its values."""
        if workflow is None:
            self.workflow = None
            self.disabled = bool(self._fields)  # keep the values visible but not editable against a broken JSON
            note = self._line("params-note")
            note.update(Text(visible(f"✘ The JSON has an error; fix it in the JSON tab.\n{problem or ''}".rstrip(), keep_newlines=True)))
            note.set_class(True, "-error")
            note.display = True
            return
        self.disabled = False
        self.workflow = workflow
        every_item = workflow.common_parameters()
        items = every_item[:MAX_FIELDS]  # thousands of widgets would freeze the pane; the JSON has the rest
        shape = tuple((item.key, item.title, item.class_type) for item in items)
        if shape != self._shape:
            self._rebuild(items)
            self._shape = shape
        else:
            self._update_values(items)
        if len(every_item) > len(items):
            more = self._line("params-more")
            more.update(f"… and {len(every_item) - len(items)} more: edit them in the JSON tab.")
            more.display = True
        else:
            self.query("#params-more").set(display=False)
        if items:
            self.query("#params-note").set(display=False)
        else:
            note = self._line("params-note")
            note.update("No common parameters in this workflow (prompts, sampler, size, checkpoint); edit the JSON.")
            note.set_class(False, "-error")
            note.display = True

    def _rebuild(self, items: list[EditableInput]) -> None:
        self._generation += 1
        self.query(".param-part").remove()
        self._fields = {}
        self._error_labels = {}
        self._sent = {}
        if self._sweeps:
            self._sweeps = {}
            self.post_message(self.SweepsChanged())
        if self._errors:
            self._errors = {}
            self.post_message(self.ErrorsChanged(self))
        counts: dict[str, int] = {}
        for item in items:
            label = _SHORT_NAMES.get(item.name, item.name)
            counts[label] = counts.get(label, 0) + 1
        widgets: list[Widget] = []
        for index, item in enumerate(items):
            field = _Field(f"param-{self._generation}-{index}", item)
            self._fields[field.widget_id] = field
            label = _SHORT_NAMES.get(item.name, item.name)
            if counts[label] > 1 and not field.is_prompt:
                label = f"{label} #{item.node_id}"  # two samplers: say which node
            widgets.extend(self._field_widgets(field, label))
        more = self.query("#params-more")
        if more:
            self.mount_all(widgets, before=more.first())
        else:
            self.mount_all(widgets)

    def _field_widgets(self, field: _Field, label: str) -> list[Widget]:
        """The form's own children for one field: a prompt's title and text area, or one row (name, input, and a
        dice button for a seed). The error line under a field is built the first time it holds bad text.
        Every one of them is a ``param-part`` (a rebuild removes those); the first is also ``param``.
        """
        item = field.item
        # Names and values from the workflow file: control characters shown escaped, never read as markup.
        text, safe = shown_value(item.value, multiline=field.is_prompt)
        if field.is_prompt:
            title = Label(Text(visible(f"{item.title} #{item.node_id}")), classes="param param-part param-title")
            area = OrderedTextArea(
                text,
                id=field.widget_id,
                classes="param-part param-prompt",
                soft_wrap=True,
                show_line_numbers=False,
                tab_behavior="focus",
                highlight_cursor_line=False,
                read_only=not safe,
            )
            area.tooltip = field_tooltip(item, safe)
            return [title, area]
        suggestions = {"sampler_name": SAMPLER_NAMES, "scheduler": SCHEDULERS}.get(item.name)
        field_input = OrderedInput(
            text,
            id=field.widget_id,
            classes="param-input",
            compact=True,
            suggester=SuggestFromList(suggestions, case_sensitive=True) if suggestions else None,
            disabled=not safe,
        )
        field_input.tooltip = self._tooltip_of(item, safe)
        if item.name == CHECKPOINT_INPUT:
            field_input.suggester = checkpoint_suggester(self.checkpoints)
        children: list[Widget] = [Label(Text(visible(label)), classes="param-name"), field_input]
        if item.name in _SEED_NAMES and isinstance(item.value, int):
            dice = Button("🎲", id=f"{field.widget_id}-dice", classes="param-dice", compact=True)
            dice.tooltip = "a new random seed"
            children.append(dice)
        if isinstance(item.value, str):  # a text can be longer than any input: its whole self, wrapped, below
            children.append(Static(Text(text), id=f"{field.widget_id}-readout", classes="param-readout"))
        row = Horizontal(*children, id=f"{field.widget_id}-row", classes="param param-part param-row")
        self._fit_row(row, item.value, text)
        if item.name != CHECKPOINT_INPUT:
            return [row]
        hint = Label("", id=f"{field.widget_id}-hint", classes="param-part param-hint")
        set_hint(hint, missing_note(self.checkpoint_profile, self.checkpoints, text) if safe else None)
        return [row, hint]

    def _tooltip_of(self, item: EditableInput, safe: bool) -> Text:
        tooltip = field_tooltip(item, safe)
        extra = list_tooltip(self.checkpoint_profile, self.checkpoints) if item.name == CHECKPOINT_INPUT else None
        return tooltip + Text(f"\n{extra}") if extra else tooltip

    def show_checkpoints(self, profile: str | None, choices: CheckpointChoices | None) -> None:
        self.checkpoint_profile, self.checkpoints = profile, choices
        for widget_id, field in self._fields.items():
            if field.item.name == CHECKPOINT_INPUT and not field.is_prompt:
                widget = self._widget(widget_id)
                widget.suggester = checkpoint_suggester(choices)  # type: ignore[union-attr]
                widget.tooltip = self._tooltip_of(field.item, not self._is_read_only(widget))
                self._show_checkpoint_note(widget_id)

    def _fit_row(self, row: Widget, value: Scalar, text: str) -> None:
        """Lay out a field's row for its text: beside its name where it fits, else under it (`-stacked`, and a
        checkpoint name rarely fits beside it); longer than the whole row, also whole and wrapped under the input
        (`-overflowing`): at 80 columns the sidebar is 28 cells and the name must still be readable."""
        width = self.scrollable_content_region.width
        needed = cell_len(text) + 2  # the input's padding
        row.set_class(isinstance(value, str) and width > 0 and needed > width - NAME_WIDTH, "-stacked")
        row.set_class(isinstance(value, str) and width > 0 and needed > width, "-overflowing")

    def _refit(self, widget_id: str) -> None:
        field = self._fields[widget_id]
        if field.is_prompt:
            return
        row = self.query_one(f"#{widget_id}-row")
        text = self._text_of(widget_id)
        for readout in row.query(".param-readout").results(Static):
            readout.update(Text(text))
        self._fit_row(row, field.item.value, text)

    def on_resize(self) -> None:
        for widget_id in self._fields:
            self._refit(widget_id)

    def _update_values(self, items: list[EditableInput]) -> None:
        try:
            self._update_mounted_values(items)
        except NoMatches:  # the fields of a rebuild in this same tick are not composed yet: build them afresh
            self._rebuild(items)

    def _update_mounted_values(self, items: list[EditableInput]) -> None:
        by_key = {item.key: item for item in items}
        for widget_id, field in list(self._fields.items()):
            item = by_key[field.item.key]
            self._fields[widget_id] = _Field(widget_id, item)
            if widget_id in self._sweeps:
                continue  # the field holds a list or range: the JSON's single value must not overwrite it
            if self._is_echo(widget_id, item.value):
                continue  # what this field sent, coming back: the field's text is that or newer (typed since)
            widget = self._widget(widget_id)
            text, safe = shown_value(item.value, multiline=field.is_prompt)
            if safe and not self._is_read_only(widget):
                current = self._parse(widget_id)
                if current is not None and same_value(current, item.value):
                    continue  # the text already says this value (maybe spelled "8" for 8.0): leave the typist alone
            self._set_text(widget, text, safe)
            widget.tooltip = self._tooltip_of(item, safe)
            self._refit(widget_id)
            self._show_error(widget_id, None)
            if item.name == CHECKPOINT_INPUT:
                self._show_checkpoint_note(widget_id)

    def _widget(self, widget_id: str) -> Input | TextArea:
        """The field's text area (a prompt) or input."""
        if self._fields[widget_id].is_prompt:
            return self.query_one(f"#{widget_id}", TextArea)
        return self.query_one(f"#{widget_id}", Input)

    @staticmethod
    def _is_read_only(widget: Input | TextArea) -> bool:
        """A field showing an escaped value (see `shown_value`): its text is not the value."""
        return widget.read_only if isinstance(widget, TextArea) else widget.disabled

    def _set_text(self, widget: Input | TextArea, text: str, safe: bool) -> None:
        if isinstance(widget, TextArea):
            with self.prevent(TextArea.Changed):
                widget.load_text(text)
            widget.read_only = not safe
        else:
            with self.prevent(Input.Changed):
                widget.value = text
            widget.disabled = not safe

    # ------------------------------------------------------------------ fields -> model

    def _text_of(self, widget_id: str) -> str:
        widget = self._widget(widget_id)
        return widget.text if isinstance(widget, TextArea) else widget.value

    def _parse(self, widget_id: str) -> Scalar | None:
        """The field's text as the input's type, or None when it does not convert."""
        try:
            return self._convert(widget_id)
        except WorkflowError:
            return None

    def _convert(self, widget_id: str) -> Scalar:
        """The field's text as the input's type, within ComfyUI's declared range; WorkflowError says why not."""
        field = self._fields[widget_id]
        workflow = self.workflow
        if workflow is None:
            raise WorkflowError("the JSON has an error")
        node_id, name = field.item.node_id, field.item.name
        text = self._text_of(widget_id)
        value = workflow.coerce(node_id, name, text)
        problem = range_problem(field.item, value, text.strip())
        if problem is not None:
            raise WorkflowError(problem, source=workflow.source, node_id=node_id)
        return value

    def _field_edited(self, widget_id: str) -> None:
        field = self._fields.get(widget_id)
        if field is None or self.workflow is None or self._is_read_only(self._widget(widget_id)):
            return
        if self._sweep_edited(widget_id, field):
            return
        try:
            value = self._convert(widget_id)
        except WorkflowError as error:
            self._show_error(widget_id, error.message)
            return
        self._show_error(widget_id, None)
        current = self.workflow.nodes[field.item.node_id]["inputs"].get(field.item.name)
        if not same_value(value, current):
            self._sent.setdefault(widget_id, []).append(value)
            del self._sent[widget_id][:-MAX_UNECHOED]
            self.post_message(self.Edited(self, field.item.node_id, field.item.name, value))

    def _is_echo(self, widget_id: str, value: Scalar) -> bool:
        """Whether `value` is one this field sent (it and the ones sent before it are then done). Keys typed quickly
        reach the field before the editor has echoed the first: an echo must not put an older text back."""
        sent = self._sent.get(widget_id)
        if not sent:
            return False
        for index, earlier in enumerate(sent):
            if same_value(earlier, value):
                del sent[: index + 1]
                return True
        sent.clear()  # a value from elsewhere (the JSON tab, a file): it wins
        return False

    def _sweep_edited(self, widget_id: str, field: _Field) -> bool:
        """A number field holding a list or a range is a sweep (True: handled here); any other text is not."""
        assert self.workflow is not None
        text = self._text_of(widget_id)
        item = field.item
        sweep = not field.is_prompt and is_number_input(item.value) and looks_like_sweep(text)
        before = self._sweeps.pop(widget_id, None)
        if sweep:
            try:
                values = parse_values(self.workflow, item.node_id, item.name, text, cap=DEFAULT_MAX_JOBS)
            except SweepError as error:
                self._show_error(widget_id, str(error))
            else:
                problem = next(filter(None, (range_problem(item, value) for value in values)), None)
                if problem is not None:
                    self._show_error(widget_id, problem)
                else:
                    self._sweeps[widget_id] = SweepAxis(item.node_id, item.name, values)
                    self._show_error(widget_id, None)
        if self._sweeps.get(widget_id) != before:
            self.post_message(self.SweepsChanged())
        return sweep

    @property
    def sweeps(self) -> list[SweepAxis]:
        """The axes of the fields that hold a list or a range, in the form's order."""
        return [self._sweeps[widget_id] for widget_id in self._fields if widget_id in self._sweeps]

    def _show_error(self, widget_id: str, message: str | None) -> None:
        before = self._errors.get(widget_id)
        if message is None:
            self._errors.pop(widget_id, None)
        else:
            self._errors[widget_id] = message
        if before != message:
            self.post_message(self.ErrorsChanged(self))
        text = Text(visible(short_message(message, self._fields[widget_id].item)) if message else "")
        error = self._error_labels.get(widget_id)
        if error is None:
            if message is None:
                return  # never had an error: nothing to build, nothing to clear
            is_prompt = self._fields[widget_id].is_prompt
            classes = "param-part param-error" + (" param-prompt-error" if is_prompt else "")
            error = Label(text, id=f"{widget_id}-error", classes=classes)
            self._error_labels[widget_id] = error
            self.mount(error, after=self.query_one(f"#{widget_id}" if is_prompt else f"#{widget_id}-row"))
        else:
            error.update(text)
        error.set_class(message is not None, "-shown")
        self._widget(widget_id).set_class(message is not None, "-invalid")

    def first_error_field(self) -> Input | TextArea | None:
        for widget_id in self._errors:
            return self._widget(widget_id)
        return None

    @property
    def errors(self) -> dict[str, str]:
        """``NODE.INPUT`` -> message for every field that holds text the input cannot take."""
        return {self._fields[widget_id].item.key: message for widget_id, message in self._errors.items()}

    def field_widget(self, key: str) -> Input | TextArea:
        """The widget editing ``NODE.INPUT`` (tests and the editor use it to focus a field)."""
        for widget_id, field in self._fields.items():
            if field.item.key == key:
                return self._widget(widget_id)
        raise KeyError(key)

    def focus_first_field(self) -> bool:
        """Focus the first field that takes input; False when none can (the form is disabled, or empty)."""
        if self.disabled:
            return False
        for widget_id in self._fields:
            widget = self._widget(widget_id)
            if widget.focusable:
                widget.focus()
                return True
        return False

    def randomize_seed(self, key: str | None = None) -> None:
        """Give the seed field ``key`` (or the first seed field) a new random value."""
        for widget_id, field in self._fields.items():
            if field.item.name in _SEED_NAMES and (key is None or field.item.key == key):
                widget = self._widget(widget_id)
                if isinstance(widget, Input) and not widget.disabled:
                    widget.value = str(random.randint(0, SEED_MAX))  # Input.Changed carries it to the JSON
                return

    @on(Input.Changed, ".param-input")
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id:
            self._field_edited(event.input.id)
            if event.input.id in self._fields:
                self._refit(event.input.id)  # the read-out under a long text follows what is typed
                if self._fields[event.input.id].item.name == CHECKPOINT_INPUT:
                    self._show_checkpoint_note(event.input.id)

    @on(TextArea.Changed, ".param-prompt")
    def _prompt_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if event.text_area.id:
            self._field_edited(event.text_area.id)

    @on(Input.Submitted, ".param-input")
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # enter in a field must not submit the workflow by surprise

    @on(Button.Pressed, ".param-dice")
    def _dice(self, event: Button.Pressed) -> None:
        event.stop()
        widget_id = (event.button.id or "").removesuffix("-dice")
        field = self._fields.get(widget_id)
        if field is not None:
            self.randomize_seed(field.item.key)
