"""An OSS-compatible endpoint for the emulator's bucket: GetObject, HeadObject and ListObjectsV2.

Enough of Alibaba Cloud OSS for the official SDK (`alibabacloud-oss-v2`) to work against it unchanged over loopback:
path-style addressing (the SDK uses it for an IP endpoint: `GET /<bucket>/<key>`), signature V4
(`OSS4-HMAC-SHA256`) checked exactly as the SDK computes it (alibabacloud_oss_v2/signer/v4.py: canonical request of
method, `/bucket/key`, the sorted raw query, the `x-oss-*`/content-type/content-md5 and additional headers, the
payload hash; a key derived from `aliyun_v4` + secret, date, region, product `oss`), and OSS's XML error bodies
(`AccessDenied`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `RequestTimeTooSkewed`, `NoSuchKey`).

The objects are the files the emulated ComfyUI instances wrote: a file `<output_dir>/<subfolder>/<name>` is the
object at its composed OSS path (tui/core/oss.py), `<bucket path>/output/<subfolder>/<name>`. Faults for tests:
`drop_next_gets` (send half the body, then cut the connection) and `missing_keys`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import mimetypes
import os
import re
import uuid
import weakref
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from aiohttp import web

from tui.core.jobs import Output
from tui.core.oss import OssPathError, compose_oss_path, normalize_bucket_path

DEMO_ACCESS_KEY_ID = "LTAIcomfyqDemoKey"
DEMO_ACCESS_KEY_SECRET = "comfyq-demo-secret-not-for-real-use"
MAX_SKEW_SECONDS = 15 * 60  # OSS refuses a request dated more than 15 minutes away
MAX_LIST_KEYS = 1000
_AUTH = re.compile(
    r"^OSS4-HMAC-SHA256 Credential=(?P<key_id>[^/,]+)/(?P<date>\d{8})/(?P<region>[^/,]*)/(?P<product>[^/,]*)/"
    r"aliyun_v4_request(?:,AdditionalHeaders=(?P<additional>[^,]*))?,Signature=(?P<signature>[0-9a-f]{64})$"
)


class OssEmulator:
    """One bucket whose `output/` folder is `output_dir`, reachable with one key pair."""

    def __init__(
        self,
        *,
        bucket_path: str,
        output_dir: Path,
        access_key_id: str = DEMO_ACCESS_KEY_ID,
        access_key_secret: str = DEMO_ACCESS_KEY_SECRET,
    ) -> None:
        base = normalize_bucket_path(bucket_path)
        if not base.startswith("oss://"):
            raise ValueError(f"the emulated bucket path must be oss://BUCKET/PATH, not {bucket_path!r}")
        self.bucket_path = base
        self.bucket, _, self.prefix = base[len("oss://") :].partition("/")
        self.output_dir = Path(output_dir).resolve()
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.drop_next_gets = 0
        self.missing_keys: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, key) served, for tests
        self._crc_cache: dict[tuple[str, int, int], str] = {}

    # ----- objects
    def key_for(self, relative: str) -> str:
        """The composed key of a file at `output_dir/relative` (what the client composes for that output)."""
        subfolder, _, name = relative.rpartition("/")
        location = compose_oss_path(self.bucket_path, Output(node_id="", type="output", subfolder=subfolder, filename=name))
        assert location is not None and location.key is not None
        return location.key

    def path_for(self, key: str) -> Path | None:
        output_prefix = (self.prefix + "/" if self.prefix else "") + "output/"
        if not key.startswith(output_prefix) or key in self.missing_keys:
            return None
        relative = key[len(output_prefix) :]
        if not relative or relative.startswith("/") or ".." in relative.split("/"):
            return None
        path = (self.output_dir / relative).resolve()
        if os.path.commonpath((str(path), str(self.output_dir))) != str(self.output_dir) or not path.is_file():
            return None
        return path

    def list_keys(self) -> list[tuple[str, Path]]:
        found: list[tuple[str, Path]] = []
        for root, _dirs, files in os.walk(self.output_dir):
            for name in files:
                path = Path(root) / name
                relative = path.relative_to(self.output_dir).as_posix()
                try:
                    found.append((self.key_for(relative), path))
                except OssPathError:
                    continue
        return sorted(found)

    def crc64(self, path: Path, stat: os.stat_result) -> str:
        cache_key = (str(path), stat.st_size, stat.st_mtime_ns)
        value = self._crc_cache.get(cache_key)
        if value is None:
            import crcmod  # brought by the OSS SDK; the same CRC-64/XZ OSS announces

            crc = crcmod.Crc(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
            with path.open("rb") as file:
                for block in iter(lambda: file.read(1 << 20), b""):
                    crc.update(block)
            value = self._crc_cache[cache_key] = str(crc.crcValue)
        return value

    # ----- routes
    def register_routes(self, app: web.Application) -> None:
        for path in (f"/{self.bucket}", f"/{self.bucket}/", f"/{self.bucket}/{{key:.+}}"):
            for method in ("GET", "HEAD"):
                handler = self._handle
                app.router.add_route(method, path, _signed(handler))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        key = unquote(raw_path[len(self.bucket) + 2 :]) if len(raw_path) > len(self.bucket) + 2 else None
        refusal = self.check_signature(request, key)
        if refusal is not None:
            return refusal
        if key is None:
            if request.method == "GET" and request.query.get("list-type") == "2":
                return await self._list(request)
            return _error(request, 400, "InvalidArgument", "Only ListObjectsV2 is emulated on the bucket.")
        self.requests.append((request.method, key))
        path = self.path_for(key)
        if path is None:
            return _error(request, 404, "NoSuchKey", "The specified key does not exist.", key=key)
        stat = path.stat()
        headers = {
            "Content-Type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "x-oss-hash-crc64ecma": await asyncio.to_thread(self.crc64, path, stat),
            "x-oss-object-type": "Normal",
            "x-oss-storage-class": "Standard",
            "x-oss-request-id": _request_id(),
            "Last-Modified": format_datetime(datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc), True),
            "ETag": f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'.upper(),
            "Accept-Ranges": "bytes",
        }
        if request.method == "GET" and self.drop_next_gets > 0:
            self.drop_next_gets -= 1
            return await _drop_midway(request, path, stat.st_size, headers)
        if request.method == "HEAD":
            return web.Response(status=200, headers={**headers, "Content-Length": str(stat.st_size)})
        return web.FileResponse(path, headers=headers)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        try:
            max_keys = min(max(int(query.get("max-keys", "100")), 1), MAX_LIST_KEYS)
        except ValueError:
            return _error(request, 400, "InvalidArgument", "max-keys is not a number.")
        after = query.get("continuation-token") or query.get("start-after") or ""
        url_encoded = query.get("encoding-type") == "url"
        keys = await asyncio.to_thread(self.list_keys)
        contents: list[tuple[str, Path]] = []
        common: list[str] = []
        truncated = False
        last = ""
        for key, path in keys:
            if not key.startswith(prefix) or key <= after:
                continue
            if delimiter and delimiter in key[len(prefix) :]:
                folder = prefix + key[len(prefix) :].split(delimiter, 1)[0] + delimiter
                if folder <= after or (common and common[-1] == folder):
                    continue
                entry_key = folder
            else:
                entry_key = key
            if len(contents) + len(common) >= max_keys:
                truncated = True
                break
            if entry_key == key:
                contents.append((key, path))
            else:
                common.append(entry_key)
            last = entry_key if entry_key == key else entry_key + "\uffff"

        def text(value: str) -> str:
            return escape(quote(value, safe="/") if url_encoded else value)

        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>',
            f"<Name>{escape(self.bucket)}</Name><Prefix>{text(prefix)}</Prefix><MaxKeys>{max_keys}</MaxKeys>",
            f"<Delimiter>{text(delimiter)}</Delimiter><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
            f"<KeyCount>{len(contents) + len(common)}</KeyCount>",
        ]
        if url_encoded:
            parts.append("<EncodingType>url</EncodingType>")
        if truncated:
            parts.append(f"<NextContinuationToken>{escape(last)}</NextContinuationToken>")
        for key, path in contents:
            stat = path.stat()
            modified = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc)
            parts.append(
                f"<Contents><Key>{text(key)}</Key><LastModified>{modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}"
                f"</LastModified><ETag>\"{stat.st_size:X}-{stat.st_mtime_ns:X}\"</ETag><Type>Normal</Type>"
                f"<Size>{stat.st_size}</Size><StorageClass>Standard</StorageClass></Contents>"
            )
        for folder in common:
            parts.append(f"<CommonPrefixes><Prefix>{text(folder)}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        return web.Response(
            body="".join(parts).encode("utf-8"),
            content_type="application/xml",
            headers={"x-oss-request-id": _request_id()},
        )

    # ----- signature V4
    def check_signature(self, request: web.Request, key: str | None) -> web.Response | None:
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return _error(request, 403, "AccessDenied", "You have no right to access this object because of bucket acl.")
        match = _AUTH.match(authorization)
        if match is None:
            return _error(request, 400, "InvalidArgument", "Authorization header is invalid.")
        if match["key_id"] != self.access_key_id:
            return _error(request, 403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
        stamp = request.headers.get("x-oss-date", "")
        try:
            signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return _error(request, 403, "AccessDenied", "x-oss-date is missing or malformed.")
        skew = abs((datetime.datetime.now(datetime.timezone.utc) - signed_at).total_seconds())
        if skew > MAX_SKEW_SECONDS:
            return _error(request, 403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
        if stamp[:8] != match["date"] or match["product"] != "oss":
            return _error(request, 403, "SignatureDoesNotMatch", "The credential scope does not match the request.")
        additional = [name for name in (match["additional"] or "").split(";") if name]
        canonical = canonical_request(request, self.bucket, key, additional)
        scope = f"{match['date']}/{match['region']}/oss/aliyun_v4_request"
        string_to_sign = "\n".join(
            ("OSS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
        )
        expected = signature(self.access_key_secret, match["date"], match["region"], string_to_sign)
        if not hmac.compare_digest(expected, match["signature"]):
            return _error(
                request, 403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                string_to_sign=string_to_sign,
            )
        return None


def canonical_request(request: web.Request, bucket: str, key: str | None, additional: list[str]) -> str:
    uri = quote("/" + bucket + "/" + (key or ""), safe="/")
    pairs = []
    raw_query = request.rel_url.raw_query_string
    for pair in raw_query.split("&") if raw_query else []:
        name, _, value = pair.partition("=")
        pairs.append((name, value))
    query = "&".join(f"{name}={value}" if value else name for name, value in sorted(pairs))
    signed = sorted(
        (name.lower(), value)
        for name, value in request.headers.items()
        if name.lower().startswith("x-oss-") or name.lower() in ("content-type", "content-md5") or name.lower() in additional
    )
    headers = "".join(f"{name}:{value}\n" for name, value in signed)
    payload = request.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    return f"{request.method}\n{uri}\n{query}\n{headers}\n{';'.join(additional)}\n{payload}"


def signature(secret: str, date: str, region: str, string_to_sign: str) -> str:
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (date, region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# The handlers that check their own OSS signature (held weakly: they belong to the apps that registered them).
_SELF_SIGNED: weakref.WeakSet[Callable[..., Awaitable[web.StreamResponse]]] = weakref.WeakSet()


def _signed(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Mark a handler that checks its own (OSS) signature, so the emulator's token check lets it through."""

    async def signed(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    _SELF_SIGNED.add(signed)
    return signed


def is_oss_signed(request: web.Request) -> bool:
    return request.match_info.handler in _SELF_SIGNED


def _request_id() -> str:
    return uuid.uuid4().hex[:24].upper()


def _error(request: web.Request, status: int, code: str, message: str, **extra: Any) -> web.Response:
    request_id = _request_id()
    fields = {"Code": code, "Message": message, "RequestId": request_id, "HostId": request.host}
    if extra.get("key") is not None:
        fields["Key"] = extra["key"]
    if extra.get("string_to_sign") is not None:
        fields["StringToSign"] = extra["string_to_sign"]
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n' + "".join(
        f"  <{name}>{escape(str(value))}</{name}>\n" for name, value in fields.items()
    ) + "</Error>\n"
    headers = {"x-oss-request-id": request_id}
    if request.method == "HEAD":  # no body on HEAD: OSS puts the error in a header the SDK decodes
        headers["x-oss-err"] = base64.b64encode(body.encode("utf-8")).decode("ascii")
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, body=body.encode("utf-8"), content_type="application/xml", headers=headers)


async def _drop_midway(request: web.Request, path: Path, size: int, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=headers)
    response.content_length = size
    await response.prepare(request)
    data = await asyncio.to_thread(path.read_bytes)
    await response.write(data[: size // 2])
    transport = request.transport
    if transport is not None:
        transport.abort()  # cut the connection mid-body: the client sees fewer bytes than Content-Length
    return response
