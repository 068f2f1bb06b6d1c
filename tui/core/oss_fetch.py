"""Reading outputs from OSS with the official SDK (`alibabacloud-oss-v2`; `oss2` is in maintenance).

The object of an output is the one at its composed OSS path (tui/core/oss.py), which needs the profile's
`oss_bucket_path` in the `oss://BUCKET/PATH` form, its `oss_region` and, optionally, `oss_endpoint`. The AccessKey
pair is read from the environment (the standard OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN, or the
variables the profile names) when the source is made: never stored, registered with the redactor so no log or
message can carry it. The SDK is imported here only, so nothing else pays its import.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tui.core import secrets
from tui.core.fetch import CHUNK_BYTES, FetchError, OutputSource, Remote, _timed_chunks
from tui.core.jobs import Output
from tui.core.oss import OssPathError, compose_oss_path

if TYPE_CHECKING:
    from tui.core.config import Profile

# OSS error codes that mean "these keys are not good here" (the same keys fail for every file).
AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "SecurityTokenExpired", "InvalidSecurityToken"}
)


class OssSource(OutputSource):
    kind = "oss"

    def __init__(self, profile: Profile, *, max_connections: int = 16, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        settings = profile.oss
        self.profile_name = profile.name
        self.key_env = settings.access_key_id_env
        self.secret_env = settings.access_key_secret_env
        where = f"profile {profile.name!r}"
        if not profile.oss_bucket_path:
            raise FetchError("config", f"{where}: add oss_bucket_path = \"oss://BUCKET/PATH\" to read outputs from OSS")
        if not profile.oss_bucket_path.startswith("oss://"):
            raise FetchError(
                "config",
                f"{where}: oss_bucket_path must name the bucket (oss://BUCKET/PATH) to read outputs from OSS",
            )
        if not settings.region:
            raise FetchError("config", f"{where}: add oss_region = \"cn-...\" (the bucket's region) to read outputs from OSS")
        key_id = environ.get(settings.access_key_id_env, "")
        key_secret = environ.get(settings.access_key_secret_env, "")
        token = environ.get(settings.session_token_env) or None
        missing = [name for name, value in ((settings.access_key_id_env, key_id), (settings.access_key_secret_env, key_secret)) if not value]
        if missing:
            raise FetchError("auth", f"{where}: set {' and '.join(missing)} to read outputs from OSS")
        for value in (key_id, key_secret, token):
            secrets.register_secret(value)
        self.bucket_path = profile.oss_bucket_path

        # Imported here, deliberately: the SDK (and requests under it) costs ~200 ms that only OSS reads pay.
        import alibabacloud_oss_v2 as oss
        from alibabacloud_oss_v2.transport import RequestsHttpClient

        self._oss = oss
        config = oss.config.load_default()
        config.region = settings.region
        if settings.endpoint:
            config.endpoint = settings.endpoint
        config.credentials_provider = oss.credentials.StaticCredentialsProvider(key_id, key_secret, token)
        timeout = max(int(profile.request_timeout), 1)
        config.connect_timeout = min(timeout, 10)
        config.readwrite_timeout = timeout
        config.http_client = RequestsHttpClient(
            max_connections=max_connections, connect_timeout=config.connect_timeout, readwrite_timeout=timeout
        )
        self._client = oss.Client(config)

    def location(self, output: Output) -> tuple[str, str]:
        try:
            location = compose_oss_path(self.bucket_path, output)
        except OssPathError as error:
            raise FetchError("refused", str(error)) from None
        if location is None or location.bucket is None or location.key is None:
            raise FetchError("missing", f"a {output.type or 'temp'} file is not kept in OSS")
        return location.bucket, location.key

    def describe(self, output: Output) -> str:
        try:
            bucket, key = self.location(output)
        except FetchError as error:
            return error.message
        return f"oss://{bucket}/{key}"

    @contextlib.contextmanager
    def open(self, output: Output, deadline: float) -> Iterator[Remote]:
        bucket, key = self.location(output)
        oss = self._oss
        try:
            result = self._client.get_object(oss.GetObjectRequest(bucket=bucket, key=key))
        except Exception as error:  # noqa: BLE001 - the SDK's errors are mapped to ours
            raise self._mapped(error) from None
        body = result.body
        try:
            yield Remote(
                size=result.content_length,
                crc64=result.hash_crc64,
                chunks=_timed_chunks(self._chunks(body), deadline),
            )
        finally:
            with contextlib.suppress(Exception):
                body.close()

    def _chunks(self, body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_bytes(block_size=CHUNK_BYTES)
        except FetchError:
            raise
        except Exception as error:  # noqa: BLE001 - requests/urllib3 errors mid-body
            raise FetchError("transport", f"the connection broke mid-file ({type(error).__name__})") from None

    def _mapped(self, error: Exception) -> FetchError:
        oss = self._oss
        inner: Exception = error
        while isinstance(inner, (oss.exceptions.OperationError, oss.exceptions.RequestError, oss.exceptions.ResponseError)):
            unwrapped = inner.unwrap()
            if unwrapped is None or unwrapped is inner:
                break
            inner = unwrapped
        if isinstance(inner, oss.exceptions.ServiceError):
            code = inner.code or ""
            if code == "NoSuchKey" or inner.status_code == 404 and code != "NoSuchBucket":
                return FetchError("missing", "not found in OSS (NoSuchKey)")
            if code in AUTH_CODES or inner.status_code in (401, 403):
                return FetchError(
                    "auth",
                    f"profile {self.profile_name!r}: OSS refused the keys ({code or inner.status_code}): "
                    f"set {self.key_env} and {self.secret_env} to a key pair that may read the bucket",
                )
            if code == "NoSuchBucket":
                return FetchError("config", f"profile {self.profile_name!r}: the bucket does not exist (NoSuchBucket)")
            if inner.status_code >= 500:
                return FetchError("transport", f"OSS answered {inner.status_code} {code}")
            return FetchError("missing", f"OSS answered {inner.status_code} {code}")
        if isinstance(inner, oss.exceptions.CredentialsBaseError):
            return FetchError("auth", f"profile {self.profile_name!r}: set {self.key_env} and {self.secret_env}")
        text = secrets.redact(str(inner))
        if "timed out" in text.lower() or "Timeout" in type(inner).__name__:
            return FetchError("transport", f"OSS did not answer in time ({type(inner).__name__})")
        return FetchError("unreachable", f"cannot reach OSS ({type(inner).__name__})")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client._client._options.http_client.close()  # the SDK has no public close
