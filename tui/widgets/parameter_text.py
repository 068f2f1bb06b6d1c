"""What the parameters form shows of a value: its text, its tooltip, ComfyUI's range complaint, and the choices a
KSampler offers (completions, not enforced: custom nodes add more).

Apart from parameters_form.py so that module stays one widget; nothing here knows a widget.
"""

from __future__ import annotations

import json

from rich.text import Text

from tui.core.input_limits import limit_for
from tui.core.safe_text import visible
from tui.core.workflow import EditableInput, Scalar

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


def display_value(value: Scalar) -> str:
    """How a value reads in a field: JSON spelling for numbers and booleans, plain text for strings."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)



UNSAFE_NOTE = "holds control characters (shown escaped, e.g. \\x1b): edit it in the JSON tab"
LONG_TEXT = 16  # a text value longer than this has its whole self in the tooltip too
NAME_WIDTH = 11  # the column of field names (.param-name, .param-error's padding)


def shown_value(value: Scalar, *, multiline: bool) -> tuple[str, bool]:
    """What a field shows for ``value`` and whether that is the value itself (False: it holds characters that
    could steer the terminal, shown escaped; the field is then read-only and the JSON tab edits it)."""
    text = display_value(value)
    shown = visible(text, keep_newlines=multiline)
    return shown, shown == text


def field_tooltip(item: EditableInput, safe: bool) -> Text:
    """Where the field's value lives (title, node, input, type); the whole of a long text, should the field be
    narrower than it; why a field is read-only."""
    tooltip = visible(f"{item.title} · node {item.node_id} · {item.class_type}.{item.name} ({item.type_name})")
    if not safe:
        tooltip += f"\n{UNSAFE_NOTE}"
    elif isinstance(item.value, str) and len(item.value) > LONG_TEXT:
        tooltip += f"\n{item.value}"  # the whole of a long text, should the field be narrower than it
    return Text(tooltip)  # Text, not markup: a "[" in a name stays a "["


def range_problem(item: EditableInput, value: Scalar, shown: str | None = None) -> str | None:
    """ComfyUI's complaint about ``value`` for this input ("3.steps (KSampler) takes 1 to 10000; ..."), or None."""
    limit = limit_for(item.class_type, item.name)
    if limit is None or not is_number(value):
        return None
    problem = limit.problem(value, shown if shown is not None else display_value(value))
    return f"{item.key} ({item.class_type}) {problem}" if problem else None


def short_message(message: str, item: EditableInput) -> str:
    """The model's message without its "3.steps (KSampler) " prefix: under the field, the field says that."""
    return "✘ " + message.removeprefix(f"{item.key} ({item.class_type}) ")


def same_value(left: object, right: object) -> bool:
    # 8 == 8.0 in Python, but the JSON spelling differs; True == 1 too. Compare type and value.
    return type(left) is type(right) and left == right
