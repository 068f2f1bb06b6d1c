"""The parameters form: the inputs people change most (prompts, seed, steps, cfg, sampler, size, checkpoint, ...).

The form is a view of a :class:`Workflow`'s ``common_parameters()``. It never edits JSON itself: a field whose text
converts to the input's type posts :class:`ParametersForm.Edited` and the editor applies it to the JSON text. A field
whose text does not convert shows the model's message under it and posts nothing, so bad input never reaches the
JSON. When the editor hands over a new workflow, only fields whose *value* differs are rewritten, so the field
being typed in keeps its text and cursor (no feedback loop).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Static, TextArea

from tui.core.workflow import SEED_MAX, EditableInput, Scalar, Workflow, WorkflowError

# The choices of ComfyUI's KSampler (its /object_info), offered as completions, not enforced: custom nodes add more.
SAMPLER_NAMES = (
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm",
    "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2",
    "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
)  # fmt: skip
SCHEDULERS = (
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic",
    "kl_optimal",
)  # fmt: skip

MAX_FIELDS = 60  # the form shows the first ones (prompts and samplers come first); the JSON tab has everything

_SHORT_NAMES = {
    "sampler_name": "sampler",
    "ckpt_name": "checkpoint",
    "batch_size": "batch",
    "filename_prefix": "prefix",
    "noise_seed": "seed",
}
_SEED_NAMES = frozenset({"seed", "noise_seed"})
_PROMPT_CLASSES = frozenset({"CLIPTextEncode"})


def display_value(value: Scalar) -> str:
    """How a value reads in a field: JSON spelling for numbers and booleans, plain text for strings."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


class CompactInput(Input):
    """A compact Input (no border) that costs no restyle before it is mounted.

    A plain ``Input(value, compact=True)`` restyles itself twice while it is built (the ``compact`` reactive starts
    False and toggles its class; the first value's validation adds ``-valid``), each a full stylesheet pass. Here
    ``compact`` starts True and both classes are given up front. For inputs without validators (``-valid`` is what
    their validation sets).
    """

    compact = reactive(True, toggle_class="-textual-compact")

    def __init__(self, value: str = "", *, classes: str = "", **options: Any) -> None:
        super().__init__(value, classes=f"{classes} -valid -textual-compact".strip(), compact=True, **options)


class Dice(Static, can_focus=True):
    """The seed field's 🎲: click it (or focus it and press enter / space) for a new random seed.

    Looks and acts like a compact Button, but is not one: the first Button on the screen brings Button's large
    stylesheet (parsed, then matched against it), which cost more than the rest of the seed's row.
    """

    DEFAULT_CSS = """
    Dice {
        width: 4;
        height: 1;
        line-pad: 1;
        text-align: center;
        text-style: bold;
        color: $button-foreground;
        background: $surface;
        pointer: pointer;
        &:hover {
            background: $surface-darken-1;
        }
        &:focus {
            text-style: $button-focus-text-style;
            background-tint: $foreground 5%;
        }
        &.-active {
            tint: $background 30%;
        }
    }
    """

    BINDINGS = [Binding("enter,space", "press", "New seed", show=False)]

    class Pressed(Message):
        def __init__(self, dice: Dice) -> None:
            super().__init__()
            self.dice = dice

        @property
        def control(self) -> Dice:
            return self.dice

    def __init__(self, *, id: str) -> None:
        super().__init__("🎲", id=id, classes="param-dice")
        self.tooltip = "a new random seed"

    def on_click(self, event: Click) -> None:
        event.stop()
        self.action_press()

    def action_press(self) -> None:
        if self.is_disabled:  # the form is disabled while the JSON does not validate
            return
        self.add_class("-active")  # the same short flash as a pressed Button
        self.set_timer(0.2, lambda: self.remove_class("-active"))
        self.post_message(self.Pressed(self))


NAME_WIDTH = 11  # the column of field names; inputs and error lines start right of it


def first_line(name: str, width: int = NAME_WIDTH) -> str:
    """What a ``width``-wide label shows of ``name`` on one line: wrapped at a space, else cut."""
    if len(name) <= width:
        return name
    space = name.rfind(" ", 0, width + 1)
    return name[:space] if space > 0 else name[:width]


class FieldRow(Widget):
    """One field on one line: its name, drawn by the row itself, then the input (and the dice for a seed).

    The name is not a Label of its own: styling and laying out a widget per name cost as much as the input
    beside it. The input's left margin leaves the name's column free.
    """

    def __init__(self, name: str, *children: Widget, id: str, classes: str) -> None:
        super().__init__(*children, id=id, classes=classes)
        self.field_name = name

    def render(self) -> Text:
        return Text(first_line(self.field_name), no_wrap=True)


@dataclass(frozen=True)
class _Field:
    """One field of the form and the input it edits."""

    widget_id: str
    item: EditableInput

    @property
    def is_prompt(self) -> bool:
        return self.item.class_type in _PROMPT_CLASSES and isinstance(self.item.value, str)


class ParametersForm(VerticalScroll):
    """Edits the common parameters of one workflow; disabled while the JSON does not validate."""

    DEFAULT_CSS = """
    ParametersForm {
        height: 1fr;
        padding: 0 1 0 0;
        scrollbar-size-vertical: 1;
    }
    ParametersForm .param-row {
        layout: horizontal;
        height: 1;
        color: $text-muted;  /* the field's name; the input and the dice have their own colours */
    }
    ParametersForm .param-row > .param-input {
        margin-left: 11;  /* NAME_WIDTH */
    }
    ParametersForm .param-title {
        color: $text-muted;
    }
    ParametersForm .param-input {
        width: 1fr;
        height: 1;
        border: none;
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
        height: 1;
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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workflow: Workflow | None = None
        self._fields: dict[str, _Field] = {}  # widget id -> field
        self._shape: tuple | None = None  # what the fields were built for; a new shape rebuilds them
        self._generation = 0  # widget ids change on each rebuild, so a late message from an old field is ignored
        self._errors: dict[str, str] = {}  # widget id -> why its text is not a value
        self._error_labels: dict[str, Label] = {}  # widget id -> the line under it (built on its first error)

    def _line(self, widget_id: str) -> Static:
        """The note above the fields ("params-note") or below them ("params-more"), built the first time it is said.

        Most workflows need neither: the form is its fields.
        """
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
            note.update(f"✘ The JSON has an error; fix it in the JSON tab.\n{problem or ''}".rstrip())
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
        """The form's own children for one field (few widgets: styling each one is most of what mounting costs).

        A prompt is its title and its text area; any other input one row (`FieldRow`): name, input, dice for a seed.
        The error line under a field is only built the first time the field holds bad text (see `_show_error`).
        Classes: every one of them is a ``param-part`` (a rebuild removes those); the first is also ``param``.
        """
        item = field.item
        tooltip = f"{item.title} · node {item.node_id} · {item.class_type}.{item.name} ({item.type_name})"
        if field.is_prompt:
            title = Label(f"{item.title} #{item.node_id}", classes="param param-part param-title")
            area = TextArea(
                item.value,  # type: ignore[arg-type]
                id=field.widget_id,
                classes="param-part param-prompt",
                soft_wrap=True,
                show_line_numbers=False,
                tab_behavior="focus",
                highlight_cursor_line=False,
            )
            area.tooltip = tooltip
            return [title, area]
        suggester = None
        if item.name == "sampler_name":
            suggester = SuggestFromList(SAMPLER_NAMES, case_sensitive=True)
        elif item.name == "scheduler":
            suggester = SuggestFromList(SCHEDULERS, case_sensitive=True)
        field_input = CompactInput(
            display_value(item.value), id=field.widget_id, classes="param-input", suggester=suggester
        )
        field_input.tooltip = tooltip
        row: list[Widget] = [field_input]
        if item.name in _SEED_NAMES and isinstance(item.value, int):
            row.append(Dice(id=f"{field.widget_id}-dice"))
        return [FieldRow(label, *row, id=f"{field.widget_id}-row", classes="param param-part param-row")]

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
            current = self._parse(widget_id)
            if current is not None and _same(current, item.value):
                continue  # the text already says this value (maybe spelled "8" for 8.0): leave the typist alone
            self._set_text(widget_id, display_value(item.value))
            self._show_error(widget_id, None)

    def _set_text(self, widget_id: str, text: str) -> None:
        widget = self.query_one(f"#{widget_id}")
        if isinstance(widget, TextArea):
            with self.prevent(TextArea.Changed):
                widget.load_text(text)
        elif isinstance(widget, Input):
            with self.prevent(Input.Changed):
                widget.value = text

    # ------------------------------------------------------------------ fields -> model

    def _text_of(self, widget_id: str) -> str:
        widget = self.query_one(f"#{widget_id}")
        if isinstance(widget, TextArea):
            return widget.text
        if isinstance(widget, Input):
            return widget.value
        return ""

    def _parse(self, widget_id: str) -> Scalar | None:
        """The field's text as the input's type, or None when it does not convert."""
        try:
            return self._convert(widget_id)
        except WorkflowError:
            return None

    def _convert(self, widget_id: str) -> Scalar:
        field = self._fields[widget_id]
        workflow = self.workflow
        if workflow is None:
            raise WorkflowError("the JSON has an error")
        node_id, name = field.item.node_id, field.item.name
        node = workflow.nodes[node_id]
        # Convert against a one-node copy: the same rules as the whole graph, without deep-copying all of it.
        alone = Workflow({node_id: {"class_type": node["class_type"], "inputs": {name: node["inputs"][name]}}}, workflow.source)
        return alone.with_input(node_id, name, self._text_of(widget_id)).nodes[node_id]["inputs"][name]

    def _field_edited(self, widget_id: str) -> None:
        field = self._fields.get(widget_id)
        if field is None or self.workflow is None:
            return
        try:
            value = self._convert(widget_id)
        except WorkflowError as error:
            self._show_error(widget_id, error.message)
            return
        self._show_error(widget_id, None)
        current = self.workflow.nodes[field.item.node_id]["inputs"].get(field.item.name)
        if not _same(value, current):
            self.post_message(self.Edited(self, field.item.node_id, field.item.name, value))

    def _show_error(self, widget_id: str, message: str | None) -> None:
        before = self._errors.get(widget_id)
        if message is None:
            self._errors.pop(widget_id, None)
        else:
            self._errors[widget_id] = message
        if before != message:
            self.post_message(self.ErrorsChanged(self))
        text = Text(_short(message, self._fields[widget_id].item) if message else "")
        error = self._error_labels.get(widget_id)
        if error is None:
            if message is None:
                return  # never had an error: nothing to build, nothing to clear
            field = self.query_one(f"#{widget_id}")
            is_prompt = isinstance(field, TextArea)
            classes = "param-part param-error" + (" param-prompt-error" if is_prompt else "")
            error = Label(text, id=f"{widget_id}-error", classes=classes)
            self._error_labels[widget_id] = error
            self.mount(error, after=field if is_prompt else self.query_one(f"#{widget_id}-row"))
        else:
            error.update(text)
        error.set_class(message is not None, "-shown")
        self.query_one(f"#{widget_id}").set_class(message is not None, "-invalid")

    def first_error_field(self) -> Input | TextArea | None:
        for widget_id in self._errors:
            return self.query_one(f"#{widget_id}")  # type: ignore[return-value]
        return None

    @property
    def errors(self) -> dict[str, str]:
        """``NODE.INPUT`` -> message for every field that holds text the input cannot take."""
        return {self._fields[widget_id].item.key: message for widget_id, message in self._errors.items()}

    def field_widget(self, key: str) -> Input | TextArea:
        """The widget editing ``NODE.INPUT`` (tests and the editor use it to focus a field)."""
        for widget_id, field in self._fields.items():
            if field.item.key == key:
                return self.query_one(f"#{widget_id}")  # type: ignore[return-value]
        raise KeyError(key)

    def focus_next_field(self) -> None:
        """Focus the first field (the form has nothing else to focus)."""
        for widget_id in self._fields:
            self.query_one(f"#{widget_id}").focus()
            return

    def randomize_seed(self, key: str | None = None) -> None:
        """Give the seed field ``key`` (or the first seed field) a new random value."""
        for widget_id, field in self._fields.items():
            if field.item.name in _SEED_NAMES and (key is None or field.item.key == key):
                widget = self.query_one(f"#{widget_id}", Input)
                widget.value = str(random.randint(0, SEED_MAX))  # Input.Changed carries it to the JSON
                return

    @on(Input.Changed, ".param-input")
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id:
            self._field_edited(event.input.id)

    @on(TextArea.Changed, ".param-prompt")
    def _prompt_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if event.text_area.id:
            self._field_edited(event.text_area.id)

    @on(Input.Submitted, ".param-input")
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # enter in a field must not submit the workflow by surprise

    @on(Dice.Pressed)
    def _dice(self, event: Dice.Pressed) -> None:
        event.stop()
        widget_id = (event.dice.id or "").removesuffix("-dice")
        field = self._fields.get(widget_id)
        if field is not None:
            self.randomize_seed(field.item.key)


def _short(message: str, item: EditableInput) -> str:
    """The model's message without its "3.steps (KSampler) " prefix: under the field, the field says that."""
    return "✘ " + message.removeprefix(f"{item.key} ({item.class_type}) ")


def _same(left: object, right: object) -> bool:
    # 8 == 8.0 in Python, but the JSON spelling differs; True == 1 too. Compare type and value.
    return type(left) is type(right) and left == right
