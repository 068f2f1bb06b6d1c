"""Running one prompt, as ComfyUI's execution.PromptExecutor does it: order, cache, progress, messages, errors.

Nodes run in ComfyUI's order (comfy_execution.graph.ExecutionList: an output node as soon as it is ready, then the
nodes feeding one). A node whose cache key (class, widget values and its ancestors' keys, not node ids) is in the
emulator's cache is not run again: its stored outputs and UI are re-sent, so an identical resubmission right after
itself is fully cached (fixture README, item 19). Each run produces the history entry's `status.messages`
(`execution_start`, `execution_cached`, then `execution_success`, `execution_error` or `execution_interrupted`), and
the websocket events of the run go out through the emulator as they happen (item 25). The node code itself is in
comfyui_nodes.py; the queue around a run is the emulator's (comfyui.py).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from tui.sim.comfyui_errors import EXECUTE_FRAMES, full_type_name
from tui.sim.comfyui_nodes import NODE_IMPLEMENTATIONS, InterruptProcessing, NodeExecutionError
from tui.sim.comfyui_validation import is_link

if TYPE_CHECKING:
    from tui.sim.comfyui import ComfyUIEmulator


def now_ms() -> int:
    """A message timestamp: integer milliseconds since the epoch, like ComfyUI's."""
    return int(time.time() * 1000)


# Nodes whose IS_CHANGED always differs, so they are never served from the cache (SaveImageWebsocket does this).
ALWAYS_CHANGED = frozenset({"SaveImageWebsocket"})


@dataclass
class QueueItem:
    number: int | float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs_to_execute: list[str]
    sensitive: dict[str, Any] = field(default_factory=dict)

    def as_list(self) -> list[Any]:
        """The 5-element array of /queue and history.prompt."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs_to_execute]


@dataclass
class CachedNode:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None  # {"output": {...}, "meta": {...}} for output nodes with UI data


class ProgressRegistry:
    """comfy_execution.progress: cumulative per-prompt node states sent as `progress_state`."""

    def __init__(self, prompt_id: str, send: Callable[[dict[str, Any]], None]) -> None:
        self.prompt_id = prompt_id
        self.nodes: dict[str, dict[str, Any]] = {}
        self._send = send

    def _entry(self, node_id: str, value: float, maximum: float, state: str) -> dict[str, Any]:
        return {"value": value, "max": maximum, "state": state, "node_id": node_id, "prompt_id": self.prompt_id,
                "display_node_id": node_id, "parent_node_id": None, "real_node_id": node_id}

    def _publish(self) -> None:
        self._send({"prompt_id": self.prompt_id, "nodes": copy.deepcopy(self.nodes)})

    def start(self, node_id: str) -> None:
        self.nodes[node_id] = self._entry(node_id, 0.0, 1.0, "running")
        self._publish()

    def update(self, node_id: str, value: int, maximum: int) -> None:
        self.nodes[node_id] = self._entry(node_id, value, maximum, "running")
        self._publish()

    def finish(self, node_id: str) -> None:
        if node_id in self.nodes:
            entry = self.nodes[node_id]
            entry["state"] = "finished"
            entry["value"] = entry["max"]
        else:  # a cached node never started: ints, like the real server (01d_ws_cached_job.jsonl)
            self.nodes[node_id] = self._entry(node_id, 1, 1, "finished")
        self._publish()


@dataclass
class NodeContext:
    emulator: ComfyUIEmulator
    prompt_id: str
    node_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    progress: ProgressRegistry

    def progress_hook(self, value: int, total: int, preview_png: bytes | None = None) -> None:
        """main.py's ProgressBar hook: interrupt check, progress_state, `progress`, optional preview frame."""
        emulator = self.emulator
        if emulator.interrupt_requested:
            raise InterruptProcessing()
        self.progress.update(self.node_id, value, total)
        emulator.emit_prompt_event(self.prompt_id, "progress",
                                   {"value": value, "max": total, "prompt_id": self.prompt_id, "node": self.node_id},
                                   client_only=False)
        if preview_png is not None:
            metadata = {"node_id": self.node_id, "prompt_id": self.prompt_id, "display_node_id": self.node_id,
                        "parent_node_id": None, "real_node_id": self.node_id, "image_type": "image/png"}
            emulator.websockets.send_preview(preview_png, metadata, emulator.client_id)


class RunResult(NamedTuple):
    """What one run leaves for the history entry."""

    success: bool
    messages: list[list[Any]]  # status.messages
    outputs: dict[str, Any]  # node id -> its UI output
    meta: dict[str, Any]  # node id -> {node_id, display_node, parent_node, real_node_id}


def _format_value(value: Any) -> Any:
    """execution.format_value: primitives as they are, anything else (tensors, models) as str()."""
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


class ExecutionList:
    """comfy_execution.graph.ExecutionList: pending nodes, block counts and ux_friendly_pick_node."""

    def __init__(self, prompt: dict[str, Any], is_cached: Callable[[str], bool], is_output: Callable[[str], bool]
                 ) -> None:
        self.prompt = prompt
        self.is_cached = is_cached
        self.is_output = is_output
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, bool]] = {}

    def add_node(self, node_id: str) -> None:
        stack = [node_id]
        links: list[tuple[str, str]] = []
        while stack:
            unique_id = stack.pop()
            if unique_id in self.pending:
                continue
            self.pending[unique_id] = True
            self.block_count[unique_id] = 0
            self.blocking[unique_id] = {}
            for value in self.prompt[unique_id]["inputs"].values():
                if is_link(value):
                    from_id = value[0]
                    if not self.is_cached(from_id):
                        stack.append(from_id)
                    links.append((from_id, unique_id))
        for from_id, to_id in links:
            if not self.is_cached(from_id):
                self.add_node(from_id)
                if to_id not in self.blocking[from_id]:
                    self.blocking[from_id][to_id] = True
                    self.block_count[to_id] += 1

    def is_empty(self) -> bool:
        return not self.pending

    def stage(self) -> str:
        available = [node_id for node_id in self.pending if self.block_count[node_id] == 0]
        if not available:
            raise RuntimeError("dependency cycle in a validated prompt")
        for node_id in available:
            if self.is_output(node_id):
                return node_id
        for node_id in available:
            if any(self.is_output(blocked) for blocked in self.blocking[node_id]):
                return node_id
        for node_id in available:
            for blocked in self.blocking[node_id]:
                if any(self.is_output(blocked2) for blocked2 in self.blocking.get(blocked, {})):
                    return node_id
        return available[0]

    def complete(self, node_id: str) -> None:
        del self.pending[node_id]
        for blocked in self.blocking.pop(node_id, {}):
            self.block_count[blocked] -= 1


def cache_keys(prompt: dict[str, Any]) -> dict[str, Hashable]:
    """Cache keys like CacheKeySetInputSignature: class, widget values and the ancestors' keys, not node ids."""
    memo: dict[str, Hashable] = {}

    def signature(node_id: str, trail: frozenset[str]) -> Hashable:
        if node_id in memo:
            return memo[node_id]
        node = prompt.get(node_id)
        if not isinstance(node, dict) or node_id in trail:
            return ("missing", node_id)
        class_type = node.get("class_type")
        parts: list[Hashable] = [class_type]
        if class_type in ALWAYS_CHANGED:
            parts.append(("changed", uuid.uuid4().hex))
        inputs = node.get("inputs", {})
        for key in sorted(inputs) if isinstance(inputs, dict) else []:
            value = inputs[key]
            if is_link(value):
                parts.append((key, "link", signature(value[0], trail | {node_id}), value[1]))
            else:
                parts.append((key, json.dumps(value, sort_keys=True, default=str)))
        memo[node_id] = tuple(parts)
        return memo[node_id]

    return {node_id: signature(node_id, frozenset()) for node_id in prompt}


async def execute_prompt(emulator: ComfyUIEmulator, item: QueueItem) -> RunResult:
    """Run one queue item to its end (success, the first node error, or an interrupt between nodes)."""
    prompt, prompt_id = item.prompt, item.prompt_id
    extra_data = {**item.extra_data, **item.sensitive}
    emulator.interrupt_requested = False
    emulator.draw_failure()
    emulator.client_id = extra_data["client_id"] if "client_id" in extra_data else None
    messages: list[list[Any]] = []

    def add_message(event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": now_ms()}
        messages.append([event, data])
        emulator.emit_prompt_event(prompt_id, event, data, client_only=not broadcast)

    add_message("execution_start", {"prompt_id": prompt_id}, False)
    signatures = cache_keys(prompt)
    live = set(signatures.values())
    emulator.node_cache = {key: value for key, value in emulator.node_cache.items() if key in live}  # clean_unused
    cached_nodes = [node_id for node_id in prompt if signatures[node_id] in emulator.node_cache]
    add_message("execution_cached", {"nodes": cached_nodes, "prompt_id": prompt_id}, False)

    progress = ProgressRegistry(
        prompt_id, lambda data: emulator.emit_prompt_event(prompt_id, "progress_state", data, client_only=False))
    order = ExecutionList(prompt, lambda node_id: signatures[node_id] in emulator.node_cache,
                          lambda node_id: emulator.catalogue[prompt[node_id]["class_type"]].get("output_node") is True)
    for node_id in item.outputs_to_execute:
        order.add_node(node_id)

    results: dict[str, tuple[Any, ...]] = {}
    ui_outputs: dict[str, dict[str, Any]] = {}
    executed: list[str] = []
    success = True
    while not order.is_empty():
        node_id = order.stage()
        class_type = prompt[node_id]["class_type"]
        signature = signatures[node_id]
        cached = emulator.node_cache.get(signature)
        if cached is not None:
            emulator.emit_prompt_event(prompt_id, "executed", {
                "node": node_id, "display_node": node_id,
                "output": cached.ui["output"] if cached.ui else None, "prompt_id": prompt_id},
                client_only=True)
            if cached.ui is not None:
                ui_outputs[node_id] = cached.ui
            progress.finish(node_id)
            results[node_id] = cached.outputs
            order.complete(node_id)
            continue

        declared = emulator.catalogue[class_type]["input"]
        inputs: dict[str, Any] = {}
        for name, value in prompt[node_id]["inputs"].items():
            if name not in declared.get("required", {}) and name not in declared.get("optional", {}):
                continue  # inputs the node does not declare never reach it
            if is_link(value):
                upstream = results.get(value[0])
                if upstream is None:  # an ancestor served from the cache without being staged
                    upstream = emulator.node_cache[signatures[value[0]]].outputs
                inputs[name] = upstream[int(value[1])]
            else:
                inputs[name] = value
        progress.start(node_id)
        if emulator.client_id is not None:
            emulator.last_node_id = node_id
        emulator.emit_prompt_event(prompt_id, "executing",
                                   {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                                   client_only=True)
        context = NodeContext(emulator, prompt_id, node_id, prompt, extra_data, progress)
        try:
            if emulator.interrupt_requested:  # pre_execute_cb: checked when a node is about to run
                raise InterruptProcessing()
            outputs, ui = await NODE_IMPLEMENTATIONS[class_type](context, inputs)
        except InterruptProcessing:
            add_message("execution_interrupted", {"prompt_id": prompt_id, "node_id": node_id,
                                                  "node_type": class_type, "executed": list(executed)}, True)
            success = False
            break
        except Exception as ex:  # anything a node raises is an execution error, as in ComfyUI
            if isinstance(ex, NodeExecutionError):
                exception_type, message, frames, tips = ex.exception_type, ex.message, ex.frames, ex.tips
            else:
                exception_type, message, frames, tips = full_type_name(ex), str(ex), list(EXECUTE_FRAMES), ""
            add_message("execution_error", {
                "prompt_id": prompt_id, "node_id": node_id, "node_type": class_type,
                "executed": list(executed),
                "exception_message": f"{message}\n{tips}",
                "exception_type": exception_type,
                "traceback": frames,
                "current_inputs": {name: [_format_value(value)] for name, value in inputs.items()},
                "current_outputs": list(prompt),
            }, False)
            success = False
            break
        ui_entry: dict[str, Any] | None = None
        if ui:
            ui_entry = {"output": ui, "meta": {"node_id": node_id, "display_node": node_id, "parent_node": None,
                                               "real_node_id": node_id}}
            ui_outputs[node_id] = ui_entry
            emulator.emit_prompt_event(prompt_id, "executed", {
                "node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id},
                client_only=True)
        emulator.node_cache[signature] = CachedNode(outputs, ui_entry)
        results[node_id] = outputs
        progress.finish(node_id)
        executed.append(node_id)
        order.complete(node_id)
    else:
        add_message("execution_success", {"prompt_id": prompt_id}, False)
    emulator.last_node_id = None
    return RunResult(success, messages, {node_id: entry["output"] for node_id, entry in ui_outputs.items()},
                     {node_id: entry["meta"] for node_id, entry in ui_outputs.items()})
