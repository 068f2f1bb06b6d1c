"""ComfyUI look-alikes that misbehave on purpose, for the fault suite (127.0.0.1 only, a free port each).

Both speak enough of ComfyUI (`POST /prompt`, `GET /queue`, `GET /history/<id>`, `GET /system_stats`, `/ws`) for
comfyq to use them, record every answer (`requests`, helpers.RequestLog) and run in their own loop thread:

`HostileServer` also takes EAS input puts (`POST .../api_prompt`) and misbehaves per route on request:
- ``drip``: a well-formed answer sent one byte every `drip_seconds` (never trips a per-read timeout);
- ``endless``: a 200 whose body never ends (chunks forever);
- ``stall``: the request is read and never answered;
- ``huge``: a well-formed answer padded to `huge_bytes`;
- ``reset``: POST /prompt's connection is reset before the prompt is taken (the first `times` requests).
Its history entries name outputs with whatever file names, subfolders and node ids the test sets: escape-laden
(`"\\x1b]52;c;…"`), bidi overrides, lone surrogates sent as valid JSON escapes (`"\\ud800"`).

`ReplayServer` answers each route with a canned `Reply` the test sets (a status, a body, a stall or a dropped
connection), and otherwise like a healthy idle ComfyUI.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.faults.helpers import Cli, LoopThread, RequestLog, write_config
from tui.sim.comfyui_routes import bound_port

# The file name of the report: sets the clipboard (OSC 52), erases the line and returns the cursor.
OSC52_NAME = "\x1b]52;c;ZWNobyBQV05FRAo=\x1b\\\x1b[2K\rinnocent.png"
# More of the class: a CSI colour, an 8-bit CSI (C1), a bell-terminated OSC title, a bidi override, a backspace.
EVIL_NAMES = (
    OSC52_NAME,
    "\x1b[31mred\x1b[0m.png",
    "\x9b2Jc1.png",
    "\x1b]0;pwned\x07title.png",
    "gnp.\u202eexe.png",
    "back\x08\x08\x08space.png",
)
EVIL_SUBFOLDER = "sub\x1b[1Afolder"
EVIL_NODE = "9\x1b[2J"


class LookalikeServer:
    """The common part: an aiohttp app on a free loopback port in a loop thread, every answer recorded.

    Subclasses add their routes in `add_routes`; `/system_stats` and a silent `/ws` are always there.
    """

    def __init__(self, thread_name: str) -> None:
        self.thread = LoopThread(thread_name)
        self.requests = RequestLog()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.thread.run(self._start())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for prefix in ("", "/api"):
            app.router.add_get(prefix + "/system_stats", self._system_stats)
            app.router.add_get(prefix + "/ws", self._ws)
        self.add_routes(app)
        self.requests.install(app)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = bound_port(site, 0)

    async def _system_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"system": {"comfyui_version": "0.3.64"}, "devices": []})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:  # silent: no progress, the poller alone settles jobs
            pass
        return ws

    def close(self) -> None:
        try:
            if self.runner is not None:
                self.thread.run(self.runner.cleanup())
        finally:
            self.thread.close()


async def drop_connection(request: web.Request) -> None:
    """Reset the connection without a word, then wait to be cancelled (the answer is never sent)."""
    assert request.transport is not None
    request.transport.abort()
    await asyncio.sleep(3600)


@dataclass
class Behaviour:
    """How one route misbehaves ("normal" answers well)."""

    mode: str = "normal"  # normal | drip | endless | stall | huge | reset
    times: int = 1_000_000  # reset: only the first this-many requests (then it answers well)
    drip_seconds: float = 0.5
    huge_bytes: int = 8 * 1024 * 1024


@dataclass
class Outputs:
    """What the history entry of every prompt reports."""

    filenames: tuple[str, ...] = ("plain_00001_.png",)
    subfolder: str = ""
    node_id: str = "9"
    error: str | None = None  # an execution error message instead of success


class HostileServer(LookalikeServer):
    """Start with `HostileServer()`; set `routes[...]` and `outputs`; `close()` at the end."""

    ROUTES = ("prompt", "queue", "history", "system_stats", "api_prompt")

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {name: Behaviour() for name in self.ROUTES}
        self.outputs = Outputs()
        self.prompts: list[str] = []
        super().__init__("faults-hostile")

    @property
    def api_input_url(self) -> str:
        return f"{self.url}/api/predict/hostile"

    def set(self, route: str, mode: str, **options: Any) -> None:
        assert route in self.routes, route
        self.routes[route] = Behaviour(mode, **options)

    def reset(self) -> None:
        self.routes = {name: Behaviour() for name in self.ROUTES}
        self.outputs = Outputs()
        self.prompts.clear()
        self.requests.clear()

    # ------------------------------------------------------------------ server

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("", "/api"):
            app.router.add_post(prefix + "/prompt", self._post_prompt)
            app.router.add_get(prefix + "/history/{prompt_id}", self._get_history)
            app.router.add_get(prefix + "/history", self._get_history_all)
            app.router.add_get(prefix + "/queue", self._get_queue)
        app.router.add_post("/api/predict/{service}/api_prompt", self._api_prompt)
        app.router.add_get("/api/predict/{service}", self._api_get)

    async def _send(self, request: web.Request, route: str, body: bytes, status: int = 200) -> web.StreamResponse:
        behaviour = self.routes[route]
        if behaviour.mode == "stall":
            await asyncio.sleep(3600)
        if behaviour.mode == "huge":
            body = body + b" " * max(0, behaviour.huge_bytes - len(body))  # JSON allows trailing white space
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if behaviour.mode in ("normal", "huge", "reset"):  # (reset: its resets are used up)
            return web.Response(status=status, body=body, headers=headers)
        response = web.StreamResponse(status=status, headers=headers)
        if behaviour.mode == "drip":
            response.content_length = len(body)
            await response.prepare(request)
            for index in range(len(body)):
                await asyncio.sleep(behaviour.drip_seconds)
                await response.write(body[index : index + 1])
            await response.write_eof()
            return response
        assert behaviour.mode == "endless", behaviour.mode
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body[:-1] if body else b"[")  # never a complete JSON document
        chunk = b" " * 65536
        while True:
            await response.write(chunk)
            await asyncio.sleep(0.001)

    def _entry(self, prompt_id: str) -> dict[str, Any]:
        outputs = self.outputs
        images = [{"filename": name, "subfolder": outputs.subfolder, "type": "output"} for name in outputs.filenames]
        if outputs.error is not None:
            status = {
                "status_str": "error",
                "completed": False,
                "messages": [
                    ["execution_start", {"prompt_id": prompt_id, "timestamp": 1}],
                    [
                        "execution_error",
                        {
                            "prompt_id": prompt_id,
                            "node_id": outputs.node_id,
                            "node_type": outputs.node_id,
                            "exception_message": outputs.error,
                            "exception_type": outputs.error,
                            "traceback": [outputs.error],
                            "timestamp": 2,
                        },
                    ],
                ],
            }
            return {"prompt": [1, prompt_id, {}, {}, []], "outputs": {}, "status": status, "meta": {}}
        status = {
            "status_str": "success",
            "completed": True,
            "messages": [["execution_success", {"prompt_id": prompt_id, "timestamp": 2}]],
        }
        return {
            "prompt": [1, prompt_id, {}, {}, [outputs.node_id]],
            "outputs": {outputs.node_id: {"images": images}},
            "status": status,
            "meta": {},
        }

    async def _post_prompt(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        behaviour = self.routes["prompt"]
        if behaviour.mode == "reset" and behaviour.times > 0:
            behaviour.times -= 1  # the connection is reset before the prompt is taken
            await drop_connection(request)
        prompt_id = str(body.get("prompt_id"))
        self.prompts.append(prompt_id)
        answer = json.dumps({"prompt_id": prompt_id, "number": len(self.prompts), "node_errors": {}}).encode()
        return await self._send(request, "prompt", answer)

    async def _get_history(self, request: web.Request) -> web.StreamResponse:
        prompt_id = request.match_info["prompt_id"]
        answer = {prompt_id: self._entry(prompt_id)} if prompt_id in self.prompts else {}
        # ensure_ascii: lone surrogates travel as valid JSON escapes ("\ud800"), as a real server may send them.
        return await self._send(request, "history", json.dumps(answer).encode())

    async def _get_history_all(self, request: web.Request) -> web.StreamResponse:
        answer = {prompt_id: self._entry(prompt_id) for prompt_id in self.prompts}
        return await self._send(request, "history", json.dumps(answer).encode())

    async def _get_queue(self, request: web.Request) -> web.StreamResponse:
        return await self._send(request, "queue", b'{"queue_running": [], "queue_pending": []}')

    async def _system_stats(self, request: web.Request) -> web.StreamResponse:
        return await self._send(request, "system_stats", b'{"system": {"comfyui_version": "0.3.64"}, "devices": []}')

    async def _api_prompt(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.prompts.append(request.query.get("task_id", ""))
        # The queue index, zero-padded so a drip takes a while (a digit every drip_seconds).
        return await self._send(request, "api_prompt", f"{len(self.prompts):020d}".encode())

    async def _api_get(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"stream.length": "0", "consumers.status.total": "1"})


@dataclass
class HostileConfig:
    """A config file's text for one dedicated profile on the hostile server."""

    server: HostileServer
    request_timeout: float = 2.0
    extra: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            "[defaults]",
            "poll_interval = 0.05",
            "idle_poll_interval = 0.5",
            f"request_timeout = {self.request_timeout}",
            "lost_after = 60",
            "",
            "[profiles.hostile]",
            'edition = "dedicated"',
            f'url = "{self.server.url}/"',
            'oss_bucket_path = "oss://hostile-bucket/out"',
            *self.extra,
        ]
        return "\n".join(lines) + "\n"


def hostile_cli(tmp_path: Path, server: HostileServer, *, request_timeout: float = 2.0,
                extra: list[str] | None = None) -> Cli:
    """The real CLI with a config of one dedicated profile on `server` (HostileConfig) and its own data dir."""
    config = HostileConfig(server, request_timeout=request_timeout, extra=extra or [])
    return Cli(write_config(tmp_path / "config.toml", config.text()), tmp_path / "data")


@dataclass(frozen=True)
class Reply:
    """One canned answer of the replay server."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    stall: bool = False  # accept the request and never answer (the client's request timeout must fire)
    drop: bool = False  # close the connection without a word
    history_entry: bool = False  # the body is a /history/<id> answer: file it under the id that was asked


class ReplayServer(LookalikeServer):
    """A tiny ComfyUI look-alike that answers `POST /prompt`, `GET /history/<id>` and `GET /queue` as told.

    Unset answers behave like a healthy idle ComfyUI: POST /prompt accepts (echoing the client's prompt_id),
    GET /queue is empty, GET /history/<id> is a success entry with one output; `/ws` is a silent open websocket.
    """

    def __init__(self, success_history: bytes) -> None:
        self.success_history = success_history
        self.prompt: Reply | None = None
        self.history: Reply | None = None
        self.queue: Reply | None = None
        self._number = 0
        super().__init__("faults-replay")

    def reset(self) -> None:
        self.prompt = self.history = self.queue = None
        self.requests.clear()

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("", "/api"):
            app.router.add_post(prefix + "/prompt", self._post_prompt)
            app.router.add_get(prefix + "/history/{prompt_id}", self._get_history)
            app.router.add_get(prefix + "/queue", self._get_queue)

    async def _answer(self, request: web.Request, reply: Reply, asked_id: str | None = None) -> web.StreamResponse:
        if reply.stall:
            await asyncio.sleep(3600)  # cancelled when the client gives up or the server stops
        if reply.drop:
            await drop_connection(request)
        body = reply.body
        if reply.history_entry and asked_id is not None:
            entries = json.loads(body)
            body = json.dumps({asked_id: entry for entry in entries.values()}).encode()
        headers = {"Content-Type": reply.content_type} if reply.content_type else {}
        return web.Response(status=reply.status, body=body, headers=headers)

    async def _post_prompt(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.prompt is not None:
            return await self._answer(request, self.prompt)
        self._number += 1
        prompt_id = json.loads(body).get("prompt_id")
        return web.json_response({"prompt_id": prompt_id, "number": self._number, "node_errors": {}})

    async def _get_history(self, request: web.Request) -> web.StreamResponse:
        prompt_id = request.match_info["prompt_id"]
        reply = self.history or Reply(body=self.success_history, history_entry=True)
        return await self._answer(request, reply, prompt_id)

    async def _get_queue(self, request: web.Request) -> web.StreamResponse:
        if self.queue is not None:
            return await self._answer(request, self.queue)
        return web.json_response({"queue_running": [], "queue_pending": []})
