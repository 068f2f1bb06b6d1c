"""A faithful loopback emulator of a ComfyUI 0.3.64 server (HTTP + websocket), served with aiohttp like ComfyUI.

"Faithful" is measured against the captured real responses in tests/fixtures/comfyui/ (read its README): the
same routes (also under /api), status codes, JSON shapes, error bodies, websocket message order and history
entries. The request handling, validation and scheduling below follow ComfyUI's own code paths (server.py,
execution.py, comfy_execution/graph.py) closely, on purpose, so quirks come out the same:

- `number` goes up for every POST /prompt body that parsed as JSON, even ones then rejected (gaps);
- malformed bodies give aiohttp's stock 500 text/plain, because ComfyUI just lets the exception escape;
- validation errors are keyed like ComfyUI keys them (a link to a missing node is reported on the node
  holding the link, with the *downstream* input's extra_info);
- `{}` from /history/{id} for unknown, pending, running and deleted jobs;
- nodes run in ComfyUI's order (output nodes first when ready, then nodes feeding them);
- an identical resubmission right after itself is fully cached (classic cache: only the last prompt's nodes).

What it runs: a node catalogue (catalogue.json, a subset of the real /object_info) covering the fixture
workflows and the seed's SD1.5 txt2img graph. Images are tracked by size, batch and colour; SaveImage writes
real PNG files (png.py) with the workflow in a `prompt` text chunk, PreviewImage writes temp files. KSampler
takes `steps × step_seconds` and reports each step; other nodes take `node_seconds` (default: one step).
`fail_rate` makes KSampler raise a CUDA out-of-memory execution error, deterministically with `seed`.

Network faults for tests (attributes a test may flip while the server runs; normal answers are unchanged):
`stall_prompt_response_seconds` queues an accepted prompt and only then holds its POST /prompt answer back (the
client times out although the server took the job); `drop_prompt_requests` closes the next N POST /prompt
connections after reading the body, without an answer and without queueing anything.

`comfyui_version = "0.38.1"` switches to a newer server's behaviour (tui/sim/comfyui_newer.py): the jobs API, UUID-only
client prompt ids, `create_time`, new error types and output metadata; "0.3.64" (the default) is the captured one.

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
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tui.sim import comfyui_newer as newer
from tui.sim.png import RowSource, encode_png, pattern_rows, solid_rows

log = logging.getLogger(__name__)

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
COMFYUI_VERSION = "0.3.64"
MAXIMUM_HISTORY_SIZE = 10000
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
SERVER_FEATURES: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}
MAX_UPLOAD_SIZE = 104857600
# aiohttp's own body for an exception escaping a handler (what ComfyUI sends for malformed requests).
SERVER_ERROR_TEXT = "500 Internal Server Error\n\nServer got itself in trouble"
DEFAULT_MODELS: tuple[str, ...] = ("3dAnimationDiffusion_v10.safetensors",)
# Model folders ComfyUI knows (GET /models); only checkpoints is ever non-empty here.
MODEL_FOLDERS = (
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models",
    "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models", "hypernetworks",
    "photomaker", "classifiers",
)
# Nodes whose IS_CHANGED always differs, so they are never served from the cache (SaveImageWebsocket does this).
ALWAYS_CHANGED = frozenset({"SaveImageWebsocket"})

# Binary websocket event types (ComfyUI server.BinaryEventTypes).
PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4

PromptEvent = dict[str, Any]
EventCallback = Callable[[PromptEvent], None]


def now_ms() -> int:
    return int(time.time() * 1000)


def load_catalogue(models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The node catalogue with the checkpoint list filled in (the real one lists what is installed)."""
    catalogue: dict[str, dict[str, Any]] = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    ckpt = catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    ckpt[0] = list(models)
    return catalogue


def server_error_response() -> web.Response:
    """aiohttp's stock 500 (text/plain + Connection: close), as ComfyUI answers malformed bodies."""
    response = web.Response(status=500, text=SERVER_ERROR_TEXT, content_type="text/plain")
    response.force_close()
    return response


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection without a word (a fault). The response returned is never sent: aiohttp drops it."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def is_link(value: object) -> bool:
    """ComfyUI's is_link: a 2-list [node_id: str, slot: int|float]."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
        and not isinstance(value[1], bool)
    )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    import ipaddress
    import socket

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def origin_forbidden(request: web.Request) -> bool:
    """ComfyUI's origin_only_middleware: a loopback Host with a different Origin host is a CSRF attempt."""
    if "Host" not in request.headers or "Origin" not in request.headers:
        return False
    host_domain: str | None = request.headers["Host"].lower()
    parsed = urllib.parse.urlparse(request.headers["Origin"])
    origin_domain: str | None = parsed.netloc.lower()
    host_parsed = urllib.parse.urlsplit("//" + (host_domain or ""))
    try:
        origin_port = parsed.port
        host_port = host_parsed.port
    except ValueError:
        return False
    loopback = _is_loopback(host_parsed.hostname)
    if origin_port is None:
        host_domain = host_parsed.hostname
    if host_port is None:
        origin_domain = parsed.hostname
    return bool(loopback and host_domain and origin_domain and host_domain != origin_domain)


def token_middleware(token: str | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    """With a token, any request (websocket handshakes included) without `Authorization: <token>` gets 401."""

    @web.middleware
    async def check_token(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        if token and request.headers.get("Authorization", "") != token:
            return web.Response(status=401, text="Unauthorized")
        return await handler(request)

    return check_token


# ----------------------------------------------------------------------------------------------------------
# Values flowing between nodes


@dataclass(frozen=True)
class SimImage:
    """An IMAGE batch: size, batch and either a solid colour or a seeded pattern (a sampled picture)."""

    width: int
    height: int
    batch: int
    rgb: tuple[int, int, int] = (0, 0, 0)
    pattern_seed: int | None = None

    def rows(self, index: int) -> RowSource:
        if self.pattern_seed is not None:
            return pattern_rows(self.width, self.height, (self.pattern_seed + index * 7919) & 0xFFFFFF)
        return solid_rows(self.width, self.rgb)

    def resized(self, width: int, height: int) -> SimImage:
        return SimImage(width, height, self.batch, self.rgb, self.pattern_seed)

    def __str__(self) -> str:  # how ComfyUI stringifies a tensor in current_inputs (abridged)
        pixel = "[" + ", ".join(f"{c / 255:.4f}" for c in self.rgb) + "]"
        return f"tensor([[[{pixel},\n          ...]]]) # shape [{self.batch}, {self.height}, {self.width}, 3]"


@dataclass(frozen=True)
class SimLatent:
    width: int  # in pixels, like EmptyLatentImage's inputs
    height: int
    batch: int
    seed: int | None = None

    def __str__(self) -> str:
        return f"{{'samples': tensor(...) # shape [{self.batch}, 4, {self.height // 8}, {self.width // 8}]}}"


@dataclass(frozen=True)
class SimOpaque:
    """MODEL / CLIP / VAE / CONDITIONING stand-ins."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"<{self.kind} object at 0x7f{zlib.crc32(self.detail.encode()) & 0xFFFFFFFF:08x}>"


class NodeExecutionError(Exception):
    """An exception a node raised while running; becomes an `execution_error` message."""

    def __init__(self, exception_type: str, message: str, frames: list[str], tips: str = "") -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message
        self.frames = frames
        self.tips = tips


class InterruptProcessing(Exception):
    """comfy.model_management.InterruptProcessingException."""


# Copied from the captured tracebacks (05_get_history_id_exec_error_*.json).
_EXECUTE_FRAMES = [
    '  File "/opt/ComfyUI/execution.py", line 496, in execute\n    output_data, output_ui, has_s'
    'ubgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_a'
    'll, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hi'
    'dden_inputs)\n                                                              ^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/execution.py", line 315, in get_output_data\n    return_values = await'
    ' _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_'
    'interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidd'
    'en_inputs=hidden_inputs)\n                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/execution.py", line 289, in _async_map_node_over_list\n    await proce'
    'ss_inputs(input_dict, i)\n',
    '  File "/opt/ComfyUI/execution.py", line 277, in process_inputs\n    result = f(**inputs)\n '
    '            ^^^^^^^^^^^\n',
]
_V3_FRAMES = [
    '  File "/opt/ComfyUI/comfy_api/internal/__init__.py", line 149, in wrapped_func\n    return'
    ' method(locked_class, **inputs)\n           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/comfy_api/latest/_io.py", line 1270, in EXECUTE_NORMALIZED\n    to_ret'
    'urn = cls.execute(*args, **kwargs)\n                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
]
_BLEND_FRAME = (
    '  File "/opt/ComfyUI/comfy_extras/nodes_post_processing.py", line 40, in execute\n    blend'
    'ed_image = image1 * (1 - blend_factor) + blended_image * blend_factor\n                    '
    '~~~~~~~~~~~~~~~~~~~~~~~~~~~~^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n'
)
_SCALE_FRAMES = [
    '  File "/opt/ComfyUI/nodes.py", line 1824, in upscale\n    s = comfy.utils.common_upscale(s'
    'amples, width, height, upscale_method, "disabled")\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/comfy/utils.py", line 887, in common_upscale\n    out = torch.nn.funct'
    'ional.interpolate(s, size=(height, width), mode=upscale_method)\n          ^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/venv/lib/python3.11/site-packages/torch/nn/functional.py", line 5274, in inte'
    'rpolate\n    return torch._C._nn.upsample_bilinear2d(\n           ^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^\n',
]
_KSAMPLER_FRAMES = [
    '  File "/opt/ComfyUI/nodes.py", line 1525, in sample\n    return common_ksampler(model, seed, steps, cfg, '
    "sampler_name, scheduler, positive, negative, latent_image, denoise=denoise)\n",
    '  File "/opt/ComfyUI/nodes.py", line 1492, in common_ksampler\n    samples = comfy.sample.sample(model, '
    "noise, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,\n",
    '  File "/opt/ComfyUI/comfy/sample.py", line 45, in sample\n    samples = sampler.sample(noise, positive, negative,'
    " cfg=cfg, latent_image=latent_image, start_step=start_step, last_step=last_step, force_full_denoise=force_full_"
    "denoise, denoise_mask=noise_mask, sigmas=sigmas, callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
    '  File "/opt/ComfyUI/comfy/samplers.py", line 1161, in sample\n    return sample(self.model, noise, positive, '
    "negative, cfg, self.device, sampler, sigmas, self.model_options, latent_image=latent_image, denoise_mask="
    "denoise_mask, callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
    '  File "/opt/ComfyUI/comfy/ldm/modules/attention.py", line 461, in attention_pytorch\n    out = '
    "comfy.ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)\n",
]
OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.31 GiB is "
    "free. Including non-PyTorch memory, this process has 22.32 GiB memory in use. Of the allocated memory 21.62 GiB "
    "is allocated by PyTorch, and 251.40 MiB is reserved by PyTorch but unallocated. If reserved but unallocated "
    "memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
    "documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)
OOM_TIPS = (
    "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have "
    "accidentally set the batch_size to a large number."
)

# Validation tracebacks, as ComfyUI's validate_inputs produces them (03_post_prompt_link_*.json).
_VALIDATE_RECURSE_FRAME = (
    '  File "/opt/ComfyUI/execution.py", line 808, in validate_inputs\n    r = await validate_inputs(prompt_id, '
    "prompt, o_id, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
_VALIDATE_LOOKUP_FRAME = (
    '  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n'
    "    o_class_type = prompt[o_id]['class_type']\n"
    "                   ~~~~~~^^^^^^\n"
)
_VALIDATE_SLOT_FRAME = (
    '  File "/opt/ComfyUI/execution.py", line 790, in validate_inputs\n    received_type = r[val[1]]\n'
    "                    ~^^^^^^^^\n"
)


def _full_type_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class _ValidationTraceback:
    """Exceptions raised while validating a linked node carry the traceback ComfyUI would print."""

    @staticmethod
    def frames_for(exc: BaseException) -> list[str]:
        if isinstance(exc, KeyError):
            return [_VALIDATE_RECURSE_FRAME, _VALIDATE_LOOKUP_FRAME]
        return [_VALIDATE_RECURSE_FRAME, _VALIDATE_SLOT_FRAME]


# ----------------------------------------------------------------------------------------------------------
# Queue items, progress


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
class _CachedNode:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None  # {"output": {...}, "meta": {...}} for output nodes with UI data


class _ProgressRegistry:
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
class _NodeContext:
    emulator: ComfyUIEmulator
    prompt_id: str
    node_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    progress: _ProgressRegistry

    def progress_hook(self, value: int, total: int, preview_png: bytes | None = None) -> None:
        """main.py's ProgressBar hook: interrupt check, progress_state, `progress`, optional preview frame."""
        emulator = self.emulator
        if emulator._interrupt_requested:
            raise InterruptProcessing()
        self.progress.update(self.node_id, value, total)
        emulator._emit_prompt_event(self.prompt_id, "progress",
                                    {"value": value, "max": total, "prompt_id": self.prompt_id, "node": self.node_id},
                                    client_only=False)
        if preview_png is not None:
            metadata = {"node_id": self.node_id, "prompt_id": self.prompt_id, "display_node_id": self.node_id,
                        "parent_node_id": None, "real_node_id": self.node_id, "image_type": "image/png"}
            emulator._send_preview(preview_png, metadata, emulator.client_id)


# ----------------------------------------------------------------------------------------------------------
# The emulator


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
        comfyui_version: str = newer.OLD_VERSION,
    ) -> None:
        if comfyui_version not in newer.VERSIONS:
            raise ValueError(f"comfyui_version must be one of {', '.join(newer.VERSIONS)}, not {comfyui_version!r}")
        self.comfyui_version = comfyui_version
        self.newer = newer.is_newer(comfyui_version)
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
        self._rng = random.Random(seed)
        # Faults (see the module docstring): a late answer for an accepted prompt, dropped POST /prompt requests.
        self.stall_prompt_response_seconds = max(stall_prompt_response_seconds, 0.0)
        self.drop_prompt_requests = max(drop_prompt_requests, 0)
        self._held_answers: set[asyncio.Future[None]] = set()

        self._number = 0
        self._queue: list[tuple[float, int, QueueItem]] = []  # a heap, like PromptQueue.queue
        self._sequence = itertools.count()
        self._task_counter = itertools.count()
        self._running: dict[int, QueueItem] = {}
        self._history: dict[str, dict[str, Any]] = {}
        self._cache: dict[Hashable, _CachedNode] = {}
        self._interrupt_requested = False
        self.client_id: str | None = None
        self.last_node_id: str | None = None

        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._socket_flags: dict[str, dict[str, Any]] = {}
        self._outbox: asyncio.Queue[tuple[str, Any, str | None]] = asyncio.Queue()
        self._queue_changed = asyncio.Event()
        self._listeners: dict[str, list[EventCallback]] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any] | None]]] = {}
        self._executor_task: asyncio.Task[None] | None = None
        self._sender_task: asyncio.Task[None] | None = None
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
        if self._loop is not loop:  # asyncio queues and events belong to one loop: make fresh ones for this one
            self._loop = loop
            self._outbox = asyncio.Queue()
            self._queue_changed = asyncio.Event()
        if self._executor_task is None:
            self._executor_task = asyncio.get_running_loop().create_task(self._executor_loop(),
                                                                          name="comfyui-sim-executor")
        if self._sender_task is None:
            self._sender_task = asyncio.get_running_loop().create_task(self._sender_loop(), name="comfyui-sim-ws")

    async def stop(self) -> None:
        """Cancel the executor, close every websocket, release waiting run_prompt() callers."""
        for task in (self._executor_task, self._sender_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._executor_task = self._sender_task = None
        for ws in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        self._sockets.clear()
        self._socket_flags.clear()
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
        """Add every route at "/" and under "/api", like ComfyUI."""
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
            ("GET", "/ws", self._handle_ws),
            ("GET", "/prompt", self._handle_get_prompt),
            ("POST", "/prompt", self._handle_post_prompt),
            ("GET", "/queue", self._handle_get_queue),
            ("POST", "/queue", self._handle_post_queue),
            ("POST", "/interrupt", self._handle_interrupt),
            ("GET", "/history", self._handle_get_history),
            ("GET", "/history/{prompt_id}", self._handle_get_history_id),
            ("POST", "/history", self._handle_post_history),
            ("GET", "/view", self._handle_view),
            ("GET", "/object_info", self._handle_object_info),
            ("GET", "/object_info/{node_class}", self._handle_object_info_node),
            ("GET", "/system_stats", self._handle_system_stats),
            ("GET", "/features", self._handle_features),
            ("GET", "/embeddings", self._handle_embeddings),
            ("GET", "/models", self._handle_model_folders),
            ("GET", "/models/{folder}", self._handle_models),
        ]
        if self.newer:  # before the generic routes: /api/jobs/{id} must not be taken for something else
            newer.JobsApi(self, now_ms).register(app, self._guarded)
        for prefix in ("", "/api"):
            for method, path, handler in routes:
                app.router.add_route(method, prefix + path, self._guarded(handler))
        app.on_shutdown.append(self._release_held_answers)

    def _guarded(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.check_origin and origin_forbidden(request):
                return web.Response(status=403)
            return await handler(request)

        return guarded

    # ----- public API for the EAS workers -----
    def validate(self, prompt: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, body) as POST /prompt would answer validation (no number is used, nothing queued).

        200 -> {"node_errors": ...} (possibly non-empty: a partly valid prompt), 400 -> the error body,
        500 -> {} for a prompt ComfyUI cannot even walk (not an object of nodes).
        """
        try:
            valid, error, _outputs, node_errors = self._validate_prompt(copy.deepcopy(prompt), None)
        except Exception:
            return 500, {}
        if valid:
            return 200, {"node_errors": node_errors}
        return 400, {"error": error, "node_errors": node_errors}

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
        status, response = self._submit(body)
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
        self._post_interrupt(prompt_id)

    # ----- read-only views (handy for tests and the demo) -----
    @property
    def history(self) -> dict[str, dict[str, Any]]:
        return self._history

    def queue_remaining(self) -> int:
        return len(self._queue) + len(self._running)

    # ----- websocket plumbing -----
    def _send(self, event: str, data: Any, sid: str | None) -> None:
        """server.send_sync: queue a JSON message for one client (sid) or everyone (None), keeping order."""
        self._outbox.put_nowait(("json", json.dumps({"type": event, "data": data}), sid))

    def _send_binary(self, payload: bytes, sid: str | None) -> None:
        self._outbox.put_nowait(("bytes", payload, sid))

    def _send_preview(self, png: bytes, metadata: dict[str, Any], sid: str | None) -> None:
        self._outbox.put_nowait(("preview", (png, metadata), sid))

    def _emit_prompt_event(self, prompt_id: str, event: str, data: dict[str, Any], *, client_only: bool) -> None:
        """Send a per-prompt event (to its client, or to all when client_only is False and it has none)."""
        for callback in list(self._listeners.get(prompt_id, [])):
            try:
                callback({"type": event, "data": copy.deepcopy(data)})
            except Exception:  # a listener must never break the executor
                log.exception("comfyui sim: on_event callback failed")
        if self.client_id is not None or not client_only:
            self._send(event, data, self.client_id)

    def _queue_updated(self) -> None:
        self._send("status", {"status": self._queue_info()}, None)
        self._queue_changed.set()

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self.queue_remaining()}}

    async def _sender_loop(self) -> None:
        while True:
            kind, payload, sid = await self._outbox.get()
            if sid is None:
                targets = list(self._sockets.items())
            elif sid in self._sockets:
                targets = [(sid, self._sockets[sid])]
            else:
                continue
            for target_sid, ws in targets:
                try:
                    if kind == "json":
                        await ws.send_str(payload)
                    elif kind == "bytes":
                        await ws.send_bytes(payload)
                    else:
                        png, metadata = payload
                        if self._socket_flags.get(target_sid, {}).get("supports_preview_metadata"):
                            meta = json.dumps(metadata).encode()
                            frame = struct.pack(">I", PREVIEW_IMAGE_WITH_METADATA) + struct.pack(">I", len(meta))
                            await ws.send_bytes(frame + meta + png)
                        else:
                            await ws.send_bytes(struct.pack(">II", PREVIEW_IMAGE, 2) + png)
                except Exception:  # a closing socket: ComfyUI ignores send errors too
                    pass

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            self._sockets.pop(sid, None)  # a reconnect replaces the old socket of that client
        else:
            sid = uuid.uuid4().hex
        self._sockets[sid] = ws
        self._socket_flags[sid] = {}
        try:
            await ws.send_str(json.dumps({"type": "status", "data": {"status": self._queue_info(), "sid": sid}}))
            if self.client_id == sid and self.last_node_id is not None:
                await ws.send_str(json.dumps({"type": "executing", "data": {"node": self.last_node_id}}))
            first_message = True
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                    if first_message and isinstance(data, dict) and data.get("type") == "feature_flags":
                        flags = data.get("data", {})
                        self._socket_flags[sid] = flags if isinstance(flags, dict) else {}
                        self._send("feature_flags", SERVER_FEATURES, sid)
                    first_message = False
                except (json.JSONDecodeError, AttributeError):
                    pass
        finally:
            if self._sockets.get(sid) is ws:
                self._sockets.pop(sid, None)
                self._socket_flags.pop(sid, None)
        return ws

    # ----- HTTP handlers -----
    async def _handle_get_prompt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._queue_info())

    async def _handle_post_prompt(self, request: web.Request) -> web.StreamResponse:
        if self.drop_prompt_requests > 0:
            self.drop_prompt_requests -= 1
            await request.read()  # the whole request arrived: for the client, it may or may not have been taken
            return _drop_connection(request)
        try:
            json_data = await request.json()
        except Exception:
            return server_error_response()
        status, body = self._submit(json_data)
        if body is None:
            return server_error_response()
        stall = self.stall_prompt_response_seconds
        if status == 200 and stall > 0 and not await self._hold_answer(stall):
            return _drop_connection(request)  # the server went down while holding it: the answer is never sent
        return web.json_response(body, status=status)

    async def _hold_answer(self, seconds: float) -> bool:
        """Wait before answering (a fault); False when the server shuts down meanwhile."""
        released: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held_answers.add(released)
        try:
            done, _ = await asyncio.wait({released}, timeout=seconds)
        finally:
            self._held_answers.discard(released)
            released.cancel()
        return not done

    async def _release_held_answers(self, _app: web.Application) -> None:
        """On shutdown (before aiohttp waits for handlers), held answers end at once, unsent, like in a crash."""
        for released in list(self._held_answers):
            if not released.done():
                released.set_result(None)

    async def _handle_get_queue(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({
            "queue_running": [item.as_list() for item in self._running.values()],
            "queue_pending": [entry[2].as_list() for entry in self._queue],
        })

    async def _handle_post_queue(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data = await request.json()
            if "clear" in json_data and json_data["clear"]:
                self._wipe_queue()
            if "delete" in json_data:
                for id_to_delete in json_data["delete"]:
                    self._delete_queue_item(id_to_delete)
        except Exception:
            return server_error_response()
        return web.Response(status=200)

    async def _handle_interrupt(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        try:
            prompt_id = json_data.get("prompt_id")
        except AttributeError:
            return server_error_response()
        self._post_interrupt(prompt_id)
        return web.Response(status=200)

    async def _handle_get_history(self, request: web.Request) -> web.StreamResponse:
        try:
            raw_max = request.rel_url.query.get("max_items")
            max_items = int(raw_max) if raw_max is not None else None
            raw_offset = request.rel_url.query.get("offset")
            offset = int(raw_offset) if raw_offset is not None else -1
        except ValueError:
            return server_error_response()
        return web.json_response(self._get_history(max_items=max_items, offset=offset))

    async def _handle_get_history_id(self, request: web.Request) -> web.StreamResponse:
        prompt_id = request.match_info["prompt_id"]
        if prompt_id in self._history:
            return web.json_response({prompt_id: self._history[prompt_id]})
        return web.json_response({})

    async def _handle_post_history(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data = await request.json()
            if "clear" in json_data and json_data["clear"]:
                self._history.clear()
            if "delete" in json_data:
                for id_to_delete in json_data["delete"]:
                    self._history.pop(id_to_delete, None)
        except Exception:
            return server_error_response()
        return web.Response(status=200)

    async def _handle_view(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename = query["filename"]
        directory: Path | None = None
        for suffix, kind in ((" [output]", "output"), (" [input]", "input"), (" [temp]", "temp")):
            if filename.endswith(suffix):  # folder_paths.annotated_filepath
                filename = filename[: -len(suffix)]
                directory = {"output": self.output_dir, "input": self.input_dir}.get(kind) or (
                    self.temp_dir if kind == "temp" else None
                )
                break
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        if directory is None:
            kind = query.get("type", "output")
            if kind not in ("output", "temp", "input"):
                return web.Response(status=400)
            directory = {"output": self.output_dir, "input": self.input_dir}.get(kind) if kind != "temp" else (
                self.temp_dir
            )
            if directory is None:  # no input folder configured: nothing is ever there
                return web.Response(status=404)
        if "subfolder" in query:
            full = (directory / query["subfolder"]).resolve()
            if os.path.commonpath((str(full), str(directory))) != str(directory):
                return web.Response(status=403)
            directory = full
        path = directory / os.path.basename(filename)
        if path.is_file():
            return web.FileResponse(path, headers={"Content-Disposition": f'filename="{path.name}"'})
        return web.Response(status=404)

    async def _handle_object_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.catalogue)

    async def _handle_object_info_node(self, request: web.Request) -> web.StreamResponse:
        node_class = request.match_info["node_class"]
        if node_class in self.catalogue:
            return web.json_response({node_class: self.catalogue[node_class]})
        return web.json_response({})

    async def _handle_system_stats(self, request: web.Request) -> web.StreamResponse:
        ram_total = 16 * 1024**3
        ram_free = 12 * 1024**3
        return web.json_response({
            "system": {
                "os": os.name,
                "ram_total": ram_total,
                "ram_free": ram_free,
                "comfyui_version": self.comfyui_version,
                "required_frontend_version": "1.27.10",
                "installed_templates_version": "0.1.95",
                "required_templates_version": "0.1.95",
                "python_version": sys.version,
                "pytorch_version": "emulated",
                "embedded_python": False,
                "argv": ["main.py", "--emulated-by", "comfyq-sim"],
            },
            "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": ram_total, "vram_free": ram_free,
                         "torch_vram_total": ram_total, "torch_vram_free": ram_free}],
        })

    async def _handle_features(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(SERVER_FEATURES)

    async def _handle_embeddings(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([])

    async def _handle_model_folders(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(list(MODEL_FOLDERS))

    async def _handle_models(self, request: web.Request) -> web.StreamResponse:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(self.models if folder == "checkpoints" else [])

    # ----- the prompt queue (execution.PromptQueue) -----
    def _submit(self, json_data: Any) -> tuple[int, dict[str, Any] | None]:
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
                error = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
                         "extra_info": {}}
                return 400, {"error": error, "node_errors": {}}
            prompt = json_data["prompt"]
            if self.newer and json_data.get("prompt_id") is not None and not newer.is_canonical_uuid(
                json_data["prompt_id"]
            ):
                return 400, newer.invalid_prompt_id_body()  # (the number has advanced all the same)
            if "prompt_id" in json_data and not (self.newer and json_data["prompt_id"] is None):
                prompt_id = str(json_data["prompt_id"])  # (0.3.64 takes anything, even null as "None")
            else:
                prompt_id = str(uuid.uuid4())
            partial = json_data["partial_execution_targets"] if "partial_execution_targets" in json_data else None
            valid, error, outputs, node_errors = self._validate_prompt(prompt, partial)
            extra_data = json_data["extra_data"] if "extra_data" in json_data else {}
            if "client_id" in json_data:
                extra_data["client_id"] = json_data["client_id"]
            if not valid:
                return 400, {"error": error, "node_errors": node_errors}
            if self.newer:
                extra_data["create_time"] = now_ms()  # written on acceptance, over any client value
            sensitive = {key: extra_data.pop(key) for key in SENSITIVE_EXTRA_DATA_KEYS if key in extra_data}
            self._put(QueueItem(number, prompt_id, prompt, extra_data, outputs, sensitive))
            return 200, {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
        except Exception:
            return 500, None

    def _put(self, item: QueueItem) -> None:
        heapq.heappush(self._queue, (item.number, next(self._sequence), item))
        self._queue_updated()

    def _wipe_queue(self) -> None:
        removed = [entry[2] for entry in self._queue]
        self._queue = []
        self._queue_updated()
        for item in removed:
            self._release_waiters(item.prompt_id, None)

    def _delete_queue_item(self, prompt_id: Any) -> None:
        for index, entry in enumerate(self._queue):
            if entry[2].prompt_id == prompt_id:
                if len(self._queue) == 1:
                    self._wipe_queue()
                else:
                    self._queue.pop(index)
                    heapq.heapify(self._queue)
                    self._release_waiters(entry[2].prompt_id, None)
                self._queue_updated()
                return

    def _post_interrupt(self, prompt_id: Any) -> None:
        if prompt_id:
            if any(item.prompt_id == prompt_id for item in self._running.values()):
                self._interrupt_requested = True
        else:
            self._interrupt_requested = True

    def _get_history(self, max_items: int | None, offset: int) -> dict[str, Any]:
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

    # ----- validation (execution.validate_prompt / validate_inputs) -----
    def _validate_prompt(self, prompt: Any, partial_execution_list: Any
                         ) -> tuple[bool, dict[str, Any] | None, list[str], dict[str, Any]]:
        outputs: list[str] = []
        if self.newer:
            for x in prompt:
                node = prompt[x]
                if "class_type" not in node or self.catalogue.get(node["class_type"]) is None:
                    return False, newer.missing_node_type(str(x), node), [], {}
        for x in prompt:
            if "class_type" not in prompt[x]:
                return False, {"type": "invalid_prompt",
                               "message": "Cannot execute because a node is missing the class_type property.",
                               "details": f"Node ID '#{x}'", "extra_info": {}}, [], {}
            class_type = prompt[x]["class_type"]
            class_def = self.catalogue.get(class_type)  # an unhashable class_type raises -> 500, as in ComfyUI
            if class_def is None:
                return False, {"type": "invalid_prompt",
                               "message": f"Cannot execute because node {class_type} does not exist.",
                               "details": f"Node ID '#{x}'", "extra_info": {}}, [], {}
            if class_def.get("output_node") is True:
                if (partial_execution_list is None or x in partial_execution_list) and x not in outputs:
                    outputs.append(x)
        if not outputs:
            return False, {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                           "extra_info": {}}, [], {}
        if self.newer and (cycle := newer.find_cycle(prompt)) is not None:
            return False, {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                           "details": "", "extra_info": {}}, [], newer.cycle_node_errors(prompt, cycle, outputs)

        good_outputs: list[str] = []
        errors: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
        for o in outputs:
            try:
                valid, reasons, _ = self._validate_inputs(prompt, o, validated, set())
            except Exception as ex:
                valid = False
                reasons = [{"type": "exception_during_validation", "message": "Exception when validating node",
                            "details": str(ex), "extra_info": {"exception_type": _full_type_name(ex),
                                                               "traceback": [_VALIDATE_LOOKUP_FRAME]}}]
                validated[o] = (False, reasons, o)
            if valid is True:
                good_outputs.append(o)
            else:
                errors.append((o, reasons))
                for node_id, result in validated.items():
                    if result[0] is not True and len(result[1]) > 0:
                        if node_id not in node_errors:
                            node_errors[node_id] = {"errors": result[1], "dependent_outputs": [],
                                                    "class_type": prompt[node_id]["class_type"]}
                        node_errors[node_id]["dependent_outputs"].append(o)
        if not good_outputs:
            details = "\n".join(f"{error['message']}: {error['details']}"
                                for _o, reasons in errors for error in reasons)
            return False, {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                           "details": details, "extra_info": {}}, [], node_errors
        return True, None, good_outputs, node_errors

    def _validate_inputs(self, prompt: dict[str, Any], unique_id: str,
                         validated: dict[str, tuple[bool, list[dict[str, Any]], str]], visiting: set[str]
                         ) -> tuple[bool, list[dict[str, Any]], str]:
        if unique_id in validated:
            return validated[unique_id]
        inputs = prompt[unique_id]["inputs"]
        class_type = prompt[unique_id]["class_type"]
        class_def = self.catalogue[class_type]
        class_inputs = class_def["input"]
        valid_inputs = [*class_inputs.get("required", {}), *class_inputs.get("optional", {})]
        errors: list[dict[str, Any]] = []
        valid = True
        visiting = visiting | {unique_id}
        for x in valid_inputs:
            category = "required" if x in class_inputs.get("required", {}) else "optional"
            spec = class_inputs[category][x]
            input_type = spec[0]
            extra_info = spec[1] if len(spec) > 1 else {}
            info = [input_type, extra_info]
            if x not in inputs:
                if category == "required":
                    errors.append({"type": "required_input_missing", "message": "Required input is missing",
                                   "details": f"{x}", "extra_info": {"input_name": x}})
                continue
            val = inputs[x]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append({"type": "bad_linked_input",
                                   "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                   "details": f"{x}", "extra_info": {"input_name": x, "input_config": info,
                                                                     "received_value": val}})
                    continue
                o_id = val[0]
                o_class_type = prompt[o_id]["class_type"]
                linked_def = self.catalogue[o_class_type]
                # V1 nodes declare RETURN_TYPES as a tuple, V3 ones as a list: the IndexError text differs.
                return_types = list(linked_def["output"]) if "api_node" in linked_def else tuple(linked_def["output"])
                received_type = return_types[val[1]]
                if not _validate_node_input(received_type, input_type):
                    errors.append({"type": "return_type_mismatch",
                                   "message": "Return type mismatch between linked nodes",
                                   "details": f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                                   "extra_info": {"input_name": x, "input_config": info,
                                                  "received_type": received_type, "linked_node": val}})
                    continue
                if o_id in visiting:
                    # A dependency cycle: ComfyUI recurses until it fails and the error is overwritten on the
                    # way back, leaving every node invalid without reasons (03_post_prompt_cycle.json).
                    valid = False
                    continue
                try:
                    r = self._validate_inputs(prompt, o_id, validated, visiting)
                    if r[0] is False:
                        valid = False
                        continue
                except Exception as ex:
                    valid = False
                    validated[o_id] = (False, [{
                        "type": "exception_during_inner_validation",
                        "message": "Exception when validating inner node",
                        "details": str(ex),
                        "extra_info": {"input_name": x, "input_config": info, "exception_message": str(ex),
                                       "exception_type": _full_type_name(ex),
                                       "traceback": _ValidationTraceback.frames_for(ex), "linked_node": val},
                    }], o_id)
                    continue
            else:
                try:
                    if isinstance(val, dict) and "__value__" in val:
                        val = val["__value__"]
                        inputs[x] = val
                    if input_type == "INT":
                        val = int(val)
                        inputs[x] = val
                    if input_type == "FLOAT":
                        val = float(val)
                        inputs[x] = val
                    if input_type == "STRING":
                        val = str(val)
                        inputs[x] = val
                    if input_type == "BOOLEAN":
                        val = bool(val)
                        inputs[x] = val
                except Exception as ex:
                    errors.append({"type": "invalid_input_type",
                                   "message": f"Failed to convert an input value to a {input_type} value",
                                   "details": f"{x}, {val}, {ex}",
                                   "extra_info": {"input_name": x, "input_config": info, "received_value": val,
                                                  "exception_message": str(ex)}})
                    continue
                if "min" in extra_info and val < extra_info["min"]:
                    errors.append({"type": "value_smaller_than_min",
                                   "message": "Value {} smaller than min of {}".format(val, extra_info["min"]),
                                   "details": f"{x}", "extra_info": {"input_name": x, "input_config": info,
                                                                     "received_value": val}})
                    continue
                if "max" in extra_info and val > extra_info["max"]:
                    errors.append({"type": "value_bigger_than_max",
                                   "message": "Value {} bigger than max of {}".format(val, extra_info["max"]),
                                   "details": f"{x}", "extra_info": {"input_name": x, "input_config": info,
                                                                     "received_value": val}})
                    continue
                if isinstance(input_type, list) or input_type == "COMBO":
                    options = extra_info.get("options", []) if input_type == "COMBO" else input_type
                    if val not in options:
                        input_config: Any = info
                        if len(options) > 20:
                            list_info = f"(list of length {len(options)})"
                            input_config = None
                        else:
                            list_info = str(options)
                        errors.append({"type": "value_not_in_list", "message": "Value not in list",
                                       "details": f"{x}: '{val}' not in {list_info}",
                                       "extra_info": {"input_name": x, "input_config": input_config,
                                                      "received_value": val}})
                        continue
        result = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
        validated[unique_id] = result
        return result

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
                success, messages, outputs, meta = await self._execute(item)
            except asyncio.CancelledError:
                self._running.pop(item_id, None)
                raise
            except Exception:  # an emulator bug must not kill the only executor: record the job as failed
                log.exception("comfyui sim: executing %s failed", item.prompt_id)
                success, messages, outputs, meta = False, [], {}, {}
            self._task_done(item_id, item, success, messages, outputs, meta)
            entry = self._history.get(item.prompt_id)
            self._emit_prompt_event(item.prompt_id, "executing", {"node": None, "prompt_id": item.prompt_id},
                                    client_only=True)
            self._release_waiters(item.prompt_id, copy.deepcopy(entry) if entry is not None else None)

    def _task_done(self, item_id: int, item: QueueItem, success: bool, messages: list[list[Any]],
                   outputs: dict[str, Any], meta: dict[str, Any]) -> None:
        self._running.pop(item_id, None)
        if len(self._history) > MAXIMUM_HISTORY_SIZE:
            self._history.pop(next(iter(self._history)))
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            item.extra_data.pop(key, None)
        self._history[item.prompt_id] = {
            "prompt": item.as_list(),
            "outputs": outputs,
            "status": {"status_str": "success" if success else "error", "completed": success,
                       "messages": messages},
            "meta": meta,
        }
        self._queue_updated()

    def _signatures(self, prompt: dict[str, Any]) -> dict[str, Hashable]:
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

    async def _execute(self, item: QueueItem
                       ) -> tuple[bool, list[list[Any]], dict[str, Any], dict[str, Any]]:
        prompt, prompt_id = item.prompt, item.prompt_id
        extra_data = {**item.extra_data, **item.sensitive}
        self._interrupt_requested = False
        self.client_id = extra_data["client_id"] if "client_id" in extra_data else None
        messages: list[list[Any]] = []

        def add_message(event: str, data: dict[str, Any], broadcast: bool) -> None:
            data = {**data, "timestamp": now_ms()}
            messages.append([event, data])
            self._emit_prompt_event(prompt_id, event, data, client_only=not broadcast)

        add_message("execution_start", {"prompt_id": prompt_id}, False)
        signatures = self._signatures(prompt)
        live = set(signatures.values())
        self._cache = {key: value for key, value in self._cache.items() if key in live}  # clean_unused
        cached_nodes = [node_id for node_id in prompt if signatures[node_id] in self._cache]
        add_message("execution_cached", {"nodes": cached_nodes, "prompt_id": prompt_id}, False)

        progress = _ProgressRegistry(
            prompt_id, lambda data: self._emit_prompt_event(prompt_id, "progress_state", data, client_only=False))
        order = _ExecutionList(prompt, lambda node_id: signatures[node_id] in self._cache,
                               lambda node_id: self.catalogue[prompt[node_id]["class_type"]].get("output_node") is True)
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
            cached = self._cache.get(signature)
            if cached is not None:
                self._emit_prompt_event(prompt_id, "executed", {
                    "node": node_id, "display_node": node_id,
                    "output": cached.ui["output"] if cached.ui else None, "prompt_id": prompt_id},
                    client_only=True)
                if cached.ui is not None:
                    ui_outputs[node_id] = cached.ui
                progress.finish(node_id)
                results[node_id] = cached.outputs
                order.complete(node_id)
                continue

            declared = self.catalogue[class_type]["input"]
            inputs: dict[str, Any] = {}
            for name, value in prompt[node_id]["inputs"].items():
                if name not in declared.get("required", {}) and name not in declared.get("optional", {}):
                    continue  # inputs the node does not declare never reach it
                if is_link(value):
                    upstream = results.get(value[0])
                    if upstream is None:  # an ancestor served from the cache without being staged
                        upstream = self._cache[signatures[value[0]]].outputs
                    inputs[name] = upstream[int(value[1])]
                else:
                    inputs[name] = value
            progress.start(node_id)
            if self.client_id is not None:
                self.last_node_id = node_id
            self._emit_prompt_event(prompt_id, "executing",
                                    {"node": node_id, "display_node": node_id, "prompt_id": prompt_id},
                                    client_only=True)
            context = _NodeContext(self, prompt_id, node_id, prompt, extra_data, progress)
            try:
                if self._interrupt_requested:  # pre_execute_cb: checked when a node is about to run
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
                    exception_type, message, frames, tips = _full_type_name(ex), str(ex), list(_EXECUTE_FRAMES), ""
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
                self._emit_prompt_event(prompt_id, "executed", {
                    "node": node_id, "display_node": node_id, "output": ui, "prompt_id": prompt_id},
                    client_only=True)
            self._cache[signature] = _CachedNode(outputs, ui_entry)
            results[node_id] = outputs
            progress.finish(node_id)
            executed.append(node_id)
            order.complete(node_id)
        else:
            add_message("execution_success", {"prompt_id": prompt_id}, False)
        self.last_node_id = None
        return (success, messages, {node_id: entry["output"] for node_id, entry in ui_outputs.items()},
                {node_id: entry["meta"] for node_id, entry in ui_outputs.items()})

    # ----- output files -----
    def _next_counter(self, folder: Path, filename: str) -> int:
        """folder_paths.get_save_image_path: one past the highest `<filename>_NNNNN_` already in the folder."""
        highest = 0
        prefix_len = len(filename)
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            names = []
        for name in names:
            same_prefix = os.path.normcase(name[:prefix_len]) == os.path.normcase(filename)
            if not same_prefix or name[prefix_len:prefix_len + 1] != "_":
                continue
            digits = name[prefix_len + 1:].split("_")[0]
            if digits.isdigit():
                highest = max(highest, int(digits))
        return highest + 1

    async def save_images(self, images: SimImage, filename_prefix: str, *, temp: bool, prompt: dict[str, Any],
                          extra_data: dict[str, Any]) -> list[dict[str, str]]:
        """Write one PNG per image of the batch; return the ui `images` list."""
        base_dir = self.temp_dir if temp else self.output_dir
        if "%" in filename_prefix:
            filename_prefix = _compute_vars(filename_prefix, images.width, images.height)
        normalized = os.path.normpath(filename_prefix)
        subfolder = os.path.dirname(normalized)
        filename = os.path.basename(normalized)
        folder = (base_dir / subfolder).resolve()
        if os.path.commonpath((str(base_dir), str(folder))) != str(base_dir):
            raise NodeExecutionError(
                "Exception",
                "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: "
                f"{folder}\n         output_dir: {base_dir}\n         commonpath: "
                f"{os.path.commonpath((str(base_dir), str(folder)))}", list(_EXECUTE_FRAMES))
        folder.mkdir(parents=True, exist_ok=True)
        text = {"prompt": json.dumps(prompt)}
        extra_pnginfo = extra_data.get("extra_pnginfo")
        if isinstance(extra_pnginfo, dict):
            text.update({str(key): json.dumps(value) for key, value in extra_pnginfo.items()})
        results: list[dict[str, str]] = []
        counter = self._next_counter(folder, filename) if (temp or self.filename_style == "comfyui") else 0
        for index in range(images.batch):
            with_batch = filename.replace("%batch_num%", str(index))
            if temp or self.filename_style == "comfyui":
                name = f"{with_batch}_{counter:05}_.png"
                counter += 1
            else:  # the API edition's names: <prefix>_<8 digits>_<timestamp>_<uuid>_.png
                name = f"{with_batch}_{index:08d}_{int(time.time() * 100000)}_{uuid.uuid4()}_.png"
            data = await asyncio.to_thread(encode_png, images.width, images.height, images.rows(index), text)
            await asyncio.to_thread((folder / name).write_bytes, data)
            result: dict[str, Any] = {"filename": name, "subfolder": subfolder, "type": "temp" if temp else "output"}
            if self.newer:
                result["metadata"] = newer.image_metadata(images.width, images.height)
            results.append(result)
        return results

    def draw_failure(self) -> bool:
        """One deterministic draw (with `seed`) per sampler run: does this run hit the simulated OOM?"""
        draw = self._rng.random()
        return self.fail_rate > 0 and draw < self.fail_rate


def _compute_vars(text: str, width: int, height: int) -> str:
    now = time.localtime()
    for key, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year),
                       ("%month%", f"{now.tm_mon:02}"), ("%day%", f"{now.tm_mday:02}"),
                       ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                       ("%second%", f"{now.tm_sec:02}")):
        text = text.replace(key, str(value))
    return text


def _format_value(value: Any) -> Any:
    """execution.format_value: primitives as they are, anything else (tensors, models) as str()."""
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


def _validate_node_input(received_type: Any, input_type: Any) -> bool:
    """execution.validate_node_input (non-strict): equal, '*' or overlapping comma-separated unions."""
    if not received_type != input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    received = {t.strip() for t in received_type.split(",")}
    wanted = {t.strip() for t in input_type.split(",")}
    if "*" in received or "*" in wanted:
        return True
    return len(received & wanted) > 0


class _ExecutionList:
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


# ----------------------------------------------------------------------------------------------------------
# Node implementations: (context, inputs) -> (outputs tuple, ui dict or None)

NodeResult = tuple[tuple[Any, ...], dict[str, Any] | None]


async def _pause(context: _NodeContext) -> None:
    await asyncio.sleep(context.emulator.node_seconds)


def _color(value: int) -> tuple[int, int, int]:
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


async def _empty_image(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (SimImage(inputs["width"], inputs["height"], inputs["batch_size"], _color(inputs["color"])),), None


async def _image_blur(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (inputs["image"],), None


def _upscale_error(image: SimImage, width: int, height: int) -> NodeExecutionError:
    return NodeExecutionError(
        "RuntimeError",
        f"Input and output sizes should be greater than 0, but got input (H: {image.height}, W: {image.width}) "
        f"output (H: {height}, W: {width})",
        [*_EXECUTE_FRAMES, *_SCALE_FRAMES])


async def _image_scale(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    image: SimImage = inputs["image"]
    width, height = inputs["width"], inputs["height"]
    if width == 0 and height == 0:
        return (image,), None
    if width == 0:
        width = max(1, round(image.width * height / image.height))
    elif height == 0:
        height = max(1, round(image.height * width / image.width))
    return (image.resized(width, height),), None


async def _image_scale_by(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    image: SimImage = inputs["image"]
    width, height = round(image.width * inputs["scale_by"]), round(image.height * inputs["scale_by"])
    if width <= 0 or height <= 0:
        raise _upscale_error(image, width, height)
    return (image.resized(width, height),), None


async def _image_blend(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    first: SimImage = inputs["image1"]
    second: SimImage = inputs["image2"]
    if first.batch != second.batch and 1 not in (first.batch, second.batch):
        raise NodeExecutionError(
            "RuntimeError",
            f"The size of tensor a ({first.batch}) must match the size of tensor b ({second.batch}) at "
            "non-singleton dimension 0",
            [*_EXECUTE_FRAMES, *_V3_FRAMES, _BLEND_FRAME])
    factor = float(inputs["blend_factor"])
    red, green, blue = (round(a * (1 - factor) + b * factor) for a, b in zip(first.rgb, second.rgb))
    seed = first.pattern_seed if first.pattern_seed is not None else second.pattern_seed
    return (SimImage(first.width, first.height, max(first.batch, second.batch), (red, green, blue), seed),), None


async def _get_image_size(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    image: SimImage = inputs["image"]
    text = f"width: {image.width}, height: {image.height}\n batch size: {image.batch}"
    node = context.node_id.encode()
    context.emulator._send_binary(struct.pack(">II", TEXT, len(node)) + node + text.encode(),
                                  context.emulator.client_id)
    return (image.width, image.height, image.batch), None


async def _save_image(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    images = await context.emulator.save_images(inputs["images"], inputs["filename_prefix"], temp=False,
                                                prompt=context.prompt, extra_data=context.extra_data)
    return (), {"images": images}


async def _preview_image(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    suffix = "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))  # ComfyUI's own alphabet
    images = await context.emulator.save_images(inputs["images"], f"ComfyUI_temp_{suffix}", temp=True,
                                                prompt=context.prompt, extra_data=context.extra_data)
    return (), {"images": images}


async def _save_image_websocket(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: SimImage = inputs["images"]
    for index in range(images.batch):
        await _pause(context)
        png = await asyncio.to_thread(encode_png, images.width, images.height, images.rows(index), None)
        context.progress_hook(index, images.batch, png)
    return (), None


async def _checkpoint_loader(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    name = inputs["ckpt_name"]
    return (SimOpaque("comfy.model_patcher.ModelPatcher", name), SimOpaque("comfy.sd.CLIP", name),
            SimOpaque("comfy.sd.VAE", name)), None


async def _clip_text_encode(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (SimOpaque("conditioning", str(inputs["text"])),), None


async def _empty_latent(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (SimLatent(inputs["width"], inputs["height"], inputs["batch_size"]),), None


async def _ksampler(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    emulator = context.emulator
    steps = int(inputs["steps"])
    latent: SimLatent = inputs["latent_image"]
    fail_at = emulator._rng.randrange(steps) if emulator.draw_failure() else None
    for step in range(steps):
        if step == fail_at:
            raise NodeExecutionError("torch.OutOfMemoryError", OOM_MESSAGE, [*_EXECUTE_FRAMES, *_KSAMPLER_FRAMES],
                                     OOM_TIPS)
        await asyncio.sleep(emulator.step_seconds)
        context.progress_hook(step + 1, steps)
    mixed = zlib.crc32(f"{inputs['seed']}|{inputs['positive']}|{inputs['negative']}|{inputs['cfg']}".encode())
    return (SimLatent(latent.width, latent.height, latent.batch, mixed),), None


async def _vae_decode(context: _NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    latent: SimLatent = inputs["samples"]
    seed = latent.seed if latent.seed is not None else 0
    return (SimImage(latent.width, latent.height, latent.batch, (0, 0, 0), seed),), None


NODE_IMPLEMENTATIONS: dict[str, Callable[[_NodeContext, dict[str, Any]], Awaitable[NodeResult]]] = {
    "EmptyImage": _empty_image,
    "ImageBlur": _image_blur,
    "ImageScale": _image_scale,
    "ImageScaleBy": _image_scale_by,
    "ImageBlend": _image_blend,
    "GetImageSize": _get_image_size,
    "SaveImage": _save_image,
    "PreviewImage": _preview_image,
    "SaveImageWebsocket": _save_image_websocket,
    "CheckpointLoaderSimple": _checkpoint_loader,
    "CLIPTextEncode": _clip_text_encode,
    "EmptyLatentImage": _empty_latent,
    "KSampler": _ksampler,
    "VAEDecode": _vae_decode,
}


# ----------------------------------------------------------------------------------------------------------
# A standalone server


def create_app(emulator: ComfyUIEmulator, *, token: str | None = None) -> web.Application:
    """A standalone ComfyUI app: the emulator's routes, a token check, and start/stop with the app."""
    app = web.Application(middlewares=[token_middleware(token)], client_max_size=MAX_UPLOAD_SIZE)
    emulator.register_routes(app)

    async def on_startup(_app: web.Application) -> None:
        await emulator.start()

    async def on_shutdown(_app: web.Application) -> None:
        await emulator.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


async def start_server(app: web.Application, host: str = "127.0.0.1", port: int = 0
                       ) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 picks a free port); returns the runner (call .cleanup()) and the port."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server  # aiohttp exposes the bound sockets only here
    sockets = getattr(server, "sockets", None)
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


__all__ = [
    "ComfyUIEmulator",
    "create_app",
    "start_server",
    "token_middleware",
    "origin_forbidden",
    "server_error_response",
    "SERVER_ERROR_TEXT",
    "DEFAULT_MODELS",
    "load_catalogue",
]
