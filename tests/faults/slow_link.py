"""A slow link in front of a real emulator: an HTTP proxy on 127.0.0.1 (a free port) that holds every answer for
`delay` seconds before passing it on whole, so each request is slow but within its deadline.

Set `delay` at any time (read per request); `delay = 0` makes the link fast again. Websockets are not carried
(the upgrade is refused), so only the poller's requests cross it.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"})


class SlowLink:
    """`await SlowLink.start(upstream)` in the running loop; `await link.close()` at the end."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @classmethod
    async def start(cls, upstream: str, delay: float = 0.0) -> SlowLink:
        link = cls(upstream, delay)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", link._forward)
        link._session = aiohttp.ClientSession(auto_decompress=False)
        link._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await link._runner.setup()
        site = web.TCPSite(link._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        link.port = server.sockets[0].getsockname()[1]
        return link

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("upgrade", "").lower() == "websocket":
            return web.Response(status=404, text="no websockets over the slow link")
        self.requests += 1
        assert self._session is not None
        headers = {key: value for key, value in request.headers.items() if key.lower() not in HOP_HEADERS}
        async with self._session.request(
            request.method, f"{self.upstream}{request.rel_url}", data=await request.read(), headers=headers,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            kept = {key: value for key, value in answer.headers.items() if key.lower() not in HOP_HEADERS}
            status = answer.status
        await asyncio.sleep(self.delay)
        return web.Response(status=status, body=body, headers=kept)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
