"""The ComfyUI emulator's websocket side (`/ws?clientId=X`): the connected sockets and one ordered outbox.

Like ComfyUI's `server.send_sync`, every message goes through one queue and one sender task, so messages reach each
socket in the order they were sent. A message goes to one client id, or to every socket when the id is None
(`status` broadcasts, `progress_state` of a job without client id). Binary frames follow server.BinaryEventTypes;
a sampler preview becomes a type-4 frame (with metadata) for a socket that opened with
`{"type": "feature_flags", "data": {"supports_preview_metadata": true}}`, else a type-1 frame (fixture README,
item 29). What is sent and when is decided by the emulator (comfyui.py) and the executor (comfyui_execution.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

# GET /features, and the `feature_flags` reply to a socket that sent its own.
SERVER_FEATURES: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}

# Binary websocket event types (ComfyUI server.BinaryEventTypes).
PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
PNG_FORMAT = 2

# (kind, payload, client id or None for everyone); kind is "json", "bytes" or "preview" (png, metadata).
Outgoing = tuple[str, Any, str | None]


def text_frame(node_id: str, text: str) -> bytes:
    """A binary TEXT frame (what GetImageSize sends): node-id length, node id, UTF-8 text."""
    node = node_id.encode()
    return struct.pack(">II", TEXT, len(node)) + node + text.encode()


def preview_frame(png: bytes, metadata: dict[str, Any], *, with_metadata: bool) -> bytes:
    if with_metadata:
        meta = json.dumps(metadata).encode()
        return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + png
    return struct.pack(">II", PREVIEW_IMAGE, PNG_FORMAT) + png


class WebsocketHub:
    """The sockets by client id, their feature flags, and the sender task that drains the outbox."""

    def __init__(self) -> None:
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self._flags: dict[str, dict[str, Any]] = {}
        self._outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._sender_task: asyncio.Task[None] | None = None

    def start(self, *, new_loop: bool) -> None:
        """Start the sender in the running loop (`new_loop`: the outbox of an earlier loop cannot be used)."""
        if new_loop:
            self._outbox = asyncio.Queue()
        if self._sender_task is None:
            self._sender_task = asyncio.get_running_loop().create_task(self._sender_loop(), name="comfyui-sim-ws")

    async def stop(self) -> None:
        """Stop the sender and close every socket."""
        if self._sender_task is not None:
            self._sender_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender_task
            self._sender_task = None
        for ws in list(self.sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        self.sockets.clear()
        self._flags.clear()

    # ----- sending (never blocks: the sender task writes) -----
    def send(self, event: str, data: Any, sid: str | None) -> None:
        """server.send_sync: a JSON message `{"type", "data"}` for one client (sid) or everyone (None)."""
        self._outbox.put_nowait(("json", json.dumps({"type": event, "data": data}), sid))

    def send_binary(self, payload: bytes, sid: str | None) -> None:
        self._outbox.put_nowait(("bytes", payload, sid))

    def send_preview(self, png: bytes, metadata: dict[str, Any], sid: str | None) -> None:
        """A preview image; its frame type depends on each receiving socket's feature flags."""
        self._outbox.put_nowait(("preview", (png, metadata), sid))

    async def _sender_loop(self) -> None:
        while True:
            kind, payload, sid = await self._outbox.get()
            if sid is None:
                targets = list(self.sockets.items())
            elif sid in self.sockets:
                targets = [(sid, self.sockets[sid])]
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
                        with_metadata = bool(self._flags.get(target_sid, {}).get("supports_preview_metadata"))
                        await ws.send_bytes(preview_frame(png, metadata, with_metadata=with_metadata))
                except Exception:  # a closing socket: ComfyUI ignores send errors too
                    pass

    # ----- one connection -----
    async def serve(self, request: web.Request, greeting: Callable[[str], list[dict[str, Any]]]
                    ) -> web.WebSocketResponse:
        """Run one `/ws` connection: register it, send `greeting(sid)` first, answer a feature_flags opener."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            self.sockets.pop(sid, None)  # a reconnect replaces the old socket of that client
        else:
            sid = uuid.uuid4().hex
        self.sockets[sid] = ws
        self._flags[sid] = {}
        try:
            for opening in greeting(sid):
                await ws.send_str(json.dumps(opening))
            first_message = True
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                    if first_message and isinstance(data, dict) and data.get("type") == "feature_flags":
                        flags = data.get("data", {})
                        self._flags[sid] = flags if isinstance(flags, dict) else {}
                        self.send("feature_flags", SERVER_FEATURES, sid)
                    first_message = False
                except (json.JSONDecodeError, AttributeError):
                    pass
        finally:
            if self.sockets.get(sid) is ws:
                self.sockets.pop(sid, None)
                self._flags.pop(sid, None)
        return ws
