"""One HTTP request with an overall deadline and a capped body, for both backends (design.md §2 rule 10).

httpx's timeouts apply per network operation: a server that trickles one byte a second never trips a read timeout,
and one that sends an endless body is read until memory runs out. `fetch` bounds the whole exchange — connect,
send, every byte of the answer — by one deadline, and stops reading at a size cap. Its failures are httpx
exceptions (a `TimeoutException` and an `HTTPError`), so callers keep their one `except httpx.HTTPError`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

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
