"""The HTTP layer both backends share (design.md §2 rule 10): one request with an overall deadline and a capped
body (`fetch`), and per profile the client, its headers, secret scrubbing and what a failed request says
(`ProfileHttp`, `ServiceError`).

httpx's timeouts apply per network operation: a server that trickles one byte a second never trips a read timeout,
and one that sends an endless body is read until memory runs out. `fetch` bounds the whole exchange — connect,
send, every byte of the answer — by one deadline, and stops reading at a size cap. Its failures are httpx
exceptions (a `TimeoutException` and an `HTTPError`), so callers keep their one `except httpx.HTTPError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx

from tui.core.backends.common import scrub
from tui.core.tls import shared_tls_context

if TYPE_CHECKING:
    from tui.core.config import Profile

MEGABYTE = 1024 * 1024


class DeadlineExceeded(httpx.TimeoutException):
    """The whole request (connect + send + the full answer) took longer than its deadline."""


class AnswerTooLarge(httpx.HTTPError):
    """The answer was larger than the cap: reading stopped there."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


def describe_size(size: int) -> str:
    if size >= MEGABYTE:
        return f"{size / MEGABYTE:g} MB"
    return f"{size / 1024:g} KB" if size >= 1024 else f"{size} bytes"


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline: float,
    max_bytes: int,
    cap_key: str = "max_response_mb",
    **kwargs: Any,
) -> httpx.Response:
    """`client.request(...)`, read to the end, within `deadline` seconds and `max_bytes` of (decoded) body.

    Raises `DeadlineExceeded` (a timeout) or `AnswerTooLarge`; everything else httpx raises passes through. The
    response returned has its body read (`.content`, `.json()` work) and its connection released.
    """
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(method, url, **kwargs) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(method, url, response.status_code, max_bytes, cap_key)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(method, url, response.status_code, max_bytes, cap_key)
                    chunks.append(chunk)
    except TimeoutError as exc:
        raise DeadlineExceeded(f"no complete answer within {deadline:g} s", request=_request_of(client, method, url)) from exc
    # The body is decoded already: the new response must not decode it again.
    headers = [
        (key, value)
        for key, value in response.headers.multi_items()
        if key.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks),
        request=response.request,
        extensions=response.extensions,
    )


def _too_large(method: str, url: str, status: int, limit: int, cap_key: str) -> AnswerTooLarge:
    path = httpx.URL(url).path if "://" in url else url
    return AnswerTooLarge(
        f"the HTTP {status} answer to {method} {path} is larger than {describe_size(limit)} "
        f"(the cap, `{cap_key}` in the config)",
        limit=limit,
    )


def _request_of(client: httpx.AsyncClient, method: str, url: str) -> httpx.Request | None:
    try:
        return client.build_request(method, url)
    except Exception:  # noqa: BLE001 - only used to label the error
        return None


# ---------------------------------------------------------------------------------------------- per profile


class ServiceError(Exception):
    """A request that got no usable answer: unreachable, past its deadline, too large, HTTP 5xx or 401/403.

    The message is for the user and free of secrets. `auth`: the token was refused. `degraded`: the service is there
    but answered too slowly or too much (the source shows as degraded, not as reconnecting).
    """

    def __init__(self, message: str, *, auth: bool = False, degraded: bool = False) -> None:
        super().__init__(message)
        self.auth = auth
        self.degraded = degraded


def auth_headers(token: str | None) -> dict[str, str]:
    """The headers that carry a profile's token (both editions send it raw in `Authorization`)."""
    return {"Authorization": token} if token else {}


def unauthorized_message(status: int, where: str, profile_name: str) -> str:
    return f"unauthorized ({status}) at {where}: check the token of profile {profile_name!r}"


class ProfileHttp:
    """One profile's HTTP client and the one way both backends send a request and read its failure.

    The client is made on first use (and again after `aclose`): the profile's token in `Authorization`, its
    `request_timeout` per operation, and every request through `fetch` (one overall deadline, a body cap).
    """

    def __init__(self, profile: Profile, *, base_url: str = "") -> None:
        self.profile = profile
        self.base_url = base_url
        self._client: httpx.AsyncClient | None = None

    @property
    def deadline(self) -> float:
        return float(self.profile.request_timeout or 30.0)

    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            timeout = self.deadline
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=auth_headers(self.profile.token),
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
                verify=shared_tls_context(),
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    def scrub(self, text: str) -> str:
        return scrub(text, self.profile.token)

    async def fetch(self, method: str, url: str, *, submit: bool = False, **kwargs: Any) -> httpx.Response:
        """One request within the profile's deadline (connect + send + the whole answer) and body cap; httpx's
        exceptions pass through (for callers that tell "never sent" from "sent, answer lost")."""
        profile = self.profile
        cap_mb, cap_key = (
            (profile.max_submit_response_mb, "max_submit_response_mb") if submit
            else (profile.max_response_mb, "max_response_mb")
        )
        return await fetch(
            self.client(), method, url, deadline=self.deadline, max_bytes=int(cap_mb * MEGABYTE), cap_key=cap_key,
            **kwargs,
        )

    def transport_message(self, exc: httpx.HTTPError, where: str, what: str) -> str:
        """What a request that got no answer says: too large, not in time, or cannot reach (secrets scrubbed)."""
        if isinstance(exc, AnswerTooLarge):
            return f"{where}: {exc}"
        if isinstance(exc, httpx.TimeoutException):
            return f"{where} did not answer {what} in time ({type(exc).__name__})"
        return self.scrub(f"cannot reach {where}: {exc or type(exc).__name__}")

    async def request(
        self, method: str, url: str, *, where: str, what: str | None = None, submit: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """`fetch`, with every answer that is no answer turned into `ServiceError`: a transport failure, a deadline
        passed, a body over its cap, 401/403 (`auth`), and HTTP 5xx. Other statuses are the caller's to read.

        `where` names the service in messages (its URL), `what` the request (default `METHOD url`)."""
        what = what or f"{method} {url}"
        try:
            response = await self.fetch(method, url, submit=submit, **kwargs)
        except httpx.HTTPError as exc:
            # Slow or oversized is "there, but degraded"; a connect timeout means nobody answered at all.
            degraded = isinstance(exc, AnswerTooLarge) or (
                isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout)
            )
            raise ServiceError(self.transport_message(exc, where, what), degraded=degraded) from exc
        status = response.status_code
        if status in (401, 403):
            raise ServiceError(unauthorized_message(status, where, self.profile.name), auth=True)
        if status >= 500:
            raise ServiceError(f"{where} answered {what} with HTTP {status}")
        return response
