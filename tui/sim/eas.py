"""A loopback emulator of the PAI-EAS queue service, as spoken by `eas_prediction` 0.36.

Protocol reference: protocols/eas-queue.md (§7 is the checklist this follows). Queues live in memory and are
created on demand: `/api/predict/<service>` is the input queue, `/api/predict/<service>/sink` the sink, and
`POST /api/predict/<service>/<path>` (e.g. `api_prompt?task_id=...`) puts into the input queue with the path
stored on the item. Each queue has its own index counter starting at 1.

Dispatch (method + query keys): POST → put; GET → `_attrs_`, `_search_`, `_count_`, `_watch_` + Upgrade
(websocket), otherwise get; PUT `_indexes_` → commit (`_negative_=true` → negative commit); DELETE `_trunc_` →
truncate, `_indexes_` → delete.

Emulator choices where the real service is undocumented (protocols §8), all INFERRED:
- commit / delete / negative commit of an unknown or already deleted index answer 200 `OK`;
- a consumer that disconnects gives its uncommitted items back to its group at once: the same uid on reconnect,
  or any other live consumer of the group, receives them;
- a negative commit gives the items back to the group for redelivery (they are not deleted);
- `get` is independent of consumers (it can return items a watcher holds); `_auto_delete_` defaults to true;
- `stream.approxMaxLength` is reported but not enforced; items larger than `meta.maxPayloadBytes` get 413;
- the server never pings and never closes a watch socket by itself (a close frame makes the SDK reconnect at once);
  at shutdown it drops the sockets without a close frame;
- a second watch with the same gid.uid takes over from the first (a reconnect the server has not noticed yet).
The `Authorization` check is a middleware of the combined server (tui/sim/server.py), not part of this module.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable

from aiohttp import WSMsgType, web
from multidict import MultiMapping

from tui.sim.queue_proto import (
    PROTOBUF_CONTENT_TYPE,
    encode_attributes,
    encode_frame,
    encode_frame_list,
    frame_to_json,
)
from tui.sim.queue_store import (
    DEFAULT_GROUP,
    HEADER_GID,
    HEADER_PRIORITY,
    HEADER_UID,
    MAX_PAYLOAD_BYTES,
    Consumer,
    EasQueue,
    QueueItem,
)

HEADER_REQUEST_ID = "X-Eas-Queueservice-Request-Id"
QUEUE_ROUTE_PREFIX = "/api/predict/"
SINK_SUFFIX = "sink"
# A watch socket's frames that are ready together go out in one write of at most this many bytes (one system call
# per frame was most of the emulator's cost per result); above the high-water mark it waits for the client to read.
PUMP_WRITE_BYTES = 256 * 1024
PUMP_HIGH_WATER = 1024 * 1024
_CONTROL_PARAM = re.compile(r"^_.*_$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


class BadRequest(Exception):
    """A query value we cannot use; answered 400 with the message."""


def parse_duration(text: str) -> float:
    """`5s`, `0s`, `500ms`, `1m` or a bare `5` (seconds)."""
    match = _DURATION.match(text)
    if not match:
        raise BadRequest(f"invalid _timeout_ {text!r}")
    value = float(match.group(1))
    unit = match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def _int_param(query: MultiMapping[str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"invalid {name} {raw!r}") from None


def _bool_param(query: MultiMapping[str], name: str, default: bool) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("true", "1", "yes")


def _indexes_param(query: MultiMapping[str]) -> list[int]:
    raw = query.get("_indexes_", "")
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise BadRequest(f"invalid _indexes_ {raw!r}") from None


def user_tags(query: MultiMapping[str]) -> dict[str, str]:
    """Query parameters that are not control keys (`_x_`) are tags."""
    return {key: value for key, value in query.items() if not _CONTROL_PARAM.match(key)}


def _text(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body)


class QueueService:
    """The queue store plus its HTTP and websocket handlers."""

    def __init__(self, *, on_input_post: Callable[[str, str], None] | None = None) -> None:
        self.queues: dict[str, EasQueue] = {}
        # Called with (service, path) before an input POST is stored, so the server can start workers for it.
        self._on_input_post = on_input_post
        self._live_sockets: set[web.WebSocketResponse] = set()
        self._transports: dict[web.WebSocketResponse, asyncio.Transport] = {}

    def queue(self, name: str) -> EasQueue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = EasQueue(name)
        return queue

    def input_queue(self, service: str) -> EasQueue:
        return self.queue(service)

    def sink_queue(self, service: str) -> EasQueue:
        return self.queue(f"{service}/{SINK_SUFFIX}")

    def register_routes(self, app: web.Application) -> None:
        app.router.add_route("*", QUEUE_ROUTE_PREFIX + "{name:.+}", self.handle)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_startup(self, app: web.Application) -> None:
        for queue in self.queues.values():
            queue.closing = False

    async def _on_shutdown(self, app: web.Application) -> None:
        # Drop watch sockets without a close frame (the SDK would reconnect at once) and end long-polls now.
        for ws in list(self._live_sockets):
            transport = self._transports.get(ws)
            if transport is not None:
                transport.abort()
        for queue in self.queues.values():
            queue.closing = True
            queue.wake_waiters()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        segments = request.match_info["name"].split("/")
        service = segments[0]
        if not service:
            return _text(404, "no such queue")
        rest = "/".join(segments[1:])
        try:
            if rest == "":
                return await self._dispatch(request, self.input_queue(service), service, path="")
            if rest == SINK_SUFFIX:
                return await self._dispatch(request, self.sink_queue(service), service, path=None)
            if request.method == "POST":
                return await self._put(request, self.input_queue(service), service, path=rest)
            return _text(404, f"no such queue operation: {request.method} {rest}")
        except BadRequest as error:
            return _text(400, str(error))

    async def _dispatch(
        self, request: web.Request, queue: EasQueue, service: str, *, path: str | None
    ) -> web.StreamResponse:
        query = request.query
        method = request.method
        if method == "POST":
            if "_eos_" in query:
                return _text(501, "end of stream (_eos_) is not emulated")
            return await self._put(request, queue, service, path=path)
        if method == "GET":
            if "_attrs_" in query:
                if PROTOBUF_CONTENT_TYPE in request.headers.get("Accept", ""):  # the Go SDK
                    body = encode_attributes(queue.attributes())
                    return web.Response(status=200, body=body, content_type=PROTOBUF_CONTENT_TYPE)
                return web.json_response(queue.attributes())  # the Python SDK: no Accept header
            if "_search_" in query:
                found = queue.search(_int_param(query, "_index_", 0), self._caller_id(request))
                if found is None:
                    return _text(404, "no data in stream")
                return web.json_response(found)
            if "_count_" in query:
                priority = query.get("_priority_")
                count = queue.count(tags=user_tags(query), priority=int(priority) if priority else None)
                return _text(200, str(count))
            if "_watch_" in query:
                if request.headers.get("Upgrade", "").lower() != "websocket":
                    return _text(501, "HTTP (non-websocket) watch is not emulated")
                return await self._watch(request, queue)
            return await self._get(request, queue)
        if method == "PUT":
            if "_indexes_" not in query:
                return _text(400, "missing _indexes_")
            indexes = _indexes_param(query)
            if _bool_param(query, "_negative_", False):
                queue.negative_commit(indexes)
            else:
                queue.commit(indexes)
            return _text(200, "OK")
        if method == "DELETE":
            if _bool_param(query, "_trunc_", False):
                queue.truncate(_int_param(query, "_index_", 0))
                return _text(200, "OK")
            if "_indexes_" in query:
                queue.delete(_indexes_param(query))
                return _text(200, "OK")
            return _text(400, "missing _indexes_ or _trunc_")
        return _text(405, f"method {method} not allowed")

    @staticmethod
    def _caller_id(request: web.Request) -> str:
        gid = request.headers.get(HEADER_GID) or DEFAULT_GROUP
        uid = request.headers.get(HEADER_UID) or ""
        return f"{gid}.{uid}"

    async def _put(self, request: web.Request, queue: EasQueue, service: str, *, path: str | None) -> web.Response:
        body = await request.read()
        if len(body) > MAX_PAYLOAD_BYTES:
            return _text(413, f"payload of {len(body)} bytes exceeds meta.maxPayloadBytes {MAX_PAYLOAD_BYTES}")
        # `_priority_` in the query (Python/Go SDKs) or the header named by meta.header.priority (Java SDK).
        priority = _int_param(request.query, "_priority_", 0)
        header_priority = request.headers.get(HEADER_PRIORITY)
        if header_priority:
            try:
                priority = int(header_priority)
            except ValueError:
                raise BadRequest(f"invalid {HEADER_PRIORITY} {header_priority!r}") from None
        if path is not None and self._on_input_post is not None:
            self._on_input_post(service, path)
        item = queue.put(body, user_tags(request.query), priority=priority, path=path or "")
        return web.Response(
            status=200, body=str(item.index).encode(), headers={HEADER_REQUEST_ID: item.tags["requestId"]}
        )

    async def _get(self, request: web.Request, queue: EasQueue) -> web.Response:
        query = request.query
        items = await queue.get(
            start=max(_int_param(query, "_index_", 0), 0),
            length=max(_int_param(query, "_length_", 1), 1),
            tags=user_tags(query),
            timeout=parse_duration(query.get("_timeout_", "0s")),
            auto_delete=_bool_param(query, "_auto_delete_", True),
        )
        if not items:
            return web.Response(status=204)
        frames = [item.frame() for item in items]
        if PROTOBUF_CONTENT_TYPE in request.headers.get("Accept", ""):
            return web.Response(status=200, body=encode_frame_list(frames), content_type=PROTOBUF_CONTENT_TYPE)
        return web.Response(
            status=200, text=json.dumps([frame_to_json(frame) for frame in frames]), content_type="application/json"
        )

    async def _watch(self, request: web.Request, queue: EasQueue) -> web.WebSocketResponse:
        query = request.query
        start = _int_param(query, "_index_", 0)
        window = _int_param(query, "_window_", 1)
        auto_commit = _bool_param(query, "_auto_commit_", False)
        index_only = _bool_param(query, "_index_only_", False)
        gid = request.headers.get(HEADER_GID) or DEFAULT_GROUP
        uid = request.headers.get(HEADER_UID) or str(uuid.uuid4())

        # autoping answers the client's pings; no server heartbeat (the real server's is unknown, see docstring).
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        transport = request.transport
        outbox: asyncio.Queue[QueueItem] = asyncio.Queue()

        def alive() -> bool:
            return not ws.closed and transport is not None and not transport.is_closing()

        def drop() -> None:
            if transport is not None:
                transport.abort()

        consumer = Consumer(
            gid=gid,
            uid=uid,
            window=window,
            auto_commit=auto_commit,
            send=outbox.put_nowait,
            is_alive=alive,
            # -1: only what arrives from now on (JAVA README); 0: from the head.
            start_index=queue.next_index if start < 0 else start,
            index_only=index_only,
            tag_filter=user_tags(query),
            on_replaced=drop,
        )
        self._live_sockets.add(ws)
        if transport is not None:
            self._transports[ws] = transport
        sender = asyncio.create_task(self._pump(ws, outbox, index_only, transport))
        queue.add_consumer(consumer)
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
                # The SDK sends nothing but pings (answered by autoping); anything else is ignored.
        finally:
            sender.cancel()
            queue.remove_consumer(consumer)
            self._live_sockets.discard(ws)
            self._transports.pop(ws, None)
        return ws

    @staticmethod
    async def _pump(
        ws: web.WebSocketResponse,
        outbox: asyncio.Queue[QueueItem],
        index_only: bool,
        transport: asyncio.BaseTransport | None,
    ) -> None:
        """One binary DataFrameProto frame per item, in dispatch order; never a text or close frame.

        Items waiting together are framed here and written to the connection at once (server frames are
        unmasked: a 2-10 byte header and the payload), so a burst of N items costs one write instead of N."""
        writer = transport if isinstance(transport, asyncio.WriteTransport) else None
        try:
            while True:
                item = await outbox.get()
                if writer is None:
                    await ws.send_bytes(encode_frame(item.frame(index_only=index_only)))
                    continue
                if writer.is_closing():
                    return
                chunks = [websocket_binary_frame(encode_frame(item.frame(index_only=index_only)))]
                size = len(chunks[0])
                while size < PUMP_WRITE_BYTES and not outbox.empty():
                    chunk = websocket_binary_frame(encode_frame(outbox.get_nowait().frame(index_only=index_only)))
                    chunks.append(chunk)
                    size += len(chunk)
                writer.write(b"".join(chunks))
                while writer.get_write_buffer_size() > PUMP_HIGH_WATER and not writer.is_closing():
                    await asyncio.sleep(0.005)  # a client that does not read: do not buffer without end
        except (ConnectionError, RuntimeError):
            return  # the socket is gone; uncommitted items go back to the group when the handler ends


def websocket_binary_frame(payload: bytes) -> bytes:
    """A final, unmasked binary websocket frame (RFC 6455 §5.2), as a server sends it."""
    length = len(payload)
    if length < 126:
        header = bytes((0x82, length))
    elif length < 1 << 16:
        header = bytes((0x82, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x82, 127)) + length.to_bytes(8, "big")
    return header + payload
