"""A faithful loopback emulator of a ComfyUI 0.3.64 server (HTTP + websocket), served with aiohttp like ComfyUI.

"Faithful" is measured against the captured real responses in tests/fixtures/comfyui/ (read its README): the
same routes (also under /api), status codes, JSON shapes, error bodies, websocket message order and history
entries. The request handling, validation and scheduling follow ComfyUI's own code paths (server.py,
execution.py, comfy_execution/graph.py) closely, on purpose, so quirks come out the same:

- `number` goes up for every POST /prompt body that parsed as JSON, even ones then rejected (gaps);
- malformed bodies give aiohttp's stock 500 text/plain, because ComfyUI just lets the exception escape;
- validation errors are keyed like ComfyUI keys them (a link to a missing node is reported on the node
  holding the link, with the *downstream* input's extra_info);
- `{}` from /history/{id} for unknown, pending, running and deleted jobs;
- nodes run in ComfyUI's order (output nodes first when ready, then nodes feeding them);
- an identical resubmission right after itself is fully cached (classic cache: only the last prompt's nodes).

This module is the emulator's state and its queue (execution.PromptQueue: the heap of pending prompts, the running
one, the history, the single executor task), plus the API the EAS workers use (`validate`, `run_prompt`). The
rest is in rooms of its own:
- comfyui_routes.py: the HTTP routes, the origin check, the network faults, a standalone app;
- comfyui_ws.py: the websocket sockets and their ordered outbox;
- comfyui_validation.py: POST /prompt's validation;
- comfyui_execution.py: running one prompt (order, cache, progress, messages);
- comfyui_nodes.py: the node catalogue's implementations and the output files;
- comfyui_errors.py: the canned error bodies and tracebacks, copied from the fixtures;
- comfyui_newer.py: what a 0.38 server does differently (`comfyui_version = "0.38.1"`).

What it runs: a node catalogue (catalogue.json, a subset of the real /object_info) covering the fixture
workflows and the seed's SD1.5 txt2img graph. `fail_rate` is the share of jobs whose KSampler raises a CUDA
out-of-memory execution error (drawn once per job, deterministically with `seed`; never sticky). Network faults for tests (attributes a test may flip while the server runs):
`stall_prompt_response_seconds` and `drop_prompt_requests` (see comfyui_routes.py).

Not emulated: model loading, /upload, /view's `preview=webp` transcoding (the PNG is served as is), subgraphs,
lazy inputs, sampler preview images.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import heapq
import itertools
import json
import logging
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from tui.sim import comfyui_newer
from tui.sim.comfyui_errors import SERVER_ERROR_TEXT, error_body, no_prompt_error
from tui.sim.comfyui_execution import CachedNode, QueueItem, RunResult, execute_prompt, now_ms
from tui.sim.comfyui_routes import ComfyUIRoutes, start_server
from tui.sim.comfyui_validation import PromptValidator
from tui.sim.comfyui_ws import WebsocketHub

log = logging.getLogger(__name__)

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
MAXIMUM_HISTORY_SIZE = 10000
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
DEFAULT_MODELS: tuple[str, ...] = ("3dAnimationDiffusion_v10.safetensors",)

PromptEvent = dict[str, Any]
EventCallback = Callable[[PromptEvent], None]

# start_server is re-exported for bench/_servers.py, SERVER_ERROR_TEXT for tests/integration/test_sim_comfyui.py
# (both live in comfyui_routes.py / comfyui_errors.py now).
__all__ = ["ComfyUIEmulator", "DEFAULT_MODELS", "SERVER_ERROR_TEXT", "load_catalogue", "start_server"]


def load_catalogue(models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The node catalogue with the checkpoint list filled in (the real one lists what is installed)."""
    catalogue: dict[str, dict[str, Any]] = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    ckpt = catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    ckpt[0] = list(models)
    return catalogue


class ComfyUIEmulator:
    """One emulated ComfyUI instance: a prompt queue, one executor, history, websockets and output files."""

    def __init__(
        self,
        *,
        output_dir: Path,
        step_seconds: float = 0.05,
        fail_rate: float = 0.0,
        seed: int | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        filename_style: str = "comfyui",
        check_origin: bool = True,
        node_seconds: float | None = None,
        temp_dir: Path | None = None,
        input_dir: Path | None = None,
        stall_prompt_response_seconds: float = 0.0,
        drop_prompt_requests: int = 0,
        comfyui_version: str = comfyui_newer.OLD_VERSION,
    ) -> None:
        if comfyui_version not in comfyui_newer.VERSIONS:
            versions = ", ".join(comfyui_newer.VERSIONS)
            raise ValueError(f"comfyui_version must be one of {versions}, not {comfyui_version!r}")
        self.comfyui_version = comfyui_version
        self.newer = comfyui_newer.is_newer(comfyui_version)
        if filename_style not in ("comfyui", "api"):
            raise ValueError(f"filename_style must be 'comfyui' or 'api', not {filename_style!r}")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, not {fail_rate}")
        self.output_dir = Path(output_dir).resolve()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # ComfyUI wipes its temp dir on start; without a temp_dir ours is private to this instance, made on first
        # use and removed on stop().
        self._own_temp_dir = temp_dir is None
        self._temp_dir: Path | None = None
        if temp_dir is not None:
            Path(temp_dir).mkdir(parents=True, exist_ok=True)
            self._temp_dir = Path(temp_dir).resolve()
        self.input_dir = input_dir.resolve() if input_dir is not None else None
        self.step_seconds = max(step_seconds, 0.0)
        self.node_seconds = self.step_seconds if node_seconds is None else max(node_seconds, 0.0)
        self.fail_rate = fail_rate
        self.seed = seed
        self.models = list(models)
        self.filename_style = filename_style
        self.check_origin = check_origin
        self.catalogue = load_catalogue(self.models)
        self.validator = PromptValidator(self.catalogue, newer=self.newer)
        self._rng = random.Random(seed)
        # Faults played by the routes (comfyui_routes.py): a late answer for an accepted prompt, dropped requests.
        self.stall_prompt_response_seconds = max(stall_prompt_response_seconds, 0.0)
        self.drop_prompt_requests = max(drop_prompt_requests, 0)

        self._number = 0
        self._queue: list[tuple[float, int, QueueItem]] = []  # a heap, like PromptQueue.queue
        self._sequence = itertools.count()
        self._task_counter = itertools.count()
        self._running: dict[int, QueueItem] = {}
        self._history: dict[str, dict[str, Any]] = {}
        # Called with every prompt put on the queue (tests count what the server accepted).
        self.queued_observers: list[Callable[[QueueItem], None]] = []
        # The executor's state (comfyui_execution.py): the node cache, the interrupt flag, who the running prompt
        # belongs to and which of its nodes runs (told to a client that reconnects).
        self.node_cache: dict[Hashable, CachedNode] = {}
        self.interrupt_requested = False
        self._oom_due = False  # the running prompt was drawn to fail: its first sampler raises the OOM
        self.client_id: str | None = None
        self.last_node_id: str | None = None

        self.websockets = WebsocketHub()
        self._queue_changed = asyncio.Event()
        self._listeners: dict[str, list[EventCallback]] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any] | None]]] = {}
        self._executor_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def temp_dir(self) -> Path:
        """Where PreviewImage writes (`/view?type=temp`)."""
        if self._temp_dir is None:
            # Next to the output dir (a test's tmp_path, the demo's data dir), never loose in /tmp: an emulator
            # that is killed instead of stopped must not leave temp dirs behind where nothing cleans them.
            self._temp_dir = Path(
                tempfile.mkdtemp(prefix=".comfyq-sim-temp-", dir=self.output_dir.parent)
            ).resolve()
        return self._temp_dir

    # ----- lifecycle -----
    async def start(self) -> None:
        """Start the single executor (one prompt at a time) and the websocket sender."""
        loop = asyncio.get_running_loop()
        new_loop = self._loop is not loop
        if new_loop:  # asyncio queues and events belong to one loop: make fresh ones for this one
            self._loop = loop
            self._queue_changed = asyncio.Event()
        if self._executor_task is None:
            self._executor_task = loop.create_task(self._executor_loop(), name="comfyui-sim-executor")
        self.websockets.start(new_loop=new_loop)

    async def stop(self) -> None:
        """Cancel the executor, close every websocket, release waiting run_prompt() callers."""
        if self._executor_task is not None:
            self._executor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._executor_task
            self._executor_task = None
        await self.websockets.stop()
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)
        self._waiters.clear()
        self._listeners.clear()
        if self._own_temp_dir and self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None  # a fresh one is made if this instance is used again

    # ----- routes -----
    def register_routes(self, app: web.Application) -> None:
        """Add every ComfyUI route to `app` (at "/" and under "/api"; comfyui_routes.py)."""
        ComfyUIRoutes(self).register(app)

    # ----- public API for the EAS workers -----
    def validate(self, prompt: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, body) as POST /prompt would answer validation (no number is used, nothing queued).

        200 -> {"node_errors": ...} (possibly non-empty: a partly valid prompt), 400 -> the error body,
        500 -> {} for a prompt ComfyUI cannot even walk (not an object of nodes).
        """
        try:
            result = self.validator.validate_prompt(copy.deepcopy(prompt))
        except Exception:
            return 500, {}
        if result.valid:
            return 200, {"node_errors": result.node_errors}
        return 400, error_body(result.error, result.node_errors)

    async def run_prompt(
        self,
        prompt: dict[str, Any],
        *,
        prompt_id: str | None = None,
        client_id: str | None = None,
        on_event: EventCallback | None = None,
    ) -> tuple[int, dict[str, Any] | bytes, dict[str, Any] | None]:
        """Queue a prompt like POST /prompt and wait for its end.

        Returns (post_status, post_body, history_entry): post_body is the JSON body, or the 500 text as bytes;
        history_entry is the value of /history/{id} for it ({"prompt", "outputs", "status", "meta"}), or None
        when it was rejected, deleted from the queue, or the emulator stopped. `on_event` gets every
        websocket-style event of this prompt ({"type", "data"}) in order, as its client_id socket would see
        them, whether or not a socket is connected, ending with `executing` {"node": null}.
        """
        body: dict[str, Any] = {"prompt": prompt}
        if prompt_id is not None:
            body["prompt_id"] = prompt_id
        if client_id is not None:
            body["client_id"] = client_id
        status, response = self.submit(body)
        if response is None:
            return status, SERVER_ERROR_TEXT.encode(), None
        if status != 200:
            return status, response, None
        queued_id = str(response["prompt_id"])
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(queued_id, []).append(future)
        if on_event is not None:
            self._listeners.setdefault(queued_id, []).append(on_event)
        try:
            entry = await future
        finally:
            if on_event is not None:
                callbacks = self._listeners.get(queued_id, [])
                if on_event in callbacks:
                    callbacks.remove(on_event)
                if not callbacks:
                    self._listeners.pop(queued_id, None)
        return status, response, entry

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """POST /interrupt: global without an id; with an id, only if that prompt is the running one."""
        self.post_interrupt(prompt_id)

    # ----- read-only views (handy for tests and the demo) -----
    @property
    def history(self) -> dict[str, dict[str, Any]]:
        return self._history

    def queue_remaining(self) -> int:
        return len(self._queue) + len(self._running)

    def queue_info(self) -> dict[str, Any]:
        """GET /prompt's body, also the `status` websocket message's."""
        return {"exec_info": {"queue_remaining": self.queue_remaining()}}

    def running_items(self) -> list[QueueItem]:
        return list(self._running.values())

    def pending_items(self) -> list[QueueItem]:
        """In the heap's array order, as GET /queue lists them (not sorted by number)."""
        return [entry[2] for entry in self._queue]

    # ----- events of the running prompt -----
    def emit_prompt_event(self, prompt_id: str, event: str, data: dict[str, Any], *, client_only: bool) -> None:
        """Send a per-prompt event (to its client, or to all when client_only is False and it has none)."""
        for callback in list(self._listeners.get(prompt_id, [])):
            try:
                callback({"type": event, "data": copy.deepcopy(data)})
            except Exception:  # a listener must never break the executor
                log.exception("comfyui sim: on_event callback failed")
        if self.client_id is not None or not client_only:
            self.websockets.send(event, data, self.client_id)

    def _queue_updated(self) -> None:
        self.websockets.send("status", {"status": self.queue_info()}, None)
        self._queue_changed.set()

    # ----- the prompt queue (execution.PromptQueue) -----
    def submit(self, json_data: Any) -> tuple[int, dict[str, Any] | None]:
        """POST /prompt after the body parsed as JSON. A None body means ComfyUI's handler raised (-> 500)."""
        try:
            if "number" in json_data:
                number: int | float = float(json_data["number"])
            else:
                number = self._number
                if "front" in json_data and json_data["front"]:
                    number = -number
                self._number += 1
            if "prompt" not in json_data:
                return 400, error_body(no_prompt_error(), {})
            prompt = json_data["prompt"]
            if self.newer and json_data.get("prompt_id") is not None and not comfyui_newer.is_canonical_uuid(
                json_data["prompt_id"]
            ):
                return 400, comfyui_newer.invalid_prompt_id_body()  # (the number has advanced all the same)
            if "prompt_id" in json_data and not (self.newer and json_data["prompt_id"] is None):
                prompt_id = str(json_data["prompt_id"])  # (0.3.64 takes anything, even null as "None")
            else:
                prompt_id = str(uuid.uuid4())
            partial = json_data["partial_execution_targets"] if "partial_execution_targets" in json_data else None
            valid, error, outputs, node_errors = self.validator.validate_prompt(prompt, partial)
            extra_data = json_data["extra_data"] if "extra_data" in json_data else {}
            if "client_id" in json_data:
                extra_data["client_id"] = json_data["client_id"]
            if not valid:
                return 400, error_body(error, node_errors)
            if self.newer:
                extra_data["create_time"] = now_ms()  # written on acceptance, over any client value
            sensitive = {key: extra_data.pop(key) for key in SENSITIVE_EXTRA_DATA_KEYS if key in extra_data}
            self._put(QueueItem(number, prompt_id, prompt, extra_data, outputs, sensitive))
            return 200, {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        except Exception:
            return 500, None

    def _put(self, item: QueueItem) -> None:
        for observer in list(self.queued_observers):
            observer(item)
        heapq.heappush(self._queue, (item.number, next(self._sequence), item))
        self._queue_updated()

    def wipe_queue(self) -> None:
        removed = [entry[2] for entry in self._queue]
        self._queue = []
        self._queue_updated()
        for item in removed:
            self._release_waiters(item.prompt_id, None)

    def delete_queue_item(self, prompt_id: Any) -> None:
        for index, entry in enumerate(self._queue):
            if entry[2].prompt_id == prompt_id:
                if len(self._queue) == 1:
                    self.wipe_queue()
                else:
                    self._queue.pop(index)
                    heapq.heapify(self._queue)
                    self._release_waiters(entry[2].prompt_id, None)
                self._queue_updated()
                return

    def post_interrupt(self, prompt_id: Any) -> None:
        if prompt_id:
            if any(item.prompt_id == prompt_id for item in self._running.values()):
                self.interrupt_requested = True
        else:
            self.interrupt_requested = True

    def history_page(self, max_items: int | None, offset: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if offset < 0 and max_items is not None:
            offset = len(self._history) - max_items
        for index, key in enumerate(self._history):
            if index >= offset:
                out[key] = self._history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def _release_waiters(self, prompt_id: str, entry: dict[str, Any] | None) -> None:
        for future in self._waiters.pop(prompt_id, []):
            if not future.done():
                future.set_result(entry)

    # ----- execution (main.prompt_worker + execution.PromptExecutor) -----
    async def _executor_loop(self) -> None:
        while True:
            while not self._queue:
                self._queue_changed.clear()
                await self._queue_changed.wait()
            _number, _seq, item = heapq.heappop(self._queue)
            item_id = next(self._task_counter)
            self._running[item_id] = item
            self._queue_updated()
            try:
                result = await self._execute(item)
            except asyncio.CancelledError:
                self._running.pop(item_id, None)
                raise
            except Exception:  # an emulator bug must not kill the only executor: record the job as failed
                log.exception("comfyui sim: executing %s failed", item.prompt_id)
                result = RunResult(False, [], {}, {})
            self._task_done(item_id, item, result)
            entry = self._history.get(item.prompt_id)
            self.emit_prompt_event(item.prompt_id, "executing", {"node": None, "prompt_id": item.prompt_id},
                                   client_only=True)
            self._release_waiters(item.prompt_id, copy.deepcopy(entry) if entry is not None else None)

    def _task_done(self, item_id: int, item: QueueItem, result: RunResult) -> None:
        self._running.pop(item_id, None)
        if len(self._history) > MAXIMUM_HISTORY_SIZE:
            self._history.pop(next(iter(self._history)))
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            item.extra_data.pop(key, None)
        self._history[item.prompt_id] = {
            "prompt": item.as_list(),
            "outputs": result.outputs,
            "status": {"status_str": "success" if result.success else "error", "completed": result.success,
                       "messages": result.messages},
            "meta": result.meta,
        }
        self._queue_updated()

    async def _execute(self, item: QueueItem) -> RunResult:
        # A method of the instance so that a benchmark can hold the executor (bench/poll.py wraps it).
        return await execute_prompt(self, item)

    def draw_failure(self) -> None:
        """A prompt starts running: whether it hits the simulated OOM is drawn here, once per job, so `fail_rate` is
        the share of jobs that fail whatever number of samplers a workflow has (drawn per sampler run, a two-sampler
        workflow failed 51 % of the time at 0.3). Nothing sticks: every run draws afresh (a prompt whose sampler is
        served from the cache does not sample, so it cannot fail). Deterministic with `seed`."""
        self._oom_due = self.fail_rate > 0 and self._rng.random() < self.fail_rate

    def failure_step(self, steps: int) -> int | None:
        """Where this sampler run of `steps` hits the simulated OOM, or None: the first sampler a failing job runs,
        at a step drawn from `seed`'s sequence."""
        if not self._oom_due:
            return None
        self._oom_due = False
        return self._rng.randrange(steps)
