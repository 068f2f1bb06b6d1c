"""A hostile ComfyUI look-alike for the fault suite (127.0.0.1 only, a free port).

It speaks enough of ComfyUI (`POST /prompt`, `GET /queue`, `GET /history/<id>`, `GET /system_stats`, `/ws`) and of
the EAS input queue (`POST .../api_prompt`) for comfyq to use it, and misbehaves on request, per route:

- ``drip``: a well-formed answer sent one byte every `drip_seconds` (never trips a per-read timeout);
- ``endless``: a 200 whose body never ends (chunks forever);
- ``stall``: the request is read and never answered;
- ``huge``: a well-formed answer padded to `huge_bytes`.

Its history entries name outputs with whatever file names, subfolders and node ids the test sets: escape-laden
(`"\\x1b]52;c;…"`), bidi overrides, lone surrogates sent as valid JSON escapes (`"\\ud800"`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.faults.helpers import LoopThread, RequestLog

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


class HostileServer:
    """Start with `HostileServer()`; set `routes[...]` and `outputs`; `close()` at the end."""

    ROUTES = ("prompt", "queue", "history", "system_stats", "api_prompt")

    def __init__(self) -> None:
        self.thread = LoopThread("faults-hostile")
        self.routes: dict[str, Behaviour] = {name: Behaviour() for name in self.ROUTES}
        self.outputs = Outputs()
        self.requests = RequestLog()
        self.prompts: list[str] = []
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.thread.run(self._start())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for prefix in ("", "/api"):
            app.router.add_post(prefix + "/prompt", self._post_prompt)
            app.router.add_get(prefix + "/history/{prompt_id}", self._get_history)
            app.router.add_get(prefix + "/history", self._get_history_all)
            app.router.add_get(prefix + "/queue", self._get_queue)
            app.router.add_get(prefix + "/system_stats", self._system_stats)
            app.router.add_get(prefix + "/ws", self._ws)
        app.router.add_post("/api/predict/{service}/api_prompt", self._api_prompt)
        app.router.add_get("/api/predict/{service}", self._api_get)
        self.requests.install(app)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

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
            assert request.transport is not None
            request.transport.abort()  # type: ignore[attr-defined]
            await asyncio.sleep(3600)
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

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    def close(self) -> None:
        try:
            if self.runner is not None:
                self.thread.run(self.runner.cleanup())
        finally:
            self.thread.close()


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
