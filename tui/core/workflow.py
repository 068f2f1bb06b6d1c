"""The workflow model: load, validate and edit ComfyUI API-format workflows (design.md §2, issue 2 item 6).

An API-format workflow is a JSON object mapping node ids to ``{"class_type": ..., "inputs": {...}}``. An input is
either a literal (number, string, bool, ...) or a link ``["<node id>", <output slot>]`` to another node's output.

A :class:`Workflow` is treated as immutable: every edit returns a new one, so a job keeps exactly the graph it was
submitted with. Every problem is a :class:`WorkflowError` whose message names what is wrong and, when the JSON text
is known, where (line and column), so the CLI can print it and the editor can jump to it. The checks themselves
are in tui/core/workflow_validation.py.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Union

from tui.core.files import MAX_WORKFLOW_BYTES, read_capped
from tui.core.value_kinds import kind_of, python_type_name
# WorkflowError, validate_workflow and the two format messages are part of this module's face: importers of the model
# name them from here.
from tui.core.workflow_validation import (
    PROMPT_BODY_MESSAGE,
    UI_FORMAT_MESSAGE,
    WorkflowError,
    is_link,
    validate_workflow,
)

__all__ = [
    "PROMPT_BODY_MESSAGE",
    "SEED_MAX",
    "UI_FORMAT_MESSAGE",
    "EditableInput",
    "Scalar",
    "Workflow",
    "WorkflowError",
    "load_workflow",
    "parse_workflow",
    "seed_workflow",
    "validate_workflow",
    "workflow_from_dict",
]

Scalar = Union[str, int, float, bool]

SEED_WORKFLOW_RESOURCE = "sd15_txt2img.json"
SEED_WORKFLOW_SOURCE = "<seed sd15_txt2img>"
SEED_MAX = 2**50

# The inputs people change most, in the order the parameters form shows them: (class_types, input names).
_COMMON_INPUTS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"CLIPTextEncode"}), ("text",)),
    (
        frozenset({"KSampler", "KSamplerAdvanced"}),
        ("seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    ),
    (frozenset({"EmptyLatentImage"}), ("width", "height", "batch_size")),
    (frozenset({"CheckpointLoaderSimple"}), ("ckpt_name",)),
    (frozenset({"SaveImage"}), ("filename_prefix",)),
)

# ComfyUI declares these as FLOAT, but exported JSON often holds them as whole numbers ("cfg": 8). Accept a
# fractional value for them even when the current value is an int, so "3.cfg=7.5" works on any export.
_FLOAT_INPUTS: frozenset[tuple[str, str]] = frozenset(
    {("KSampler", "cfg"), ("KSampler", "denoise"), ("KSamplerAdvanced", "cfg")}
)

_SEED_INPUTS = ("seed", "noise_seed")
_OUTPUT_CLASSES = frozenset({"SaveImage", "PreviewImage", "VHS_VideoCombine"})
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class EditableInput:
    """One literal input of one node, as the parameters form and ``--set`` see it."""

    node_id: str
    title: str
    class_type: str
    name: str
    value: Scalar
    common: bool = False

    @property
    def key(self) -> str:
        return f"{self.node_id}.{self.name}"

    @property
    def type_name(self) -> str:
        """``bool``, ``int``, ``float`` or ``str``: what a new value is converted to."""
        return python_type_name(self.value)


class Workflow:
    """An API-format workflow graph. Treat ``nodes`` as read-only; every edit returns a new Workflow."""

    __slots__ = ("nodes", "source")

    def __init__(self, nodes: dict[str, dict], source: str = "<dict>") -> None:
        self.nodes = nodes
        self.source = source

    def __repr__(self) -> str:
        return f"Workflow(source={self.source!r}, nodes={len(self.nodes)}, hash={self.content_hash()[:12]})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Workflow):
            return NotImplemented
        return self.nodes == other.nodes

    def __hash__(self) -> int:
        raise TypeError("a Workflow is not hashable (its graph is a dict); compare content_hash() instead")

    # ----- serialisation -------------------------------------------------------------------------------------

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.nodes, indent=indent, ensure_ascii=False)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.nodes)

    def content_hash(self) -> str:
        """sha256 of the canonical JSON: the same graph gives the same hash whatever its key order."""
        canonical = json.dumps(self.nodes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # ----- reading ---------------------------------------------------------------------------------------------

    def title_of(self, node_id: str) -> str:
        """The node's ``_meta.title``, or its class_type when it has none."""
        return _title_of(self.nodes[node_id])

    def editable_inputs(self) -> list[EditableInput]:
        """Every literal (non-link) scalar input, the common ones first, then the rest in graph order."""
        ranked: list[tuple[tuple, EditableInput]] = []
        for node_id in sorted(self.nodes, key=_natural_key):
            node = self.nodes[node_id]
            class_type = node["class_type"]
            for position, (name, value) in enumerate(node["inputs"].items()):
                if not _is_scalar(value):
                    continue
                rank = _common_rank(class_type, name)
                if rank is not None:  # grouped by kind (prompts, sampler, size, ...), then node, then input
                    sort_key = (rank[0], _natural_key(node_id), rank[1])
                else:  # the rest after every common one, in graph order
                    sort_key = (len(_COMMON_INPUTS), _natural_key(node_id), position)
                item = EditableInput(node_id, _title_of(node), class_type, name, value, rank is not None)
                ranked.append((sort_key, item))
        ranked.sort(key=lambda pair: pair[0])
        return [item for _, item in ranked]

    def common_parameters(self) -> list[EditableInput]:
        return [item for item in self.editable_inputs() if item.common]

    def output_nodes(self) -> list[str]:
        """Ids of the nodes that produce results (SaveImage, PreviewImage, Save*, *Preview*, VHS_VideoCombine)."""
        return [
            node_id
            for node_id in sorted(self.nodes, key=_natural_key)
            if _is_output_class(self.nodes[node_id]["class_type"])
        ]

    def resolve_target(self, target: str) -> tuple[str, str]:
        """Turn ``NODE.INPUT`` or ``TITLE.INPUT`` into ``(node_id, input_name)``, or raise WorkflowError."""
        node_ref, dot, input_name = target.strip().rpartition(".")
        node_ref = node_ref.strip()
        input_name = input_name.strip()
        if not dot or not node_ref or not input_name:
            raise self._error(f'"{target}" is not NODE.INPUT or TITLE.INPUT (for example "3.seed")')
        node_id = self._resolve_node(node_ref, input_name)
        node = self.nodes[node_id]
        inputs = node["inputs"]
        if input_name not in inputs:
            raise self._error(
                f'node {node_id} ({_describe(node)}) has no input "{input_name}"'
                f"{_did_you_mean(input_name, list(inputs))}; its inputs: {', '.join(inputs) or '(none)'}",
                node_id=node_id,
            )
        if is_link(inputs[input_name]):
            source_id, slot = inputs[input_name]
            raise self._error(
                f'node {node_id} ({_describe(node)}) input "{input_name}" is a link to node {source_id} '
                f"output {slot}, not a value; edit the node it comes from instead",
                node_id=node_id,
            )
        return node_id, input_name

    # ----- editing (each returns a new Workflow) -------------------------------------------------------------

    def set_value(self, target: str, value: object) -> Workflow:
        """Set ``NODE.INPUT`` / ``TITLE.INPUT`` to ``value``, converted to the type of the current value."""
        node_id, input_name = self.resolve_target(target)
        return self.with_input(node_id, input_name, value)

    def with_input(self, node_id: str, input_name: str, value: object) -> Workflow:
        """Set one literal input by node id and input name (the value is typed like the current one)."""
        if node_id not in self.nodes:
            raise self._error(f"no node {node_id}{_did_you_mean(node_id, list(self.nodes))}")
        node = self.nodes[node_id]
        if input_name not in node["inputs"] or is_link(node["inputs"][input_name]):
            self.resolve_target(f"{node_id}.{input_name}")  # raises the precise message
        current = node["inputs"][input_name]
        new_value = _coerce(current, value, node_id, node["class_type"], input_name, self.source)
        return Workflow(_replace_inputs(self.nodes, node_id, {input_name: new_value}), self.source)

    def apply_assignment(self, assignment: str) -> Workflow:
        """Apply ``NODE.INPUT=VALUE`` or ``TITLE.INPUT=VALUE``; VALUE is text converted to the current type."""
        target, equals, text = assignment.partition("=")
        if not equals or not target.strip():
            raise self._error(f'"{assignment}" is not NODE.INPUT=VALUE (for example "3.steps=30")')
        return self.set_value(target, text)

    def apply_assignments(self, assignments: Iterable[str]) -> Workflow:
        workflow = self
        for assignment in assignments:
            workflow = workflow.apply_assignment(assignment)
        return workflow

    def seed_inputs(self) -> list[tuple[str, str]]:
        """``(node_id, input)`` of every literal integer seed (``seed``, ``noise_seed``: KSampler, KSamplerAdvanced,
        RandomNoise, SamplerCustom, ...), in graph order: what copies vary and what a job's seed column shows."""
        found: list[tuple[str, str]] = []
        for node_id in sorted(self.nodes, key=_natural_key):
            inputs = self.nodes[node_id]["inputs"]
            for name in _SEED_INPUTS:
                value = inputs.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    found.append((node_id, name))
        return found

    def randomize_seeds(self, rng: random.Random | None = None) -> Workflow:
        """Give every literal integer ``seed`` / ``noise_seed`` a fresh random value in 0..2**50."""
        rng = rng or random.Random()
        nodes = self.nodes
        for node_id, name in self.seed_inputs():
            nodes = _replace_inputs(nodes, node_id, {name: rng.randint(0, SEED_MAX)})
        return Workflow(nodes, self.source)

    def coerce(self, node_id: str, input_name: str, value: object) -> Scalar:
        """``value`` converted to the type of the input's current value (as ``--set`` does), or WorkflowError."""
        node = self.nodes[node_id]
        return _coerce(node["inputs"][input_name], value, node_id, node["class_type"], input_name, self.source)

    # ----- helpers -------------------------------------------------------------------------------------------

    def _resolve_node(self, node_ref: str, input_name: str) -> str:
        if node_ref in self.nodes:
            return node_ref
        by_title = [node_id for node_id, node in self.nodes.items() if _meta_title(node) == node_ref]
        if not by_title:  # nodes without a title are known by their class_type
            by_title = [node_id for node_id, node in self.nodes.items() if node["class_type"] == node_ref]
        if len(by_title) == 1:
            return by_title[0]
        if len(by_title) > 1:
            ids = sorted(by_title, key=_natural_key)
            raise self._error(
                f'"{node_ref}" matches nodes {", ".join(ids)}; use the node id instead (for example "{ids[0]}.{input_name}")'
            )
        names = list(self.nodes) + sorted({_title_of(node) for node in self.nodes.values()})
        ordered = sorted(self.nodes, key=_natural_key)
        known = ", ".join(f"{node_id} ({_describe(self.nodes[node_id])})" for node_id in ordered[:12])
        if len(ordered) > 12:
            known += f", … ({len(ordered) - 12} more)"
        raise self._error(f'no node with id or title "{node_ref}"{_did_you_mean(node_ref, names)}; nodes: {known}')

    def _error(self, message: str, *, node_id: str | None = None) -> WorkflowError:
        return WorkflowError(message, source=self.source, node_id=node_id)


# ----- loading --------------------------------------------------------------------------------------------------


def parse_workflow(text: str, source: str = "<string>") -> Workflow:
    """Parse and validate API-format JSON text; raises WorkflowError with line:column when it can."""
    if text.startswith("\ufeff"):  # a BOM from some Windows editors; harmless, so drop it
        text = text[1:]
    if not text.strip():
        raise WorkflowError("the workflow is empty (expected an API-format workflow JSON object)", source=source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise WorkflowError(
            f"invalid JSON: {error.msg}", source=source, line=error.lineno, column=error.colno
        ) from None
    except RecursionError:
        raise WorkflowError("invalid JSON: nested too deeply", source=source) from None
    try:
        validate_workflow(data, text, source)
    except RecursionError:
        raise WorkflowError("invalid JSON: nested too deeply", source=source) from None
    return Workflow(data, source)


def load_workflow(path: str | Path) -> Workflow:
    """Read and validate a workflow file; the error source is the path."""
    source = str(path)
    try:
        raw = read_capped(path, MAX_WORKFLOW_BYTES)
    except OSError as error:
        raise WorkflowError(f"cannot read the file: {error.strerror or error}", source=source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WorkflowError(
            f"the file is not UTF-8 text (bad byte at offset {error.start})", source=source
        ) from None
    return parse_workflow(text, source)


def workflow_from_dict(data: dict, source: str = "<dict>") -> Workflow:
    """Validate an already-parsed graph and wrap a private copy of it."""
    validate_workflow(data, None, source)
    return Workflow(copy.deepcopy(data), source)


def seed_workflow() -> Workflow:
    """The classic SD1.5 txt2img graph shipped with comfyq (the example of the PAI ArtLab docs)."""
    text = resources.files("tui.data").joinpath(SEED_WORKFLOW_RESOURCE).read_text(encoding="utf-8")
    return parse_workflow(text, SEED_WORKFLOW_SOURCE)


# ----- small helpers ----------------------------------------------------------------------------------------------


def _replace_inputs(nodes: dict[str, dict], node_id: str, values: dict[str, object]) -> dict[str, dict]:
    """A new graph with some inputs of one node replaced. Only the path to the change is copied: the other nodes
    are shared with `nodes`, which is safe because a Workflow's graph is never edited in place. (Submitting a
    thousand jobs with their own seeds copied the whole graph a thousand times.)"""
    node = nodes[node_id]
    changed = dict(nodes)
    changed[node_id] = {**node, "inputs": {**node["inputs"], **values}}
    return changed


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool))


def _meta_title(node: dict) -> str | None:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) and title.strip() else None


def _title_of(node: dict) -> str:
    return _meta_title(node) or node["class_type"]


def _describe(node: dict) -> str:
    title = _meta_title(node)
    return f'{node["class_type"]} "{title}"' if title and title != node["class_type"] else node["class_type"]


def _common_rank(class_type: str, name: str) -> tuple[int, int] | None:
    for group, (classes, names) in enumerate(_COMMON_INPUTS):
        if class_type in classes and name in names:
            return group, names.index(name)
    return None


def _is_output_class(class_type: str) -> bool:
    return class_type in _OUTPUT_CLASSES or class_type.startswith("Save") or "Preview" in class_type


def _natural_key(node_id: str) -> tuple:
    """Order "3" before "10" (numeric ids numerically) and keep other ids after them, alphabetically."""
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def _did_you_mean(name: str, candidates: list[str]) -> str:
    matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not matches:
        lowered = {candidate.lower(): candidate for candidate in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    quoted = " or ".join(f'"{match}"' for match in matches)
    return f" (did you mean {quoted}?)" if matches else ""


def _coerce(current: object, value: object, node_id: str, class_type: str, name: str, source: str) -> Scalar:
    """Convert ``value`` (text or a Python value) to the type of ``current``, or raise WorkflowError."""
    where = f"{node_id}.{name}"

    def bad(expected: str) -> WorkflowError:
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        return WorkflowError(
            f'{where} ({class_type}) takes {expected}; "{shown}" is not one',
            source=source,
            node_id=node_id,
        )

    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        raise bad("true or false (also yes/no, 1/0, on/off)")

    if isinstance(current, int):
        float_allowed = (class_type, name) in _FLOAT_INPUTS
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if float_allowed and math.isfinite(value):
                return value
            raise bad("an integer")
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                pass
            if float_allowed:
                try:
                    number = float(text)
                except ValueError:
                    number = math.nan
                if math.isfinite(number):
                    return number
                raise bad("a number")
        raise bad("an integer")

    if isinstance(current, float):
        if isinstance(value, bool):
            raise bad("a number")
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise bad("a number") from None
        else:
            raise bad("a number")
        if not math.isfinite(number):
            raise bad("a finite number")
        return number

    if isinstance(current, str):
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad("text")

    raise WorkflowError(
        f"{where} ({class_type}) holds {kind_of(current)}, which comfyq cannot edit",
        source=source,
        node_id=node_id,
    )
