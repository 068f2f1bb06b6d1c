"""Who may open the app served by `comfyq serve`.

Three checks, in one aiohttp middleware that runs before any handler (so a refused request starts no app session):

- **Access token** (when there is one): `?token=` on the first page load, then an HttpOnly SameSite=Strict cookie
  (the page answers `?token=` with a redirect that drops it, so it does not stay in the address bar or history);
  `Authorization: Bearer` for scripts. A request without a valid token gets 401.
- **Host** (when there is no token, i.e. served on a loopback address): the Host header must be a loopback name.
  Otherwise any web page could rebind its own domain name to 127.0.0.1 and script the app (DNS rebinding).
- **Origin** (websocket): a browser always sends Origin; it must be this server's own, so a page on another site
  cannot open the app's websocket with the user's browser (cross-site websocket hijacking).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from yarl import URL

TOKEN_QUERY = "token"
COOKIE_NAME = "comfyq_access"
MIN_TOKEN_LENGTH = 16  # a short token is guessable by anyone who can reach the port
GENERATED_TOKEN_BYTES = 24  # 32 URL-safe characters

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AccessConfigError(ValueError):
    """The access options cannot be used (one line for the user)."""


@dataclass(frozen=True)
class AccessToken:
    value: str
    generated: bool  # made up at start (print it once) rather than read from the environment
    source: str  # where it came from, for the start-up line ("generated", "$NAME")


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1): only this machine can reach them."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_access_token(host: str, token_env: str | None, environ: Mapping[str, str]) -> AccessToken | None:
    """The token this server requires, or None (a loopback address with no --token-env).

    A token named by `--token-env` is used on any address; any non-loopback address without one gets a generated
    token. Raises AccessConfigError for a variable that is unset, empty or too short.
    """
    if token_env:
        value = environ.get(token_env, "")
        if not value.strip():
            raise AccessConfigError(f"--token-env {token_env}: the environment variable is not set or is empty")
        if len(value) < MIN_TOKEN_LENGTH:
            raise AccessConfigError(
                f"--token-env {token_env}: the token is {len(value)} characters; use at least {MIN_TOKEN_LENGTH}"
            )
        if any(character.isspace() or not character.isprintable() for character in value):
            raise AccessConfigError(f"--token-env {token_env}: the token must not contain spaces or control characters")
        return AccessToken(value=value, generated=False, source=f"${token_env}")
    if is_loopback_host(host):
        return None
    return AccessToken(value=secrets.token_urlsafe(GENERATED_TOKEN_BYTES), generated=True, source="generated")


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _is_https(request: web.Request) -> bool:
    # Behind a TLS-terminating reverse proxy the proxy says so; only the cookie's Secure flag depends on it.
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def _host_and_port(authority: str, scheme: str) -> tuple[str, int | None] | None:
    try:
        url = URL(f"{scheme}://{authority}")
        return (url.host or "").lower().rstrip("."), url.port
    except ValueError:
        return None


def same_origin(origin: str, authorities: list[str]) -> bool:
    """Whether a browser's Origin names one of the authorities (Host, X-Forwarded-Host) this request came to."""
    try:
        origin_url = URL(origin)
    except ValueError:
        return False
    if origin_url.scheme not in ("http", "https") or not origin_url.host:
        return False  # "null" (sandboxed frames, file: pages) and anything odd
    wanted = (origin_url.host.lower().rstrip("."), origin_url.port)
    for authority in authorities:
        if authority and _host_and_port(authority.split(",")[0].strip(), origin_url.scheme) == wanted:
            return True
    return False


def _refuse(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=f"{status}: {text}\n", headers=headers)


class AccessGuard:
    """The aiohttp middleware enforcing the three checks for one server."""

    def __init__(self, token: AccessToken | None) -> None:
        self._token = token.value.encode() if token else None

    @property
    def requires_token(self) -> bool:
        return self._token is not None

    def _valid(self, presented: str | None) -> bool:
        return (
            self._token is not None
            and presented is not None
            and hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), self._token)
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token is None:
            host = _host_and_port(request.headers.get("Host", ""), "http")
            if host is None or not is_loopback_host(host[0]):
                return _refuse(
                    403,
                    "this server answers only to localhost addresses; to reach it by another name, "
                    "start it with an access token (--token-env)",
                )
        if _is_websocket(request):
            origin = request.headers.get("Origin")
            authorities = [request.headers.get("Host", ""), request.headers.get("X-Forwarded-Host", "")]
            if origin is not None and not same_origin(origin, authorities):
                return _refuse(403, "a websocket from another site's page is refused")
        if self._token is None:
            return await handler(request)

        from_query = request.query.get(TOKEN_QUERY)
        authorization = request.headers.get("Authorization", "")
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        for presented in (from_query, request.cookies.get(COOKIE_NAME), bearer):
            if self._valid(presented):
                break
        else:
            return _refuse(
                401,
                "an access token is required: open the address printed by `comfyq serve` (it ends in ?token=...)",
                **{"WWW-Authenticate": 'Bearer realm="comfyq"'},
            )
        if from_query is not None and request.method == "GET" and not _is_websocket(request):
            # Move the token from the address into a cookie, so it leaves the address bar and the history.
            response = web.HTTPSeeOther(location=str(request.rel_url.without_query_params(TOKEN_QUERY)))
            response.set_cookie(
                COOKIE_NAME,
                self._token.decode(),
                path="/",
                httponly=True,
                samesite="Strict",
                secure=_is_https(request),
            )
            return response
        return await handler(request)
