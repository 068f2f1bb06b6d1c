"""The EAS framework's side of an asynchronous service: workers that take input items and write results to the sink.

Each worker is a consumer (group `eas`, window 1, manual commit) of `<service>`'s input queue, so `search()` on the
input queue shows IsPending for the items being processed and WaitCount for waiting ones. For every item it calls
a handler, `put`s the handler's body on `<service>/sink` with the input's tags copied (`requestId`, `task_id`, other
non-`_` tags), adds `lastCode=<status>` when the status is not 200, and then commits the input item. An empty body
writes nothing to the sink (DOC-ASYNC).

Result shapes (protocols/eas-queue.md §6). Success is documented: a JSON array of ComfyUI `executed` events
`{"type":"executed","data":{"node","output","prompt_id"}}` followed by the final outputs object; a fully cached run
gives a one-element array holding only the outputs object. FAILURES ARE NOT DOCUMENTED for the ComfyUI API
edition; this emulator's convention, which is NOT authoritative:
  - validation failure → the ComfyUI `POST /prompt` error body (`{"error": ..., "node_errors": ...}`), tag `lastCode=400`;
    a body ComfyUI cannot parse (not JSON, not a workflow object) → ComfyUI's 500 text body, tag `lastCode=500`;
  - execution error → `[{"type": "execution_error", "data": {...}}]` (the history entry's execution_error payload),
    tag `lastCode=500`; an interrupt likewise with `execution_interrupted`.

The SDK's own test queue (`test_group.qservice`) fronts an unknown model: its test sends `[{}]` and expects a JSON
list whose first element has exactly two keys. `ProbabilityModelHandler` stands in for it with the answer of an EAS
binary-classifier (PMML-like) processor, one `{"p_0": ..., "p_1": ...}` per input record (INFERRED).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from tui.sim.comfyui import ComfyUIEmulator
from tui.sim.comfyui_errors import SERVER_ERROR_TEXT
from tui.sim.queue_store import DEFAULT_GROUP, Consumer, EasQueue, QueueItem

COMFYUI_500_BODY = SERVER_ERROR_TEXT.encode()


class Handler(Protocol):
    async def handle(self, item: QueueItem) -> tuple[int, bytes]:
        """Run one input item; answer (HTTP-like status, response body)."""
        ...


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def sink_payload_from_history(entry: dict[str, Any]) -> tuple[int, bytes]:
    """Turn a ComfyUI `/history/<id>` entry into (status, sink data) per the shapes above."""
    prompt_id = entry.get("prompt", [None, ""])[1]
    outputs: dict[str, Any] = entry.get("outputs") or {}
    status = entry.get("status") or {}
    messages = status.get("messages") or []
    for name, payload in messages:
        if name in ("execution_error", "execution_interrupted"):
            return 500, _json_bytes([{"type": name, "data": payload}])
    cached: set[str] = set()
    for name, payload in messages:
        if name == "execution_cached":
            cached.update(str(node) for node in payload.get("nodes", []))
    executed = [
        {"type": "executed", "data": {"node": node, "output": output, "prompt_id": prompt_id}}
        for node, output in outputs.items()
        if node not in cached
    ]
    return 200, _json_bytes([*executed, outputs])


def _parse_workflow(data: bytes) -> object | None:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


class EmulatedComfyUIHandler:
    """Runs the item's workflow on one ComfyUIEmulator (its own single executor, like one ComfyUI instance)."""

    def __init__(self, emulator: ComfyUIEmulator) -> None:
        self.emulator = emulator

    async def start(self) -> None:
        await self.emulator.start()

    async def stop(self) -> None:
        await self.emulator.stop()

    async def handle(self, item: QueueItem) -> tuple[int, bytes]:
        workflow = _parse_workflow(item.data)
        if not isinstance(workflow, dict):
            # ComfyUI answers a body it cannot use as a prompt with its generic 500 (fixtures 03_*.txt).
            return 500, COMFYUI_500_BODY
        status, body, entry = await self.emulator.run_prompt(workflow, client_id=f"eas-{item.index}")
        if status != 200 or entry is None:
            return (status if status != 200 else 500), body if isinstance(body, bytes) else _json_bytes(body)
        return sink_payload_from_history(entry)


class RemoteComfyUIHandler:
    """Runs the item's workflow on a real ComfyUI over `POST /prompt` and `GET /history/<id>` polling."""

    def __init__(self, base_url: str, *, poll_seconds: float = 0.2) -> None:
        self.base_url = base_url.rstrip("/")
        self.poll_seconds = poll_seconds
        self._client = httpx.AsyncClient(timeout=30.0)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def handle(self, item: QueueItem) -> tuple[int, bytes]:
        workflow = _parse_workflow(item.data)
        if not isinstance(workflow, dict):
            return 500, COMFYUI_500_BODY
        prompt_id = str(uuid.uuid4())
        try:
            response = await self._client.post(
                f"{self.base_url}/prompt",
                json={"prompt": workflow, "client_id": f"eas-{item.index}", "prompt_id": prompt_id},
            )
            if response.status_code != 200:
                return response.status_code, response.content
            prompt_id = response.json().get("prompt_id", prompt_id)
            misses = 0
            while True:
                history = (await self._client.get(f"{self.base_url}/history/{prompt_id}")).json()
                if prompt_id in history:
                    return sink_payload_from_history(history[prompt_id])
                await asyncio.sleep(self.poll_seconds)
                misses += 1
                if misses % 25 == 0 and not await self._still_queued(prompt_id):
                    # One more look: the entry appears atomically when the job ends, possibly just now.
                    history = (await self._client.get(f"{self.base_url}/history/{prompt_id}")).json()
                    if prompt_id in history:
                        return sink_payload_from_history(history[prompt_id])
                    return 500, _json_bytes(
                        [{"type": "execution_error", "data": {"prompt_id": prompt_id, "exception_type": "Lost",
                                                              "exception_message": "the prompt left ComfyUI's queue "
                                                              "without a history entry\n"}}]
                    )
        except (httpx.HTTPError, ValueError) as error:
            return 502, _json_bytes(
                [{"type": "execution_error", "data": {"prompt_id": prompt_id, "exception_type": type(error).__name__,
                                                      "exception_message": f"ComfyUI at {self.base_url}: {error}\n"}}]
            )

    async def _still_queued(self, prompt_id: str) -> bool:
        queue = (await self._client.get(f"{self.base_url}/queue")).json()
        entries = [*queue.get("queue_running", []), *queue.get("queue_pending", [])]
        return any(len(entry) > 1 and entry[1] == prompt_id for entry in entries)


class ProbabilityModelHandler:
    """Stand-in for the SDK test service's model: one `{"p_0", "p_1"}` object per input record."""

    async def handle(self, item: QueueItem) -> tuple[int, bytes]:
        records = _parse_workflow(item.data)
        if not isinstance(records, list):
            return 400, b"input must be a JSON list of records"
        return 200, _json_bytes([{"p_0": 0.5, "p_1": 0.5} for _ in records])


class Worker:
    """One instance of a service: a window-1 consumer of the input queue that writes results to the sink."""

    def __init__(self, *, uid: str, handler: Handler, input_queue: EasQueue, sink_queue: EasQueue) -> None:
        self.uid = uid
        self.handler = handler
        self.input_queue = input_queue
        self.sink_queue = sink_queue
        self._inbox: asyncio.Queue[QueueItem] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._consumer: Consumer | None = None

    def start(self) -> None:
        self._consumer = Consumer(
            gid=DEFAULT_GROUP,
            uid=self.uid,
            window=1,
            auto_commit=False,
            send=self._inbox.put_nowait,
            is_alive=lambda: self._task is not None and not self._task.done(),
        )
        self._task = asyncio.create_task(self._run(), name=f"eas-worker-{self.input_queue.name}-{self.uid}")
        self.input_queue.add_consumer(self._consumer)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            # An item in progress goes back to the group for another instance (like a crashed instance's).
            self.input_queue.remove_consumer(self._consumer)
        self._task = None

    async def _run(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                status, body = await self.handler.handle(item)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - a handler bug must not kill the instance
                status, body = 500, _json_bytes(
                    [{"type": "execution_error", "data": {"exception_type": type(error).__name__,
                                                          "exception_message": f"{error}\n"}}]
                )
            if body:
                tags = {key: value for key, value in item.tags.items() if not key.startswith("_")}
                if status != 200:
                    tags["lastCode"] = str(status)
                self.sink_queue.put(body, tags)
            self.input_queue.commit([item.index])


class WorkerPool:
    """The instances of one service."""

    def __init__(
        self,
        *,
        service: str,
        input_queue: EasQueue,
        sink_queue: EasQueue,
        handler_factory: Callable[[int], Handler],
        instances: int,
    ) -> None:
        self.service = service
        self.handlers = [handler_factory(number) for number in range(max(instances, 1))]
        self.workers = [
            Worker(uid=f"instance-{number}", handler=handler, input_queue=input_queue, sink_queue=sink_queue)
            for number, handler in enumerate(self.handlers)
        ]

    async def start(self) -> None:
        for handler in self.handlers:
            starter = getattr(handler, "start", None)
            if starter is not None:
                await starter()
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        for handler in self.handlers:
            stopper = getattr(handler, "stop", None) or getattr(handler, "aclose", None)
            if stopper is not None:
                await stopper()
