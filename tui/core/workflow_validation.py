"""Is this JSON an API-format ComfyUI workflow? The checks, and the error every workflow problem is.

:func:`validate_workflow` raises a :class:`WorkflowError` for the first problem, with the line and column of the
node or input when the JSON text is known, so the CLI can print it and the editor can jump to it. The model that
reads and edits a valid workflow is tui/core/workflow.py.
"""

from __future__ import annotations

import json

from tui.core.json_text import Member, input_member, last_member, line_column, object_members
from tui.core.safe_text import visible
from tui.core.value_kinds import kind_of

UI_FORMAT_MESSAGE = "this is a UI-format workflow: export it from ComfyUI with Export (API)"
PROMPT_BODY_MESSAGE = (
    'this looks like a /prompt request body; comfyq wants the bare API-format workflow (the value of "prompt")'
)


class WorkflowError(ValueError):
    """A workflow that cannot be used, or an edit that cannot be made; says what and (when known) where."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<string>",
        line: int | None = None,
        column: int | None = None,
        node_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.node_id = node_id

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.source}:{self.line}:{self.column or 1}: {self.message}"
        return f"{self.source}: {self.message}"


def validate_workflow(data: object, text: str | None = None, source: str = "<string>") -> None:
    """Raise WorkflowError for the first problem found; ``text`` (the JSON it came from) gives positions."""
    locator = _Locator(text)

    def fail(message: str, node_id: str | None = None, input_name: str | None = None) -> WorkflowError:
        line, column = locator.position(node_id, input_name)
        return WorkflowError(message, source=source, line=line, column=column, node_id=node_id)

    if not isinstance(data, dict):
        raise fail(
            f"expected a JSON object mapping node ids to nodes, got {kind_of(data)}"
        )
    if isinstance(data.get("nodes"), list) or isinstance(data.get("links"), list):
        raise fail(UI_FORMAT_MESSAGE)
    if isinstance(data.get("prompt"), dict) and "class_type" not in data["prompt"]:
        raise fail(PROMPT_BODY_MESSAGE)
    if not data:
        raise fail("the workflow has no nodes")
    duplicate = locator.duplicate_node_id()
    if duplicate is not None:
        raise fail(f'node id "{duplicate}" appears more than once; only the last one would be used', duplicate)

    for node_id, node in data.items():
        if not isinstance(node_id, str) or not node_id:
            raise fail(f"node ids must be non-empty strings, got {node_id!r}")
        if not isinstance(node, dict):
            raise fail(
                f'node {node_id}: expected an object with "class_type" and "inputs", got {kind_of(node)}',
                node_id,
            )
        class_type = node.get("class_type")
        if class_type is None:
            raise fail(f'node {node_id} has no "class_type"', node_id)
        if not isinstance(class_type, str) or not class_type.strip():
            raise fail(f'node {node_id}: "class_type" must be a non-empty string, got {kind_of(class_type)}', node_id)
        if "inputs" not in node:
            raise fail(f'node {node_id} ({class_type}) has no "inputs"', node_id)
        inputs = node["inputs"]
        if not isinstance(inputs, dict):
            raise fail(f'node {node_id} ({class_type}): "inputs" must be an object, got {kind_of(inputs)}', node_id)

    for node_id, node in data.items():
        class_type = node["class_type"]
        for input_name, value in node["inputs"].items():
            if not is_link(value):
                continue
            target, slot = value
            if target not in data:
                raise fail(
                    f'node {node_id} ({class_type}) input "{input_name}" links to node {target}, '
                    "which is not in the workflow",
                    node_id,
                    input_name,
                )
            if isinstance(slot, bool) or not isinstance(slot, int) or slot < 0:
                raise fail(
                    f'node {node_id} ({class_type}) input "{input_name}": the output slot of the link to node '
                    f"{target} must be a non-negative integer, got {json.dumps(slot)}",
                    node_id,
                    input_name,
                )

    # What no server can take: NaN / Infinity (not JSON) and lone surrogates (not text). Refused here, with where,
    # instead of failing later as a transport error (and being retried).
    for node_id, node in data.items():
        problem = _unsendable(node_id) or _unsendable(node["class_type"])
        if problem:
            raise fail(f"node {visible(node_id)}: {problem}", node_id)
        for input_name, value in node["inputs"].items():
            problem = _unsendable(input_name) or _unsendable(value)
            if problem:
                raise fail(f'node {visible(node_id)} input "{visible(input_name)}": {problem}', node_id, input_name)


def _unsendable(value: object) -> str | None:
    """Why `value` cannot be sent as JSON text, or None."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except ValueError as error:
        if isinstance(error, UnicodeEncodeError):
            return "holds a lone surrogate (\\ud800-\\udfff), which is not text a server can read"
        return "holds NaN or Infinity, which is not JSON (ComfyUI cannot read it)"
    except RecursionError:
        return "is nested too deeply"
    return None


class _Locator:
    """Finds where a node (or one of its inputs) starts in the JSON text, for line:column in messages."""

    def __init__(self, text: str | None) -> None:
        self._text = text
        self._top: list[Member] | None = None

    def _top_members(self) -> list[Member]:
        if self._top is None:
            self._top = object_members(self._text) if self._text is not None else []
        return self._top

    def duplicate_node_id(self) -> str | None:
        seen: set[str] = set()
        for key, *_ in self._top_members():
            if key in seen:
                return key
            seen.add(key)
        return None

    def position(self, node_id: str | None, input_name: str | None) -> tuple[int | None, int | None]:
        if self._text is None or node_id is None:
            return None, None
        node = last_member(self._top_members(), node_id)
        if node is None:
            return None, None
        member = input_member(self._text, node_id, input_name) if input_name is not None else None
        return line_column(self._text, (member or node)[1])


def is_link(value: object) -> bool:
    """ComfyUI treats a 2-element list whose first item is a string as a link ``[node_id, slot]``."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


