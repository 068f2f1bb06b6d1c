"""Live progress of a dedicated profile's jobs: ComfyUI's websocket on the profile's `client_id`.

The websocket adds what polling cannot: which node runs and how far it is, and the moment a prompt ends (the
poller is woken to settle it at once). It never settles a job itself — the poller does, from `/history`. A
connection that opens (the server may be back) or drops (it may have restarted) is told to the backend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from tui.core.backends.common import Backoff, scrub
from tui.core.backends.http import auth_headers
from tui.core.jobs import JobState, JobUpdate, Progress

if TYPE_CHECKING:
    from tui.core.backends.base import BackendContext
    from tui.core.config import Profile

log = logging.getLogger(__name__)

# A websocket that stayed up this long resets the reconnect backoff (a server that accepts and drops at once
# must not get a reconnect every half second).
WS_STABLE_SECONDS = 5.0
HEARTBEAT_SECONDS = 20.0


@dataclass
class _Tracked:
    """What the message handler needs to know about one of our prompts (cached to keep the store quiet)."""

    job_id: str
    class_types: dict[str, str] = field(default_factory=dict)
    node: str | None = None


def class_types(workflow: dict[str, Any] | None) -> dict[str, str]:
    if not isinstance(workflow, dict):
        return {}
    return {
        str(node_id): str(node.get("class_type", ""))
        for node_id, node in workflow.items()
        if isinstance(node, dict)
    }


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def ws_url(base_url: str, client_id: str) -> str:
    url = base_url
    if url.startswith("https://"):
        url = "wss://" + url[len("https://"):]
    elif url.startswith("http://"):
        url = "ws://" + url[len("http://"):]
    return f"{url}/ws?clientId={client_id}"


class ProgressSocket:
    """The websocket loop of one profile (reconnecting with backoff) and its message handling.

    `on_open`: connected (the poller should look now); `on_drop`: a connection that was open ended; `on_change`:
    `error` changed (the backend re-reports its status); `wake`: a prompt ended, the poller should look now.
    """

    def __init__(
        self,
        profile: Profile,
        base_url: str,
        context: BackendContext,
        *,
        on_open: Callable[[], None],
        on_drop: Callable[[], None],
        on_change: Callable[[], None],
        wake: Callable[[], None],
    ) -> None:
        self.profile = profile
        self.base_url = base_url
        self.context = context
        self._on_open = on_open
        self._on_drop = on_drop
        self._on_change = on_change
        self._wake = wake
        self.error: str | None = None  # why live progress is unavailable now; None while connected
        self.connection_attempts = 0  # (a reconnect storm shows up here)
        self._tracked: dict[str, _Tracked] = {}  # prompt_id -> job

    def forget(self, prompt_id: str) -> None:
        self._tracked.pop(prompt_id, None)

    def _scrub(self, text: str) -> str:
        return scrub(text, self.profile.token)

    async def run(self) -> None:
        backoff = Backoff()
        timeout = aiohttp.ClientTimeout(total=None, connect=float(self.profile.request_timeout or 30.0))
        async with aiohttp.ClientSession(headers=auth_headers(self.profile.token), timeout=timeout) as session:
            while True:
                self.connection_attempts += 1
                opened = None
                try:
                    async with session.ws_connect(
                        ws_url(self.base_url, self.profile.client_id), heartbeat=HEARTBEAT_SECONDS
                    ) as ws:
                        opened = time.monotonic()
                        self.error = None
                        self._on_change()
                        self._on_open()
                        async for message in ws:
                            if message.type is aiohttp.WSMsgType.TEXT:
                                self.on_text(message.data)
                            elif message.type is aiohttp.WSMsgType.ERROR:
                                break
                    self.error = "the websocket was closed by the server"
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in (401, 403):
                        self.error = f"unauthorized ({exc.status}): check the token of profile {self.profile.name!r}"
                    else:
                        self.error = f"websocket handshake refused (HTTP {exc.status})"
                except asyncio.CancelledError:
                    raise
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    self.error = self._scrub(f"websocket: {exc or type(exc).__name__}")
                except Exception as exc:  # a bug in a handler must not end live progress for good
                    log.exception("%s: websocket handler failed", self.profile.name)
                    self.error = self._scrub(f"websocket: {exc}")
                if opened is not None:
                    self._on_drop()
                    if time.monotonic() - opened >= WS_STABLE_SECONDS:
                        backoff.reset()
                self._on_change()
                await asyncio.sleep(backoff.next())

    def _lookup(self, prompt_id: Any) -> _Tracked | None:
        if not isinstance(prompt_id, str) or not prompt_id:
            return None
        tracked = self._tracked.get(prompt_id)
        if tracked is None:
            job = self.context.store.by_prompt_id(prompt_id, self.profile.name)
            if job is None or job.state.is_terminal:
                return None
            tracked = _Tracked(job.id, class_types(job.workflow))
            self._tracked[prompt_id] = tracked
        return tracked

    def on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            return
        kind = message.get("type")
        data: dict[str, Any] = message["data"]
        if kind in ("execution_success", "execution_error", "execution_interrupted"):
            self._wake()  # its history entry is written by now (or in a moment): look at once
            return
        if kind not in ("execution_start", "executing", "progress"):
            return
        tracked = self._lookup(data.get("prompt_id"))
        if kind == "executing" and data.get("node") is None:
            self._wake()  # the prompt is done: the poller settles it now
            if tracked is not None:
                self._tracked.pop(str(data.get("prompt_id")), None)
            return
        if tracked is None:
            return
        now = time.time()
        if kind == "execution_start":
            update = JobUpdate(tracked.job_id, state=JobState.RUNNING, at=now)
        elif kind == "executing":
            node = str(data.get("node"))
            tracked.node = node
            update = JobUpdate(
                tracked.job_id,
                state=JobState.RUNNING,
                at=now,
                progress=Progress(node_id=node, class_type=tracked.class_types.get(node)),
            )
        else:
            node = data.get("node")
            node = str(node) if node is not None else tracked.node
            update = JobUpdate(
                tracked.job_id,
                state=JobState.RUNNING,
                at=now,
                progress=Progress(
                    node_id=node,
                    class_type=tracked.class_types.get(node or ""),
                    value=_number(data.get("value")),
                    max=_number(data.get("max")),
                ),
            )
        self.context.apply([update])

