"""The ComfyUI emulator's HTTP face: every route of a 0.3.64 server, at "/" and under "/api", plus a standalone app.

The handlers follow ComfyUI's server.py closely, so its answers come out the same (fixture README): malformed bodies
get aiohttp's stock 500 (ComfyUI lets the exception escape), POST /queue, /interrupt and /history answer 200 with an
empty body, `{}` from /history/{id} for anything not finished, /view's 400/403/404 with empty bodies, and the origin
check (a loopback Host with a different Origin host gets 403). What the routes do to the queue, the history and the
executor is the emulator's (comfyui.py); the websocket is comfyui_ws.py; the newer generation's `/api/jobs` routes
are comfyui_newer.py's, registered first.

Two network faults are played here, switched by the emulator's attributes: `stall_prompt_response_seconds` queues
an accepted prompt and only then holds its answer back; `drop_prompt_requests` closes the next N POST /prompt
connections after reading the body, without an answer and without queueing anything.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import sys
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tui.sim import comfyui_newer
from tui.sim.comfyui_errors import server_error_response
from tui.sim.comfyui_ws import SERVER_FEATURES

if TYPE_CHECKING:
    from tui.sim.comfyui import ComfyUIEmulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_UPLOAD_SIZE = 104857600
# Model folders ComfyUI knows (GET /models); only checkpoints is ever non-empty here. GET /models/checkpoints reads
# the catalogue's CheckpointLoaderSimple.ckpt_name enum, the list POST /prompt validates against: in ComfyUI both
# are folder_paths.get_filename_list("checkpoints"), so they always agree.
MODEL_FOLDERS = (
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision", "style_models",
    "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models", "hypernetworks",
    "photomaker", "classifiers",
)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection without a word (a fault). The response returned is never sent: aiohttp drops it."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
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


def token_middleware(token: str | None, *, exempt: Callable[[web.Request], bool] | None = None
                     ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """With a token, any request (websocket handshakes included) without `Authorization: <token>` gets 401
    `unauthorized`, except those `exempt` lets through (routes that check their own signature)."""

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.headers.get("Authorization", "") != token and not (exempt and exempt(request)):
            return web.Response(status=401, text="unauthorized")
        return await handler(request)

    return check_token


class ComfyUIRoutes:
    """The route handlers over one emulator."""

    def __init__(self, emulator: ComfyUIEmulator) -> None:
        self.emulator = emulator
        self._held_answers: set[asyncio.Future[None]] = set()

    def register(self, app: web.Application) -> None:
        """Add every route at "/" and under "/api", like ComfyUI."""
        routes: list[tuple[str, str, Handler]] = [
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
        if self.emulator.newer:  # before the generic routes: /api/jobs/{id} must not be taken for something else
            comfyui_newer.JobsApi(self.emulator).register(app, self._guarded)
        for prefix in ("", "/api"):
            for method, path, handler in routes:
                app.router.add_route(method, prefix + path, self._guarded(handler))
        app.on_shutdown.append(self._release_held_answers)

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.emulator.check_origin and origin_forbidden(request):
                return web.Response(status=403)
            return await handler(request)

        return guarded

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        emulator = self.emulator

        def greeting(sid: str) -> list[dict[str, Any]]:
            # The first frame carries the socket's sid; a reconnecting client hears which node is running.
            messages: list[dict[str, Any]] = [{"type": "status", "data": {"status": emulator.queue_info(), "sid": sid}}]
            if emulator.client_id == sid and emulator.last_node_id is not None:
                messages.append({"type": "executing", "data": {"node": emulator.last_node_id}})
            return messages

        return await emulator.websockets.serve(request, greeting)

    async def _handle_get_prompt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.emulator.queue_info())

    async def _handle_post_prompt(self, request: web.Request) -> web.StreamResponse:
        if self.emulator.drop_prompt_requests > 0:
            self.emulator.drop_prompt_requests -= 1
            await request.read()  # the whole request arrived: for the client, it may or may not have been taken
            return _drop_connection(request)
        try:
            json_data = await request.json()
        except Exception:
            return server_error_response()
        status, body = self.emulator.submit(json_data)
        if body is None:
            return server_error_response()
        stall = self.emulator.stall_prompt_response_seconds
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
            "queue_running": [item.as_list() for item in self.emulator.running_items()],
            "queue_pending": [item.as_list() for item in self.emulator.pending_items()],
        })

    async def _handle_post_queue(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data = await request.json()
            if "clear" in json_data and json_data["clear"]:
                self.emulator.wipe_queue()
            if "delete" in json_data:
                for id_to_delete in json_data["delete"]:
                    self.emulator.delete_queue_item(id_to_delete)
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
        self.emulator.post_interrupt(prompt_id)
        return web.Response(status=200)

    async def _handle_get_history(self, request: web.Request) -> web.StreamResponse:
        try:
            raw_max = request.rel_url.query.get("max_items")
            max_items = int(raw_max) if raw_max is not None else None
            raw_offset = request.rel_url.query.get("offset")
            offset = int(raw_offset) if raw_offset is not None else -1
        except ValueError:
            return server_error_response()
        return web.json_response(self.emulator.history_page(max_items=max_items, offset=offset))

    async def _handle_get_history_id(self, request: web.Request) -> web.StreamResponse:
        prompt_id = request.match_info["prompt_id"]
        if prompt_id in self.emulator.history:
            return web.json_response({prompt_id: self.emulator.history[prompt_id]})
        return web.json_response({})

    async def _handle_post_history(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data = await request.json()
            if "clear" in json_data and json_data["clear"]:
                self.emulator.history.clear()
            if "delete" in json_data:
                for id_to_delete in json_data["delete"]:
                    self.emulator.history.pop(id_to_delete, None)
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
                directory = self._folder(kind)
                break
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        if directory is None:
            kind = query.get("type", "output")
            if kind not in ("output", "temp", "input"):
                return web.Response(status=400)
            directory = self._folder(kind)
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

    def _folder(self, kind: str) -> Path | None:
        """The folder of a /view `type` (None: no input folder is configured)."""
        if kind == "temp":
            return self.emulator.temp_dir
        return {"output": self.emulator.output_dir, "input": self.emulator.input_dir}.get(kind)

    async def _handle_object_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.emulator.catalogue)

    async def _handle_object_info_node(self, request: web.Request) -> web.StreamResponse:
        node_class = request.match_info["node_class"]
        if node_class in self.emulator.catalogue:
            return web.json_response({node_class: self.emulator.catalogue[node_class]})
        return web.json_response({})

    async def _handle_system_stats(self, request: web.Request) -> web.StreamResponse:
        ram_total = 16 * 1024**3
        ram_free = 12 * 1024**3
        return web.json_response({
            "system": {
                "os": os.name,
                "ram_total": ram_total,
                "ram_free": ram_free,
                "comfyui_version": self.emulator.comfyui_version,
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
        if folder != "checkpoints":
            return web.json_response([])
        loader = self.emulator.catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
        return web.json_response(list(loader[0]))


def create_app(emulator: ComfyUIEmulator, *, token: str | None = None) -> web.Application:
    """A standalone ComfyUI app: the emulator's routes, a token check, and start/stop with the app."""
    app = web.Application(middlewares=[token_middleware(token)], client_max_size=MAX_UPLOAD_SIZE)
    ComfyUIRoutes(emulator).register(app)

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
    return runner, bound_port(site, port)


def bound_port(site: web.TCPSite, asked: int) -> int:
    """The port a started site listens on (what port 0 picked); aiohttp exposes the bound sockets only here."""
    sockets = getattr(site._server, "sockets", None)
    return int(sockets[0].getsockname()[1]) if sockets else asked

