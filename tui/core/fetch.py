"""Fetching a job's output files: one interface, one source per place the bytes live.

- `ViewSource`: ComfyUI's own `GET <url>/view?filename=&subfolder=&type=` with the profile's token (dedicated
  edition, a local ComfyUI; temp previews included).
- `OssSource` (tui/core/oss_fetch.py): the object at the output's composed OSS path, read with the official OSS SDK
  (API edition, or a dedicated profile with `outputs_from = "oss"`: the service's disk is that bucket).

`tui.core.output_sources.source_for(profile)` picks by the profile (its `outputs_from`). Both hand back a `Remote` (size, the server's
CRC-64 when it has one, the body as chunks), so `download_to` writes any of them the same safe way: a temporary
name beside the target, size and CRC checked, then one rename — a dropped connection or a full disk never leaves a
truncated file under the final name. Sources are thread-safe: `comfyq pull` runs N downloads on N threads and the
app fetches previews in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tui.core.jobs import Output
from tui.core.tls import shared_tls_context

if TYPE_CHECKING:
    from tui.core.config import Profile

# Every download has an overall deadline and a size cap (a video output can be large; nothing is unbounded).
DOWNLOAD_DEADLINE_SECONDS = 600.0
MAX_OUTPUT_BYTES = 4 * 1024**3
CHUNK_BYTES = 256 * 1024
# A connection dropped mid-file is tried again from the start this many times in all.
ATTEMPTS = 3
PART_SUFFIX = ".comfyq-part"


class FetchError(Exception):
    """Why an output could not be fetched. `kind` decides what happens next:

    - "missing": this file is not there (404, NoSuchKey, a temp file OSS never gets) — the others go on;
    - "auth": wrong/missing token or keys — every file would fail the same way (exit 3);
    - "unreachable": the service or OSS does not answer (exit 3);
    - "config": a setting is missing (say which key to add);
    - "corrupt": size or CRC-64 differ from what the server announced (after every attempt);
    - "refused": a name that would escape the target folder, or over the size cap;
    - "transport": the connection broke (retried before it is reported);
    - "disk": the local disk is full or not writable — stop everything.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def stops_everything(self) -> bool:
        return self.kind in ("auth", "unreachable", "config", "disk")


@dataclass
class Remote:
    """An opened download: what the server says about the file, and its body."""

    size: int | None
    crc64: str | None  # OSS's x-oss-hash-crc64ecma (decimal), None where the server gives none
    chunks: Iterator[bytes]


class OutputSource(ABC):
    """Where a profile's outputs are read from."""

    kind: str  # "service" | "oss"

    @abstractmethod
    def describe(self, output: Output) -> str:
        """Where this output is read from, for messages (never with a secret in it)."""

    @abstractmethod
    def open(self, output: Output, deadline: float) -> contextlib.AbstractContextManager[Remote]:
        """Start reading `output`; raise FetchError. `deadline` is a time.monotonic() value."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


# ------------------------------------------------------------------------------------------ GET /view


def view_params(output: Output) -> dict[str, str]:
    return {"filename": output.filename, "subfolder": output.subfolder, "type": output.type or "output"}


class ViewSource(OutputSource):
    """ComfyUI's `/view`, as its web page loads images (dedicated edition and plain ComfyUI)."""

    kind = "service"

    def __init__(self, profile: Profile, *, max_connections: int = 16) -> None:
        if not profile.url:
            raise FetchError("config", f"profile {profile.name!r} has no url to read /view from")
        self.profile_name = profile.name
        self.base_url = profile.url.rstrip("/")
        headers = {"Authorization": profile.token} if profile.token else {}
        timeout = httpx.Timeout(profile.request_timeout)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.Client(
            headers=headers, timeout=timeout, limits=limits, follow_redirects=False, verify=shared_tls_context()
        )

    def describe(self, output: Output) -> str:
        return f"{self.base_url}/view ({output.type or 'output'}: {'/'.join(p for p in (output.subfolder, output.filename) if p)})"

    @contextlib.contextmanager
    def open(self, output: Output, deadline: float) -> Iterator[Remote]:
        request = self._client.build_request("GET", f"{self.base_url}/view", params=view_params(output))
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise FetchError("transport", f"{self.base_url}: no answer in time ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise FetchError("unreachable", f"{self.base_url}: {error or type(error).__name__}") from None
        try:
            status = response.status_code
            if status in (401, 403) and not (status == 403 and self._is_path_refusal(response)):
                raise FetchError(
                    "auth", f"{self.base_url}/view answered {status}: check the token of profile {self.profile_name!r}"
                )
            if status == 404:
                raise FetchError("missing", "not found on the service (404)")
            if status in (400, 403):
                raise FetchError("refused", f"the service refused the name ({status})")
            if status >= 500:
                raise FetchError("transport", f"the service answered {status}")
            if status != 200:
                raise FetchError("missing", f"the service answered {status}")
            size = _content_length(response.headers.get("Content-Length"))
            yield Remote(size=size, crc64=None, chunks=_timed_chunks(response.iter_bytes(CHUNK_BYTES), deadline))
        except httpx.TimeoutException as error:
            raise FetchError("transport", f"the download stalled ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise FetchError("transport", f"the connection broke mid-file ({error or type(error).__name__})") from None
        finally:
            response.close()

    @staticmethod
    def _is_path_refusal(response: httpx.Response) -> bool:
        # ComfyUI answers 403 both for a subfolder that leaves its folder and, behind ArtLab's gateway, a bad
        # token; a refusal of the path has an empty body, the gateway says something.
        return response.headers.get("Content-Length") == "0"

    def close(self) -> None:
        self._client.close()


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _timed_chunks(chunks: Iterator[bytes], deadline: float) -> Iterator[bytes]:
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise FetchError("transport", f"the download took longer than {DOWNLOAD_DEADLINE_SECONDS:.0f} s")
        yield chunk


# ------------------------------------------------------------------------------------------ writing a file


class Crc64:
    """OSS's CRC-64 (ECMA-182, reflected, as `x-oss-hash-crc64ecma`), from crcmod (which the OSS SDK brings)."""

    def __init__(self) -> None:
        import crcmod  # here, deliberately: ~15 ms that only OSS downloads (the only CRC users) should pay

        self._crc = crcmod.Crc(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)

    def update(self, data: bytes) -> None:
        self._crc.update(data)

    @property
    def value(self) -> str:
        return str(self._crc.crcValue)


@dataclass(frozen=True)
class Downloaded:
    status: str  # "fetched" | "skipped" (already there with the same size)
    size: int


def download_to(
    source: OutputSource,
    output: Output,
    target: Path,
    *,
    skip_same_size: bool = True,
    on_bytes: Callable[[int], None] | None = None,
    deadline_seconds: float = DOWNLOAD_DEADLINE_SECONDS,
    max_bytes: int = MAX_OUTPUT_BYTES,
    should_stop: Callable[[], bool] | None = None,
) -> Downloaded:
    """Fetch `output` into `target`; raise FetchError. Transport breaks are retried from the start."""
    deadline = time.monotonic() + deadline_seconds
    last: FetchError | None = None
    for attempt in range(ATTEMPTS):
        if should_stop is not None and should_stop():
            raise FetchError("transport", "stopped")
        try:
            return _download_once(source, output, target, skip_same_size, deadline, max_bytes, on_bytes, should_stop)
        except FetchError as error:
            if error.kind not in ("transport", "corrupt") or time.monotonic() > deadline:
                raise
            last = error
            if on_bytes is not None and isinstance(error, _Partial):
                on_bytes(-error.received)  # the progress bar takes back what is fetched again
            time.sleep(min(0.2 * (attempt + 1), 1.0))
    assert last is not None
    raise FetchError(last.kind, f"{last.message} (after {ATTEMPTS} attempts)")


class _Partial(FetchError):
    """A transport/corrupt failure after `received` bytes were counted."""

    def __init__(self, kind: str, message: str, received: int) -> None:
        super().__init__(kind, message)
        self.received = received


def _download_once(
    source: OutputSource,
    output: Output,
    target: Path,
    skip_same_size: bool,
    deadline: float,
    max_bytes: int,
    on_bytes: Callable[[int], None] | None,
    should_stop: Callable[[], bool] | None,
) -> Downloaded:
    with source.open(output, deadline) as remote:
        if remote.size is not None and remote.size > max_bytes:
            raise FetchError("refused", f"{remote.size} bytes is over the {max_bytes} byte cap")
        if skip_same_size and remote.size is not None:
            try:
                if target.stat().st_size == remote.size:
                    return Downloaded("skipped", remote.size)
            except OSError:
                pass
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, part_name = tempfile.mkstemp(prefix=f".{target.name[:80]}.", suffix=PART_SUFFIX, dir=target.parent)
        except OSError as error:
            raise _disk_error(error, target) from None
        part = Path(part_name)
        received = 0
        crc = Crc64() if remote.crc64 is not None else None
        try:
            with os.fdopen(handle, "wb") as file:
                try:
                    for chunk in remote.chunks:
                        if should_stop is not None and should_stop():
                            raise FetchError("transport", "stopped")
                        received += len(chunk)
                        if received > max_bytes:
                            raise FetchError("refused", f"more than the {max_bytes} byte cap")
                        file.write(chunk)
                        if crc is not None:
                            crc.update(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                except FetchError as error:
                    if error.kind in ("transport", "corrupt"):
                        raise _Partial(error.kind, error.message, received) from None
                    raise
            if remote.size is not None and received != remote.size:
                raise _Partial("corrupt", f"got {received} of {remote.size} bytes", received)
            if crc is not None and crc.value != remote.crc64:
                raise _Partial("corrupt", "CRC-64 differs from the one OSS announced", received)
            os.replace(part, target)
        except OSError as error:
            raise _disk_error(error, target) from None
        finally:
            with contextlib.suppress(OSError):
                part.unlink()
        return Downloaded("fetched", received)


def _disk_error(error: OSError, target: Path) -> FetchError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):  # EFBIG (a file-size limit) is said as it is, below
        return FetchError("disk", f"the disk is full ({target.parent})")
    return FetchError("disk", f"cannot write {target.parent}: {error.strerror or error}")
