"""The HTTP conversation with one ComfyUI server (dedicated edition): `/queue`, `/history`, the jobs API, and how
their answers are read.

Every request goes through the shared HTTP layer (`http.ProfileHttp`: one deadline, a body cap, the token); an
answer that is no answer (unreachable, slow, too large, 5xx, 401/403) is a `ServiceError` with a clean message.
Newer servers (0.38+) also have the jobs API (`/api/jobs`, per-job cancel; protocols/comfyui-newer.md §7), older
ones only `/queue` + `/history`: `has_jobs_api` asks which.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from tui.core import payloads
from tui.core.backends.http import ProfileHttp, ServiceError
from tui.core.checkpoints import (
    MODELS_PATH, OBJECT_INFO_PATH, CheckpointChoices, CheckpointListError, parse_models_answer,
    parse_object_info_answer,
)

if TYPE_CHECKING:
    from tui.core.config import Profile

# A /history answer larger than this is parsed off the event loop (which is the TUI's).
PARSE_OFF_LOOP_BYTES = 256 * 1024
# The key of the marker every prompt carries in its `extra_data` (ComfyUI keeps extra_data in the /queue items and
# in the history entry's `prompt` array), valued with our job id.
SUBMIT_MARKER_KEY = "comfyq_job_id"
# What aiohttp (ComfyUI's server) answers, as text/plain with status 500, when a handler raised.
STOCK_SERVER_ERROR_TEXT = b"Server got itself in trouble"


class NoSuchRoute(ServiceError):
    """The server has no such route (404/405): a look-up that is optional may do without it."""


@dataclass(frozen=True)
class QueueSnapshot:
    """One `/queue` answer: what runs, what waits (and how far back), and our markers in it."""

    running: frozenset[str]
    pending_position: dict[str, int]  # prompt_id -> items ahead of it
    marked: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # marker -> (prompt_id, number)
    items: dict[str, list[Any]] = field(default_factory=dict)  # prompt_id -> the raw queue item (every client's)

    def has(self, prompt_id: str) -> bool:
        return prompt_id in self.running or prompt_id in self.pending_position


def marker(prompt: Any) -> str | None:
    """Our marker from a queue item or a history entry's `prompt` array: [number, id, graph, extra_data, ...]."""
    if isinstance(prompt, list) and len(prompt) > 3 and isinstance(prompt[3], dict):
        value = prompt[3].get(SUBMIT_MARKER_KEY)
        return str(value) if value is not None else None
    return None


def queue_number(prompt: Any) -> int | None:
    number = prompt[0] if isinstance(prompt, list) and prompt else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def is_unreadable_request_answer(response: httpx.Response) -> bool:
    """ComfyUI's answer to a POST body it could not read (fixture README, surprise 8): aiohttp's stock 500 text."""
    return (
        response.status_code == 500
        and response.headers.get("content-type", "").startswith("text/plain")
        and STOCK_SERVER_ERROR_TEXT in response.content
    )


class ComfyApi:
    """Requests to one ComfyUI server, answers read into snapshots and outcomes."""

    def __init__(self, profile: Profile, base_url: str) -> None:
        self.base_url = base_url
        self.http = ProfileHttp(profile, base_url=base_url)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; network trouble, a passed deadline, 5xx and 401/403 raise `ServiceError`."""
        return await self.http.request(method, path, where=self.base_url, what=f"{method} {path}", **kwargs)

    async def get_json(self, path: str) -> Any:
        response = await self.request("GET", path)
        if response.status_code != 200:
            raise ServiceError(f"{self.base_url} answered GET {path} with HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceError(f"{self.base_url} answered GET {path} with something that is not JSON") from exc

    async def queue(self) -> QueueSnapshot:
        body = await self.get_json("/queue")
        if not isinstance(body, dict):
            raise ServiceError(f"{self.base_url}/queue answered with an unexpected shape")

        def entries(key: str) -> list[list[Any]]:
            items = body.get(key) or []
            return [item for item in items if isinstance(item, list) and len(item) > 1]

        running_items = entries("queue_running")
        running = frozenset(str(item[1]) for item in running_items)
        pending = sorted(entries("queue_pending"), key=lambda item: item[0] if isinstance(item[0], (int, float)) else 0)
        marked = {
            found: (str(item[1]), queue_number(item))
            for item in running_items + pending
            if (found := marker(item)) is not None
        }
        items = {str(item[1]): item for item in running_items + pending}
        return QueueSnapshot(
            running, {str(item[1]): position for position, item in enumerate(pending)}, marked, items
        )

    async def history(self, prompt_id: str) -> payloads.Outcome | None:
        """`GET /history/<id>` read into an outcome; None while the server has no entry for it."""
        response = await self.request("GET", f"/history/{prompt_id}")
        if response.status_code != 200:
            raise ServiceError(f"{self.base_url} answered GET /history/{prompt_id} with HTTP {response.status_code}")
        try:
            if len(response.content) > PARSE_OFF_LOOP_BYTES:
                # A big answer (thousands of outputs) is parsed on a worker thread: the loop is the UI's.
                return await asyncio.to_thread(payloads.parse_history_response, response.content, prompt_id)
            return payloads.parse_history_response(response.content, prompt_id)
        except payloads.PayloadError as exc:
            # Unparseable answer: treat as a transport problem for this cycle (the next one asks again).
            raise ServiceError(f"unreadable /history/{prompt_id} answer: {exc}") from exc

    async def history_map(self, path: str) -> dict[str, Any]:
        """A `/history` answer (every entry, by prompt id); `NoSuchRoute` when the server has no such route."""
        response = await self.request("GET", path)
        if response.status_code in (404, 405):
            raise NoSuchRoute(f"{self.base_url} has no GET {path}")
        if response.status_code != 200:
            raise ServiceError(f"{self.base_url} answered GET {path} with HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ServiceError(f"{self.base_url} answered GET {path} with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise ServiceError(f"{self.base_url} answered GET {path} with an unexpected shape")
        return body

    async def has_jobs_api(self) -> bool | None:
        """Whether the server has the jobs API: 0.38+ answers `GET /api/jobs?limit=1` with 200 and a `jobs` list,
        0.3.64 with 404 (no such route). None when it could not tell (asked again later)."""
        try:
            response = await self.request("GET", "/api/jobs?limit=1")
        except ServiceError:
            return None
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            return isinstance(body, dict) and isinstance(body.get("jobs"), list)
        if response.status_code in (404, 405):
            return False
        return None

    async def cancel_with_jobs_api(self, prompt_id: str) -> bool:
        """`POST /api/jobs/{id}/cancel`: removes a pending job or interrupts the running one. True when the server
        says it did (False: it had ended already)."""
        response = await self.request("POST", f"/api/jobs/{prompt_id}/cancel")
        try:
            return response.status_code == 200 and response.json().get("cancelled") is True
        except (ValueError, AttributeError):
            return False

    async def checkpoint_choices(self) -> CheckpointChoices:
        """The server's checkpoint names (`GET /models/checkpoints`; `/object_info/CheckpointLoaderSimple` on a
        server older than that route), or no list and why: never raises for what the server answers."""
        try:
            response = await self.request("GET", MODELS_PATH)
            path, parse = MODELS_PATH, parse_models_answer
            if response.status_code in (404, 405):
                response = await self.request("GET", OBJECT_INFO_PATH)
                path, parse = OBJECT_INFO_PATH, parse_object_info_answer
        except ServiceError as exc:
            return CheckpointChoices.failed(str(exc))
        if response.status_code != 200:
            return CheckpointChoices.failed(f"{self.base_url} answered GET {path} with HTTP {response.status_code}")
        try:
            if len(response.content) > PARSE_OFF_LOOP_BYTES:  # thousands of names: parsed off the (UI's) loop
                return await asyncio.to_thread(parse, response.content)
            return parse(response.content)
        except CheckpointListError as exc:
            return CheckpointChoices.failed(f"{self.base_url} answered GET {path} with {exc}")
