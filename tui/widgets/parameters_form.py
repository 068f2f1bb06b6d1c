"""The parameters form: the inputs people change most (prompts, seed, steps, cfg, sampler, size, checkpoint, ...).

The form is a view of a :class:`Workflow`'s ``common_parameters()``. It never edits JSON itself: a field whose text
converts to the input's type posts :class:`ParametersForm.Edited` and the editor applies it to the JSON text. A field
whose text does not convert shows the model's message under it and posts nothing, so bad input never reaches the
JSON. When the editor hands over a new workflow, only fields whose *value* differs are rewritten, so the field
being typed in keeps its text and cursor (no feedback loop).

Few widgets, because styling and laying out each one is most of what the editor costs to show: a prompt is a title
and a text area, any other field one `FieldRow` (it draws its name, and its value until its input is built just
after the form's first frame); error lines and the two notes are built the first time they are needed.
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
from textual.events import Click, MouseDown
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Static, TextArea

from tui.core.safe_text import visible
from tui.core.batch import DEFAULT_MAX_JOBS
from tui.core.sweep import SweepAxis, SweepError, is_number_input, looks_like_sweep, parse_values
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
DICE_WIDTH = 5  # the seed's dice and the gap before it


def first_line(name: str, width: int = NAME_WIDTH) -> str:
    """What a ``width``-wide label shows of ``name`` on one line: wrapped at a space, else cut."""
    if len(name) <= width:
        return name
    space = name.rfind(" ", 0, width + 1)
    return name[:space] if space > 0 else name[:width]


class FieldRow(Widget, can_focus=True):
    """One field on one line: its name, then its input (and the dice for a seed).

    The row draws the name itself (a Label per name cost as much to style and lay out as the input beside it).
    Until the row's input exists it also draws the value, exactly as the input shows it unfocused: the form's first
    frame has one widget per field, and the inputs are built just after it (`ParametersForm` asks once it is on
    screen), or at once when the row is focused or clicked or its input is asked for (`ensure_input`).
    """

    COMPONENT_CLASSES = {"param-row--value"}

    def __init__(
        self,
        name: str,
        value: str,
        *,
        input_id: str,
        tooltip: str,
        suggestions: tuple[str, ...] | None,
        dice: bool,
        id: str,
        classes: str,
    ) -> None:
        super().__init__(*([Dice(id=f"{input_id}-dice")] if dice else []), id=id, classes=classes)
        self.field_name = name
        self.value = value  # what the row draws while it has no input (the input holds the text once it exists)
        self.input_id = input_id
        self.has_dice = dice
        self._tooltip_text = tooltip
        self._suggestions = suggestions
        self.input: CompactInput | None = None

    def ensure_input(self) -> CompactInput:
        """The field's input, built and mounted (in front of the dice) the first time it is asked for."""
        if self.input is None:
            suggester = SuggestFromList(self._suggestions, case_sensitive=True) if self._suggestions else None
            field_input = CompactInput(self.value, id=self.input_id, classes="param-input", suggester=suggester)
            field_input.tooltip = self._tooltip_text
            self.input = field_input
            self.can_focus = False  # the input takes the row's place in the focus chain
            self.mount(field_input, before=0)
            self.refresh()
        return self.input

    def show_value(self, text: str) -> None:
        """The value changed while the row has no input yet."""
        if text != self.value:
            self.value = text
            self.refresh()

    def render(self) -> Text:
        line = Text(first_line(visible(self.field_name)).ljust(NAME_WIDTH), no_wrap=True, end="")
        if self.input is None:
            # The input, unfocused: one cell of padding each side, the text cut at its right edge.
            width = self.content_size.width - NAME_WIDTH - (DICE_WIDTH if self.has_dice else 0)
            shown = Text(f" {visible(self.value)}", no_wrap=True, end="")
            shown.truncate(max(0, width - 1), overflow="crop")
            shown.pad_right(max(0, width - shown.cell_len))
            shown.stylize(self.get_component_rich_style("param-row--value"))
            line.append_text(shown)
        return line

    def on_focus(self) -> None:
        self.ensure_input().focus()

    def on_mouse_down(self, event: MouseDown) -> None:
        # The row gets a press on its name, or on its value while it draws it (the press focused the row, which
        # built the input): the input's cursor goes where the press landed, as it would have in the input (its
        # text starts after one cell of padding).
        if event.x < NAME_WIDTH:
            return
        field_input = self.ensure_input()
        field_input.focus()
        position = min(len(self.value), max(0, event.x - NAME_WIDTH - 1))
        field_input.call_after_refresh(setattr, field_input, "cursor_position", position)


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
    ParametersForm .param-row > .param-dice {
        dock: right;  /* in place before the input exists too */
    }
    ParametersForm .param-row > .param-row--value {
        color: $foreground;  /* what the input draws its text with, unfocused */
        background: $boost;
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

    class SweepsChanged(Message):
        """A number field started or stopped holding a list (`5, 7, 9`) or a range (`20..40:10`): see ``sweeps``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workflow: Workflow | None = None
        # widget id -> the values a number field sweeps over (the JSON keeps the input's single value meanwhile)
        self._sweeps: dict[str, SweepAxis] = {}
        self._fields: dict[str, _Field] = {}  # widget id -> field
        self._shape: tuple | None = None  # what the fields were built for; a new shape rebuilds them
        self._generation = 0  # widget ids change on each rebuild, so a late message from an old field is ignored
        self._errors: dict[str, str] = {}  # widget id -> why its text is not a value
        self._error_labels: dict[str, Label] = {}  # widget id -> the line under it (built on its first error)
        self._inputs_due = False

    def render_lines(self, crop: Region) -> list[Strip]:
        # The form is being painted, its rows drawing their values: build their inputs once this frame is out.
        # (Not `call_after_refresh`: inside `App.batch_update` it runs before any frame.)
        if self._inputs_due:
            self._inputs_due = False
            self.call_later(self._build_inputs)
        return super().render_lines(crop)

    def _build_inputs(self) -> None:
        for row in self.query(FieldRow):
            row.ensure_input()

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
        self._inputs_due = True  # built once these rows are on screen (see `render_lines`)

    def _field_widgets(self, field: _Field, label: str) -> list[Widget]:
        """The form's own children for one field (few widgets: styling each one is most of what mounting costs).

        A prompt is its title and its text area; any other input one row (`FieldRow`): name, input, dice for a seed.
        The error line under a field is only built the first time the field holds bad text (see `_show_error`).
        Classes: every one of them is a ``param-part`` (a rebuild removes those); the first is also ``param``.
        """
        item = field.item
        # Names from the workflow file: shown with control characters escaped, never read as markup.
        tooltip = visible(f"{item.title} · node {item.node_id} · {item.class_type}.{item.name} ({item.type_name})")
        if field.is_prompt:
            title = Label(Text(visible(f"{item.title} #{item.node_id}")), classes="param param-part param-title")
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
        suggestions = {"sampler_name": SAMPLER_NAMES, "scheduler": SCHEDULERS}.get(item.name)
        row = FieldRow(
            label,
            display_value(item.value),
            input_id=field.widget_id,
            tooltip=tooltip,
            suggestions=suggestions,
            dice=item.name in _SEED_NAMES and isinstance(item.value, int),
            id=f"{field.widget_id}-row",
            classes="param param-part param-row",
        )
        return [row]

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
            current = self._parse(widget_id)
            if current is not None and _same(current, item.value):
                continue  # the text already says this value (maybe spelled "8" for 8.0): leave the typist alone
            self._set_text(widget_id, display_value(item.value))
            self._show_error(widget_id, None)

    def _widget(self, widget_id: str, *, build: bool = False) -> Input | TextArea | None:
        """The field's text area or input. A row's input is built when ``build``; else None while it has none."""
        if self._fields[widget_id].is_prompt:
            return self.query_one(f"#{widget_id}", TextArea)
        row = self.query_one(f"#{widget_id}-row", FieldRow)
        return row.ensure_input() if build else row.input

    def _set_text(self, widget_id: str, text: str) -> None:
        widget = self._widget(widget_id)
        if widget is None:
            self.query_one(f"#{widget_id}-row", FieldRow).show_value(text)
        elif isinstance(widget, TextArea):
            with self.prevent(TextArea.Changed):
                widget.load_text(text)
        elif isinstance(widget, Input):
            with self.prevent(Input.Changed):
                widget.value = text

    # ------------------------------------------------------------------ fields -> model

    def _text_of(self, widget_id: str) -> str:
        widget = self._widget(widget_id)
        if widget is None:
            return self.query_one(f"#{widget_id}-row", FieldRow).value
        return widget.text if isinstance(widget, TextArea) else widget.value

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
        if self._sweep_edited(widget_id, field):
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
        text = Text(_short(message, self._fields[widget_id].item) if message else "")
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
        widget = self._widget(widget_id, build=message is not None)  # bad text was typed: the input exists
        if widget is not None:
            widget.set_class(message is not None, "-invalid")

    def first_error_field(self) -> Input | TextArea | None:
        for widget_id in self._errors:
            return self._widget(widget_id, build=True)
        return None

    @property
    def errors(self) -> dict[str, str]:
        """``NODE.INPUT`` -> message for every field that holds text the input cannot take."""
        return {self._fields[widget_id].item.key: message for widget_id, message in self._errors.items()}

    def field_widget(self, key: str) -> Input | TextArea:
        """The widget editing ``NODE.INPUT`` (tests and the editor use it to focus a field)."""
        for widget_id, field in self._fields.items():
            if field.item.key == key:
                widget = self._widget(widget_id, build=True)
                assert widget is not None
                return widget
        raise KeyError(key)

    def focus_next_field(self) -> None:
        """Focus the first field (the form has nothing else to focus)."""
        for widget_id in self._fields:
            widget = self._widget(widget_id, build=True)
            assert widget is not None
            widget.focus()
            return

    def randomize_seed(self, key: str | None = None) -> None:
        """Give the seed field ``key`` (or the first seed field) a new random value."""
        for widget_id, field in self._fields.items():
            if field.item.name in _SEED_NAMES and (key is None or field.item.key == key):
                widget = self._widget(widget_id, build=True)
                assert isinstance(widget, Input)
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
