"""textual-serve's server, guarded and bounded for `comfyq serve`.

textual-serve runs one app process per browser websocket and relays its terminal output. This module keeps its
protocol code (AppService: the packet stream, resize, downloads; Server: the page's message loop and downloads)
and changes what a long-running, reachable server needs:

- the AccessGuard middleware in front of every route (token, Host, Origin: see access.py);
- the app process started from an argument list (no shell), without the access token in its environment, and
  told to end with this server (Linux: parent-death signal);
- a cap on sessions, and a bounded stop: a session whose app does not quit when asked is terminated, then killed,
  and always waited for, so a browser that goes away leaves no process behind;
- the page from our own template: no third-party font request, URLs taken from the request (works behind a
  reverse proxy and on 0.0.0.0), autoescaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from tui.serve.access import AccessGuard

log = logging.getLogger("comfyq.serve")

TEMPLATES = Path(__file__).parent / "templates"
QUIT_GRACE_SECONDS = 5.0  # an app asked to quit has this long before it is terminated
TERMINATE_GRACE_SECONDS = 3.0  # ... and this long after SIGTERM before SIGKILL
WEBSOCKET_HEARTBEAT_SECONDS = 15.0  # a browser that vanished without closing is noticed within ~2 heartbeats
MAX_MESSAGE_BYTES = 256 * 1024  # keystrokes and pastes from the page; a bigger message closes the socket
MIN_SIZE, MAX_WIDTH, MAX_HEIGHT = 10, 500, 200  # terminal size the page may ask for


def _set_parent_death_signal() -> None:
    """In the app process: receive SIGTERM if `comfyq serve` dies (even by SIGKILL), so no session outlives it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the stop path below still ends sessions on a normal exit
        pass


class Session(AppService):
    """One browser tab's app process, started from `argv` and always reaped."""

    def __init__(self, argv: Sequence[str], hidden_environment: frozenset[str], **kwargs: Any) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self._argv = list(argv)
        self._hidden_environment = hidden_environment

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        for name in self._hidden_environment:  # the access token: the app has no use for it
            environment.pop(name, None)
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        preexec: Callable[[], None] | None = _set_parent_death_signal if sys.platform.startswith("linux") else None
        self._process = process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            preexec_fn=preexec,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def stop(self) -> None:
        """Ask the app to quit; terminate it if it does not; kill it if that fails too; wait for it in every case."""
        try:
            await asyncio.wait_for(super().stop(), QUIT_GRACE_SECONDS)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError, OSError):
            pass
        process = self._process
        if process is None:
            return
        for send in (process.terminate, process.kill):
            if process.returncode is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                send()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), TERMINATE_GRACE_SECONDS)
        if process.returncode is None:
            await process.wait()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ComfyqServer(Server):
    """textual-serve's Server with the guard, the session cap and our page."""

    def __init__(
        self,
        app_argv: Sequence[str],
        *,
        guard: AccessGuard,
        max_sessions: int,
        hidden_environment: frozenset[str] = frozenset(),
        title: str = "comfyq",
        on_session_change: Callable[[str, int], None] | None = None,
    ) -> None:
        super().__init__(" ".join(app_argv), title=title, templates_path=TEMPLATES)
        self.app_argv = list(app_argv)
        self.guard = guard
        self.max_sessions = max_sessions
        self.hidden_environment = hidden_environment
        self.sessions: set[Session] = set()
        self._on_session_change = on_session_change or (lambda event, count: None)
        self._stopping = False
        self._ending: dict[Session, asyncio.Future[None]] = {}

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard.middleware], client_max_size=64 * 1024)
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        return app

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        # The websocket URL comes from the address the browser used (Host), not from the bound address: a page
        # served on 0.0.0.0 or behind a proxy must point back where it came from. The scheme follows the proxy's
        # X-Forwarded-Proto (wss behind TLS).
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        secure = request.secure or forwarded == "https"
        host = request.headers.get("X-Forwarded-Host") or request.host
        return {
            "font_size": max(8, min(to_int(request.query.get("fontsize", "16"), 16), 40)),
            "app_websocket_url": f"{'wss' if secure else 'ws'}://{host}/ws",
            "static_url": "/static/",
            "title": self.title,
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="503: comfyq serve is stopping\n")
        if len(self.sessions) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(
                text=f"503: {self.max_sessions} sessions are open (--max-sessions); close a tab and reload\n"
            )
        width = max(MIN_SIZE, min(to_int(request.query.get("width", "80"), 80), MAX_WIDTH))
        height = max(MIN_SIZE, min(to_int(request.query.get("height", "24"), 24), MAX_HEIGHT))
        websocket = web.WebSocketResponse(heartbeat=WEBSOCKET_HEARTBEAT_SECONDS, max_msg_size=MAX_MESSAGE_BYTES)
        await websocket.prepare(request)
        session = Session(
            self.app_argv,
            self.hidden_environment,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
        )
        self.sessions.add(session)
        self._on_session_change("opened", len(self.sessions))
        try:
            await session.start(width, height)
            await self._process_messages(websocket, session)
        except asyncio.CancelledError:
            pass
        except Exception:  # a malformed message or a failed start: this session ends, the server goes on
            log.exception("session failed")
        finally:
            await asyncio.shield(self._end(session))
            with contextlib.suppress(Exception):
                await websocket.close()
        return websocket

    async def _end(self, session: Session) -> None:
        """Stop a session once, whoever asks first (its websocket handler, or the server's shutdown)."""
        ending = self._ending.get(session)
        if ending is None:
            ending = self._ending[session] = asyncio.ensure_future(self._stop_and_forget(session))
        await ending

    async def _stop_and_forget(self, session: Session) -> None:
        try:
            await session.stop()
        finally:
            self.sessions.discard(session)
            self._ending.pop(session, None)
            self._on_session_change("closed", len(self.sessions))

    async def stop_sessions(self) -> None:
        """End every session (server shutdown): refuse new ones, stop the open ones together."""
        self._stopping = True
        await asyncio.gather(*(self._end(session) for session in list(self.sessions)), return_exceptions=True)


async def serve(
    server: ComfyqServer,
    host: str,
    port: int,
    *,
    on_listening: Callable[[str, int], None],
    stop: asyncio.Event,
) -> None:
    """Listen on host:port (OSError if that fails: nothing else has started), run until `stop`, end the sessions."""
    runner = web.AppRunner(server.make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=2.0, reuse_address=True)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        on_listening(bound_host, bound_port)
        await stop.wait()
        await server.stop_sessions()
    finally:
        await runner.cleanup()
