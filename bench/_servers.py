"""Emulators for the benchmarks, on loopback, each in its own thread and event loop.

`CountingComfyUI` serves one `ComfyUIEmulator` (the dedicated edition) with an aiohttp middleware that counts every
request by route, so request counts are taken server-side, where nothing can be missed.
`SimLoop` runs the EAS queue emulator (`tui.sim.server.SimServer`) in a thread whose loop the benchmark can reach,
optionally behind an emulated network round trip (`latency_middleware`): on loopback the round trip is ~0, so a
client that overlaps requests cannot show it, while real users reach PAI-EAS over the internet.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web


class RequestCounter:
    """Requests per route (`GET /history/{prompt_id}`, `GET /queue`, ...); thread-safe snapshot."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        counter = self

        @web.middleware
        async def count_requests(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            route = request.match_info.route.resource
            name = route.canonical if route is not None else request.path
            name = name.removeprefix("/api")  # ComfyUI serves every route at / and /api
            with counter._lock:
                counter._counts[f"{request.method} {name}"] += 1
            return await handler(request)

        return count_requests

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def latency_middleware(
    latency_ms: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An emulated network round trip of `latency_ms`: every request waits that long before it is handled (the
    request's way there and the answer's way back, as one delay), and the first request on a new connection waits
    one round trip more (the TCP handshake a real client pays before its first byte). Frames a server pushes on an
    open websocket are not delayed. The waits are timers on the server's loop: they cost no CPU, so many requests in
    flight overlap exactly as they would on a real network."""
    delay = max(0.0, float(latency_ms)) / 1000.0
    seen: weakref.WeakSet[Any] = weakref.WeakSet()  # transports (connections) that already paid their handshake

    @web.middleware
    async def network_round_trip(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        wait = delay
        transport = request.transport
        if transport is not None and transport not in seen:
            seen.add(transport)
            wait += delay
        if wait > 0:
            await sleep(wait)
        return await handler(request)

    return network_round_trip


class CountingComfyUI:
    """A ComfyUIEmulator on 127.0.0.1:<free port> in a background thread, every request counted."""

    def __init__(self, output_dir: Path, **emulator_options: Any) -> None:
        self.output_dir = output_dir
        self.options = emulator_options
        self.counter = RequestCounter()
        self.port = 0
        self.emulator: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CountingComfyUI:
        from tui.sim.comfyui import ComfyUIEmulator, start_server

        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve() -> None:
            self.emulator = ComfyUIEmulator(output_dir=self.output_dir, **self.options)
            app = web.Application(middlewares=[self.counter.middleware()], client_max_size=64 * 1024 * 1024)
            self.emulator.register_routes(app)
            await self.emulator.start()
            self._runner, self.port = await start_server(app)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as error:  # noqa: BLE001 - handed to the starting thread
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="bench-comfyui", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def call(self, make: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
        """Run a coroutine on the emulator's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self.emulator is not None:
                await self.emulator.stop()

        try:
            self.call(shutdown)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            self._thread = None

    def __enter__(self) -> CountingComfyUI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class SimLoop:
    """A `tui.sim.server.SimServer` (EAS queue emulator + workers) in a thread whose event loop we hold, so the
    benchmark can put items into a queue on the server's own loop (thread-safe, no HTTP cost).

    `latency_ms` > 0 puts every HTTP request (and websocket handshake) behind an emulated network round trip of that
    many milliseconds (`latency_middleware`); 0 is plain loopback."""

    def __init__(self, latency_ms: float = 0.0, **server_options: Any) -> None:
        self.options = server_options
        self.latency_ms = float(latency_ms)
        self.server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Any:
        from tui.sim.server import SimServer

        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.server = SimServer(**self.options)
                if self.latency_ms > 0:
                    _add_outer_middleware(self.server, latency_middleware(self.latency_ms))
                loop.run_until_complete(self.server.start())
            except BaseException as error:  # noqa: BLE001 - handed to the starting thread
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="bench-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.server

    def call(self, function: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Run a plain function on the server's loop and return its result."""
        assert self._loop is not None

        async def wrapper() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is None or self._thread is None or self.server is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _add_outer_middleware(server: Any, middleware: Callable[..., Awaitable[web.StreamResponse]]) -> None:
    """Put `middleware` in front of every route of a SimServer not started yet (also after a restart).

    SimServer builds its aiohttp app when it starts listening and registers the queue routes on it before the app
    is frozen; we add the middleware at that moment, outermost, so even a refused request (401) pays it."""
    register_routes = server.queues.register_routes

    def register_behind(app: web.Application) -> None:
        app.middlewares.insert(0, middleware)
        register_routes(app)

    server.queues.register_routes = register_behind
