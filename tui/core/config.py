"""Profiles and settings from a TOML file. Every problem is reported as `PATH:LINE: KEY: message`, all of them in
one pass, so a user fixes the whole file at once. Writing back goes through tomlkit so the user's comments and
layout survive an edit made in the TUI.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tui.core.safe_text import visible
from tui.core.atomic_file import write_atomically
from tui.core import secrets
from tui.core.jobs import Edition, FailureCategory
from tui.core.oss import OssPathError, normalize_bucket_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RETRYABLE_CATEGORIES = frozenset({FailureCategory.TRANSPORT.value, FailureCategory.EXECUTION.value})
API_PATH = re.compile(r"^/api/predict/([^/]+)/?$")
BUILTIN_LOCAL_URL = "http://127.0.0.1:8188"


# ----------------------------------------------------------------------------------------------- model


# The sink watch window: results the queue sends before their commit (flow control only; a crash redelivers at most
# this many, which the store ignores). The seed's sample used 5, which costs a round trip every 5 results.
DEFAULT_WINDOW = 64
# How many of a dedicated server's newest /history entries are imported as external jobs (first look, and at most
# per look after): a bound on how far back, and on what one poll may fetch.
DEFAULT_EXTERNAL_HISTORY = 200
MAX_EXTERNAL_HISTORY = 10_000  # ComfyUI keeps no more (MAXIMUM_HISTORY_SIZE)


@dataclass(frozen=True)
class RetryPolicy:
    max: int = 0  # 0 = off (default)
    on: frozenset[str] = frozenset()  # subset of RETRYABLE_CATEGORIES (FailureCategory values)


@dataclass(frozen=True)
class Defaults:
    request_timeout: float = 30.0  # seconds, one HTTP request
    poll_interval: float = 1.0  # dedicated poller while jobs are in flight
    idle_poll_interval: float = 10.0  # dedicated poller when idle
    lost_after: float = 120.0  # seconds a job may be in neither /queue nor /history before it is `lost`
    max_concurrent_submits: int = 8
    max_response_mb: float = 64.0  # the largest answer read (/history, /queue, ...); more is an error, not a hang
    max_submit_response_mb: float = 1.0  # the largest answer to a submit (POST /prompt, api_prompt)
    # One submission (copies × sweep product) makes at most this many jobs; refused before anything is stored.
    max_jobs: int = 10_000
    # The app asks before submitting more jobs than this at once.
    confirm_above: int = 100
    pull_concurrency: int = 8  # files `comfyq pull` fetches at once
    download_dir: str | None = None  # where the detail pane's `d` saves an output (None: the current directory)


NOTIFY_MODES = ("terminal", "bell", "off")


OUTPUT_SOURCES = ("service", "oss")
DEFAULT_OSS_KEY_ID_ENV = "OSS_ACCESS_KEY_ID"
DEFAULT_OSS_KEY_SECRET_ENV = "OSS_ACCESS_KEY_SECRET"
DEFAULT_OSS_SESSION_TOKEN_ENV = "OSS_SESSION_TOKEN"


@dataclass(frozen=True)
class OssSettings:
    """How to read a profile's outputs from OSS. Only the *names* of the credential variables live here: the keys
    themselves are read from the environment when a file is fetched, never stored, never printed."""

    region: str | None = None  # e.g. cn-hangzhou
    endpoint: str | None = None  # e.g. oss-cn-hangzhou-internal.aliyuncs.com, or http://127.0.0.1:PORT (emulator)
    access_key_id_env: str = DEFAULT_OSS_KEY_ID_ENV
    access_key_secret_env: str = DEFAULT_OSS_KEY_SECRET_ENV
    session_token_env: str = DEFAULT_OSS_SESSION_TOKEN_ENV

    @property
    def configured(self) -> bool:
        return bool(self.region)


@dataclass(frozen=True)
class Profile:
    name: str
    edition: Edition
    url: str | None = None  # dedicated: base URL without trailing "/"
    input_url: str | None = None  # api: http://<endpoint>/api/predict/<service>, no trailing "/"
    endpoint: str | None = None  # api: host[:port], derived from input_url unless given
    service: str | None = None  # api: derived from the input_url path unless given
    token: str | None = None  # resolved value (from `token` or the variable named by `token_env`)
    token_env: str | None = None
    oss_bucket_path: str | None = None
    consumer_group: str = "comfyq"  # api: sink watch consumer group (gid)
    window: int = DEFAULT_WINDOW  # api: sink watch window
    client_id: str = ""  # dedicated: stable per profile
    # dedicated: show prompts other clients put on the server (its /queue and recent /history) as external jobs
    external: bool = True
    external_history: int = DEFAULT_EXTERNAL_HISTORY  # dedicated: how many recent /history entries are imported
    request_timeout: float = 30.0
    poll_interval: float = 1.0
    idle_poll_interval: float = 10.0
    lost_after: float = 120.0
    max_concurrent_submits: int = 8
    max_response_mb: float = 64.0
    max_submit_response_mb: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    oss: OssSettings = field(default_factory=OssSettings)
    # Where outputs are read from: "service" (ComfyUI's /view) or "oss" (the bucket the service writes to).
    # Default: the API edition has no /view to ask, so "oss"; dedicated and local ComfyUI "service".
    outputs_from: str = "service"

    @property
    def sink_queue(self) -> str | None:
        return f"{self.service}/sink" if self.edition is Edition.API and self.service else None

    @property
    def host(self) -> str:
        """host[:port] for display."""
        if self.edition is Edition.API:
            if self.endpoint:
                return self.endpoint
            return urlsplit(self.input_url or "").netloc
        return urlsplit(self.url or "").netloc

    @property
    def masked_token(self) -> str:
        return secrets.mask_token(self.token)

    @property
    def token_source(self) -> str:
        """Where the token came from, for `config check`: never the token itself."""
        if self.token_env:
            return f"${self.token_env}"
        if self.token:
            return "config file"
        return "none"


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in a config file; `str()` gives one issue per line."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class Config:
    path: Path | None  # None when the built-in default is used
    profiles: dict[str, Profile]
    defaults: Defaults = field(default_factory=Defaults)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys
    theme: str | None = None
    # No profile is configured yet, so the built-in `local` one is in use (kept when the first one is added).
    uses_builtin_profile: bool = False
    notify: str = "terminal"  # how a finished batch is announced: NOTIFY_MODES

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            pass
        raise ConfigError(
            [ConfigIssue(str(self.path) if self.path else "<built-in>", None, "", f"no profile {self.unknown_profile(name)}")]
        ) from None

    def unknown_profile(self, name: str) -> str:
        """`'name' (did you mean 'x'?); profiles: a, b, …`: at most a few names, the closest first (a config with
        hundreds of profiles must not print them all in one error)."""
        known = list(self.profiles)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = difflib.get_close_matches(name, known, n=5, cutoff=0.4) or sorted(known)[:5]
        listing = ", ".join(shown) if shown else "none"
        if len(known) > len(shown):
            listing += f", … ({len(known)} in all: `comfyq config check` lists them)"
        return f"{name!r}{hint}; profiles: {listing}"


def builtin_config() -> Config:
    """Used when there is no config file: any ComfyUI on this machine, no token."""
    return Config(path=None, profiles={"local": _make_local_profile()}, defaults=Defaults(), uses_builtin_profile=True)


def _make_local_profile() -> Profile:
    return Profile(
        name="local",
        edition=Edition.DEDICATED,
        url=BUILTIN_LOCAL_URL,
        client_id=_stable_client_id("local", BUILTIN_LOCAL_URL),
    )


def _stable_client_id(name: str, url: str) -> str:
    # Stable across runs so a restarted comfyq sees the same websocket stream / queue entries as its own.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyq:{name}:{url}"))


# ----------------------------------------------------------------------------------------------- line finder


_BARE_KEY = r"[A-Za-z0-9_-]+"
_KEY_PART = rf"(?:{_BARE_KEY}|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_KEY_PART)


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for match in _PART_RE.finditer(dotted):
        part = match.group(0)
        if part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


class _LineIndex:
    """Where each table header and key sits in the source text (1-based lines), for error messages."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = False
                continue
            header = _HEADER_RE.match(line)
            if header and not line.lstrip().startswith("[["):
                table = _split_key(header.group(1))
                for end in range(1, len(table) + 1):  # `[a.b]` also defines `a` here, unless seen before
                    self.lines.setdefault(table[:end], number)
                continue
            key = _KEY_RE.match(line)
            if key:
                full = table + _split_key(key.group(1))
                self.lines.setdefault(full, number)
                # Implicit parents of a dotted key (`a.b = 1`) get the same line if not seen yet.
                for end in range(len(table) + 1, len(full)):
                    self.lines.setdefault(full[:end], number)
                value = line[key.end() :]
                if value.count('"""') % 2 == 1 or value.count("'''") % 2 == 1:
                    in_multiline = True

    def find(self, *key: str) -> int | None:
        """The key's line, else its nearest enclosing table's line."""
        for end in range(len(key), 0, -1):
            line = self.lines.get(tuple(key[:end]))
            if line is not None:
                return line
        return None


# ----------------------------------------------------------------------------------------------- parsing


PROFILE_KEYS = (
    "edition",
    "url",
    "input_url",
    "endpoint",
    "service",
    "token",
    "token_env",
    "oss_bucket_path",
    "consumer_group",
    "window",
    "client_id",
    "external",
    "external_history",
    "request_timeout",
    "poll_interval",
    "idle_poll_interval",
    "lost_after",
    "max_concurrent_submits",
    "max_response_mb",
    "max_submit_response_mb",
    "retry",
    "oss_region",
    "oss_endpoint",
    "oss_access_key_id_env",
    "oss_access_key_secret_env",
    "oss_session_token_env",
    "outputs_from",
)
API_ONLY_KEYS = ("input_url", "endpoint", "service", "consumer_group", "window")
DEDICATED_ONLY_KEYS = ("url", "client_id", "external", "external_history")
DEFAULT_KEYS = (
    "request_timeout",
    "poll_interval",
    "idle_poll_interval",
    "lost_after",
    "max_concurrent_submits",
    "max_response_mb",
    "max_submit_response_mb",
    "max_jobs",
    "confirm_above",
    "pull_concurrency",
    "download_dir",
)
MAX_PULL_CONCURRENCY = 64
TOP_LEVEL_KEYS = ("defaults", "profiles", "keymap", "ui")
UI_KEYS = ("theme", "notify")
RETRY_KEYS = ("max", "on")
_FLOAT_SETTINGS = (
    "request_timeout",
    "poll_interval",
    "idle_poll_interval",
    "lost_after",
    "max_response_mb",
    "max_submit_response_mb",
)


# Control characters (C0, DEL, C1): never valid in a token or a URL (a "\r\n" in a token would add a header).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _suggest(key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(valid)})"


class _Parser:
    def __init__(self, text: str, path: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.path = path
        self.env = env
        self.issues: list[ConfigIssue] = []
        self.index = _LineIndex(text)

    def issue(self, key_path: tuple[str, ...], message: str) -> None:
        self.issues.append(ConfigIssue(self.path, self.index.find(*key_path), ".".join(key_path), message))

    # ---- typed readers: report and return None when the value is unusable

    def read_str(self, table: Mapping[str, Any], where: tuple[str, ...], key: str, *, required: bool = False) -> str | None:
        if key not in table:
            if required:
                self.issue(where + (key,), "missing key")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.issue(where + (key,), f"expected a string, got {_type_name(value)}")
            return None
        if not value.strip():
            self.issue(where + (key,), "must not be empty")
            return None
        return value.strip()

    def read_number(self, table: Mapping[str, Any], where: tuple[str, ...], key: str, default: float) -> float:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            unit = "megabytes" if key.endswith("_mb") else "seconds"
            self.issue(where + (key,), f"expected a number of {unit}, got {_type_name(value)}")
            return default
        if not value > 0:
            self.issue(where + (key,), f"must be greater than 0, got {value}")
            return default
        if value == float("inf"):
            self.issue(where + (key,), "must be a finite number (every wait and every cap has an end)")
            return default
        return float(value)

    def read_bool(self, table: Mapping[str, Any], where: tuple[str, ...], key: str, default: bool) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            self.issue(where + (key,), f"expected true or false, got {_type_name(value)}")
            return default
        return value

    def read_int(self, table: Mapping[str, Any], where: tuple[str, ...], key: str, default: int, minimum: int) -> int:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.issue(where + (key,), f"expected an integer, got {_type_name(value)}")
            return default
        if value < minimum:
            self.issue(where + (key,), f"must be at least {minimum}, got {value}")
            return default
        return value

    def read_url(self, table: Mapping[str, Any], where: tuple[str, ...], key: str, *, required: bool) -> str | None:
        value = self.read_str(table, where, key, required=required)
        if value is None:
            return None
        if _CONTROL.search(value) or any(char.isspace() for char in value):
            self.issue(where + (key,), f"bad URL {visible(value)!r}: control characters and spaces are not allowed")
            return None
        netloc = value.split("://", 1)[-1].split("/", 1)[0]
        if "@" in netloc:
            # A password in the URL would be sent as Basic auth and shown in every message: never echo it.
            secrets.register_secret(netloc.rsplit("@", 1)[0])
            self.issue(
                where + (key,),
                "credentials in the URL (user:password@) are refused: put the secret in `token` "
                "(or name an environment variable with `token_env`) and remove it from the URL",
            )
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as error:
            self.issue(where + (key,), f"bad URL {value!r}: {error}")
            return None
        if parts.scheme.lower() not in ("http", "https"):
            self.issue(where + (key,), f"bad URL {value!r}: the scheme must be http or https")
            return None
        if not parts.hostname:
            self.issue(where + (key,), f"bad URL {value!r}: no host")
            return None
        if parts.query or parts.fragment:
            self.issue(where + (key,), f"bad URL {value!r}: no query or fragment allowed")
            return None
        return value.rstrip("/")

    # ---- sections

    def parse(self) -> Config | None:
        try:
            data = tomllib.loads(self.text)
        except RecursionError:
            self.issues.append(ConfigIssue(self.path, None, "", "TOML nested too deeply (arrays or tables inside each other)"))
            return None
        except tomllib.TOMLDecodeError as error:
            message = str(error)
            match = re.search(r"\(at line (\d+), column (\d+)\)", message)
            if match:
                reason = message[: match.start()].strip()
                self.issues.append(
                    ConfigIssue(self.path, int(match.group(1)), "", f"TOML syntax error: {reason} (column {match.group(2)})")
                )
            elif message.endswith("(at end of document)"):
                reason = message[: -len("(at end of document)")].strip()
                last_line = max(1, len(self.text.splitlines()))
                self.issues.append(ConfigIssue(self.path, last_line, "", f"TOML syntax error: {reason} (at the end of the file)"))
            else:
                self.issues.append(ConfigIssue(self.path, None, "", f"TOML syntax error: {message}"))
            return None
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.issue((key,), f"unknown key{_suggest(key, TOP_LEVEL_KEYS)}")
        defaults = self.parse_defaults(data.get("defaults", {}))
        keymap = self.parse_keymap(data.get("keymap", {}))
        theme, notify = self.parse_ui(data.get("ui", {}))
        profiles = self.parse_profiles(data, defaults)
        if not profiles and "profiles" not in data:
            # Only [ui], [keymap] or [defaults] so far: the app runs on the built-in profile until one is added.
            return Config(path=None, profiles={"local": _make_local_profile()}, defaults=defaults, keymap=keymap,
                          theme=theme, notify=notify, uses_builtin_profile=True)
        return Config(path=None, profiles=profiles, defaults=defaults, keymap=keymap, theme=theme, notify=notify)

    def expect_table(self, value: Any, where: tuple[str, ...]) -> bool:
        if isinstance(value, dict):
            return True
        self.issue(where, f"expected a table, got {_type_name(value)}")
        return False

    def parse_defaults(self, table: Any) -> Defaults:
        where = ("defaults",)
        if not self.expect_table(table, where):
            return Defaults()
        for key in table:
            if key not in DEFAULT_KEYS:
                self.issue(where + (key,), f"unknown key{_suggest(key, DEFAULT_KEYS)}")
        base = Defaults()
        values: dict[str, Any] = {
            key: self.read_number(table, where, key, getattr(base, key)) for key in _FLOAT_SETTINGS
        }
        values["max_concurrent_submits"] = self.read_int(table, where, "max_concurrent_submits", base.max_concurrent_submits, 1)
        values["max_jobs"] = self.read_int(table, where, "max_jobs", base.max_jobs, 1)
        values["confirm_above"] = self.read_int(table, where, "confirm_above", base.confirm_above, 1)
        values["pull_concurrency"] = self.read_int(table, where, "pull_concurrency", base.pull_concurrency, 1)
        if values["pull_concurrency"] > MAX_PULL_CONCURRENCY:
            self.issue(where + ("pull_concurrency",), f"at most {MAX_PULL_CONCURRENCY}")
            values["pull_concurrency"] = MAX_PULL_CONCURRENCY
        values["download_dir"] = self.read_str(table, where, "download_dir")
        return Defaults(**values)

    def parse_keymap(self, table: Any) -> dict[str, str]:
        if not self.expect_table(table, ("keymap",)):
            return {}
        keymap: dict[str, str] = {}

        def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
            # `main.submit = "ctrl+s"` is a dotted key, so TOML nests it: flatten back to the binding id.
            for key, value in node.items():
                path = prefix + (key,)
                if isinstance(value, dict):
                    walk(value, path)
                elif isinstance(value, str) and value.strip():
                    keymap[".".join(path)] = value.strip()
                else:
                    self.issue(("keymap",) + path, f"expected keys as a string (e.g. \"ctrl+s\"), got {_type_name(value)}")

        walk(table, ())
        return keymap

    def parse_ui(self, table: Any) -> tuple[str | None, str]:
        where = ("ui",)
        if not self.expect_table(table, where):
            return None, "terminal"
        for key in table:
            if key not in UI_KEYS:
                self.issue(where + (key,), f"unknown key{_suggest(key, UI_KEYS)}")
        notify = self.read_str(table, where, "notify") or "terminal"
        if notify not in NOTIFY_MODES:
            self.issue(where + ("notify",), f"expected one of {', '.join(NOTIFY_MODES)}, got {notify!r}")
            notify = "terminal"
        return self.read_str(table, where, "theme"), notify

    def parse_profiles(self, data: Mapping[str, Any], defaults: Defaults) -> dict[str, Profile]:
        profiles: dict[str, Profile] = {}
        if "profiles" not in data:
            return profiles  # the built-in profile is used (see parse)
        table = data["profiles"]
        if not self.expect_table(table, ("profiles",)):
            return profiles
        if not table:
            self.issue(("profiles",), "no profiles: add at least one [profiles.NAME] table")
        for name, body in table.items():
            profile = self.parse_profile(name, body, defaults)
            if profile is not None:
                profiles[name] = profile
        return profiles

    def parse_profile(self, name: str, body: Any, defaults: Defaults) -> Profile | None:
        where = ("profiles", name)
        if not self.expect_table(body, where):
            return None
        before = len(self.issues)
        if not name.strip():
            self.issue(where, "a profile name must not be empty")
        for key in body:
            if key not in PROFILE_KEYS:
                self.issue(where + (key,), f"unknown key{_suggest(key, PROFILE_KEYS)}")

        edition: Edition | None = None
        edition_text = self.read_str(body, where, "edition", required=True)
        if edition_text is not None:
            try:
                edition = Edition(edition_text)
            except ValueError:
                self.issue(where + ("edition",), f"unknown edition {edition_text!r} (expected 'api' or 'dedicated')")

        url = input_url = endpoint = service = None
        client_id = ""
        external, external_history = True, DEFAULT_EXTERNAL_HISTORY
        consumer_group = "comfyq"
        window = DEFAULT_WINDOW
        if edition is Edition.API:
            for key in DEDICATED_ONLY_KEYS:
                if key in body:
                    hint = " (that takes input_url)" if key == "url" else ""
                    self.issue(where + (key,), f"not used by edition = \"api\"{hint}")
            input_url = self.read_url(body, where, "input_url", required=True)
            endpoint = self.read_str(body, where, "endpoint")
            service = self.read_str(body, where, "service")
            if endpoint is not None and ("/" in endpoint or "://" in endpoint):
                self.issue(where + ("endpoint",), f"expected host[:port], got {endpoint!r}")
            if service is not None and "/" in service:
                self.issue(where + ("service",), f"expected a service name without '/', got {service!r}")
            if input_url is not None:
                parts = urlsplit(input_url)
                endpoint = endpoint or parts.netloc
                match = API_PATH.match(parts.path)
                if match:
                    service = service or match.group(1)
                elif service is None:
                    self.issue(
                        where + ("input_url",),
                        f"cannot find the service in {input_url!r}: expected http://<endpoint>/api/predict/<service>"
                        " (or give service = \"...\")",
                    )
            consumer_group = self.read_str(body, where, "consumer_group") or consumer_group
            window = self.read_int(body, where, "window", window, 1)
        elif edition is Edition.DEDICATED:
            for key in API_ONLY_KEYS:
                if key in body:
                    hint = " (that takes url)" if key == "input_url" else ""
                    self.issue(where + (key,), f"not used by edition = \"dedicated\"{hint}")
            url = self.read_url(body, where, "url", required=True)
            client_id = self.read_str(body, where, "client_id") or (_stable_client_id(name, url) if url else "")
            external = self.read_bool(body, where, "external", external)
            external_history = self.read_int(body, where, "external_history", external_history, 0)
            if external_history > MAX_EXTERNAL_HISTORY:
                self.issue(
                    where + ("external_history",),
                    f"must be at most {MAX_EXTERNAL_HISTORY} (ComfyUI keeps no more history), got {external_history}",
                )

        token = self.read_token(body, where)
        token_env = body.get("token_env") if isinstance(body.get("token_env"), str) else None

        bucket = self.read_str(body, where, "oss_bucket_path")
        if bucket is not None:
            try:
                bucket = normalize_bucket_path(bucket)
            except OssPathError as error:
                self.issue(where + ("oss_bucket_path",), str(error))
                bucket = None

        oss = self.read_oss(body, where)
        outputs_from = self.read_str(body, where, "outputs_from")
        if outputs_from is None:
            outputs_from = "oss" if edition is Edition.API else "service"
        elif outputs_from not in OUTPUT_SOURCES:
            self.issue(where + ("outputs_from",), f"expected \"service\" or \"oss\", got {outputs_from!r}")
        elif outputs_from == "service" and edition is Edition.API:
            self.issue(where + ("outputs_from",), "the API edition has no /view to read from: use \"oss\"")

        timing = {key: self.read_number(body, where, key, getattr(defaults, key)) for key in _FLOAT_SETTINGS}
        max_submits = self.read_int(body, where, "max_concurrent_submits", defaults.max_concurrent_submits, 1)
        retry = self.read_retry(body, where)

        if edition is None or len(self.issues) > before:
            return None
        return Profile(
            name=name,
            edition=edition,
            url=url,
            input_url=input_url,
            endpoint=endpoint,
            service=service,
            token=token,
            token_env=token_env,
            oss_bucket_path=bucket,
            consumer_group=consumer_group,
            window=window,
            client_id=client_id,
            external=external,
            external_history=external_history,
            max_concurrent_submits=max_submits,
            retry=retry,
            oss=oss,
            outputs_from=outputs_from,
            **timing,
        )

    def read_oss(self, body: Mapping[str, Any], where: tuple[str, ...]) -> OssSettings:
        region = self.read_str(body, where, "oss_region")
        endpoint = self.read_str(body, where, "oss_endpoint")
        names = {}
        for key, default in (
            ("oss_access_key_id_env", DEFAULT_OSS_KEY_ID_ENV),
            ("oss_access_key_secret_env", DEFAULT_OSS_KEY_SECRET_ENV),
            ("oss_session_token_env", DEFAULT_OSS_SESSION_TOKEN_ENV),
        ):
            name = self.read_str(body, where, key)
            if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                # A key pasted where its variable's name belongs would otherwise sit in the config file.
                self.issue(where + (key,), "expected the NAME of an environment variable (letters, digits, _)")
                name = None
            names[key] = name or default
        if endpoint is not None and "://" in endpoint and not endpoint.startswith(("http://", "https://")):
            self.issue(where + ("oss_endpoint",), f"expected host[:port] or an http(s):// URL, got {endpoint!r}")
        return OssSettings(
            region=region,
            endpoint=endpoint,
            access_key_id_env=names["oss_access_key_id_env"],
            access_key_secret_env=names["oss_access_key_secret_env"],
            session_token_env=names["oss_session_token_env"],
        )

    def read_token(self, body: Mapping[str, Any], where: tuple[str, ...]) -> str | None:
        if "token" in body and "token_env" in body:
            self.issue(where + ("token_env",), "give either token or token_env, not both")
            token = body.get("token")
            if isinstance(token, str):
                secrets.register_secret(token)  # even a rejected config must not echo it later
            return None
        if "token" in body:
            value = body["token"]
            if not isinstance(value, str):
                self.issue(where + ("token",), f"expected a string, got {_type_name(value)}")
                return None
            secrets.register_secret(value)
            secrets.register_secret(value.strip())
            if not value.strip():
                self.issue(where + ("token",), "must not be empty (remove the key for a service without a token)")
                return None
            if _CONTROL.search(value.strip()):
                self.issue(where + ("token",), "holds control characters (a line break, NUL, ...): copy the token again")
                return None
            return value.strip()
        if "token_env" in body:
            variable = self.read_str(body, where, "token_env")
            if variable is None:
                return None
            value = self.env.get(variable)
            if value is None:
                self.issue(where + ("token_env",), f"environment variable {variable} is not set")
                return None
            secrets.register_secret(value)
            secrets.register_secret(value.strip())
            if not value.strip():
                self.issue(where + ("token_env",), f"environment variable {variable} is empty")
                return None
            if _CONTROL.search(value.strip()):
                self.issue(
                    where + ("token_env",),
                    f"environment variable {variable} holds control characters (a line break, NUL, ...): set it again",
                )
                return None
            return value.strip()
        return None

    def read_retry(self, body: Mapping[str, Any], where: tuple[str, ...]) -> RetryPolicy:
        if "retry" not in body:
            return RetryPolicy()
        where = where + ("retry",)
        table = body["retry"]
        if not self.expect_table(table, where):
            return RetryPolicy()
        for key in table:
            if key not in RETRY_KEYS:
                self.issue(where + (key,), f"unknown key{_suggest(key, RETRY_KEYS)}")
        maximum = self.read_int(table, where, "max", 0, 0)
        on = table.get("on", [])
        valid = sorted(RETRYABLE_CATEGORIES)
        if not isinstance(on, list) or not all(isinstance(item, str) for item in on):
            self.issue(where + ("on",), f"expected an array of strings from {valid}, got {_type_name(on)}")
            return RetryPolicy()
        unknown = [item for item in on if item not in RETRYABLE_CATEGORIES]
        if unknown:
            self.issue(where + ("on",), f"cannot retry on {', '.join(map(repr, unknown))} (choose from {', '.join(valid)})")
            return RetryPolicy()
        if maximum > 0 and not on:
            self.issue(where + ("on",), f"retry max = {maximum} needs on = [...] (choose from {', '.join(valid)})")
        return RetryPolicy(max=maximum, on=frozenset(on))


def parse_config_text(text: str, path: str = "<string>", env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate; raises ConfigError listing every issue found."""
    parser = _Parser(text, path, os.environ if env is None else env)
    config = parser.parse()
    if parser.issues or config is None:
        # In file order, so the user can walk down the file; issues without a line go last.
        raise ConfigError(sorted(parser.issues, key=lambda issue: (issue.line is None, issue.line or 0)))
    return config


def load_config(path: Path | None, *, explicit: bool = False, env: Mapping[str, str] | None = None) -> Config:
    """The config at `path`; the built-in `local` profile when there is no file and none was asked for."""
    if path is None:
        return builtin_config()
    path = Path(path)
    if not path.exists():
        if explicit:
            raise ConfigError([ConfigIssue(str(path), None, "", "config file not found")])
        return builtin_config()
    from tui.core.files import MAX_CONFIG_BYTES, read_capped

    try:
        text = read_capped(path, MAX_CONFIG_BYTES).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([ConfigIssue(str(path), None, "", f"not UTF-8 text ({error.reason} at byte {error.start})")]) from None
    except OSError as error:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read: {error.strerror or error}")]) from None
    config = parse_config_text(text, str(path), env)
    return dataclasses.replace(config, path=path)


def keymap_issues(config: Config, *, known_ids: set[str], themes: set[str]) -> list[ConfigIssue]:
    """[keymap] ids no binding has and a [ui] theme no theme has, each with its line and the closest name.

    The core does not know the app's bindings or Textual's themes: the caller (`config check`) passes them."""
    path = str(config.path) if config.path is not None else "<built-in>"
    try:
        index = _LineIndex(config.path.read_text(encoding="utf-8")) if config.path is not None else _LineIndex("")
    except (OSError, UnicodeDecodeError):
        index = _LineIndex("")
    issues: list[ConfigIssue] = []
    for binding_id in config.keymap:
        if binding_id not in known_ids:
            close = difflib.get_close_matches(binding_id, sorted(known_ids), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else " (`?` in the app lists every binding id)"
            line = index.find("keymap", *binding_id.split("."))
            issues.append(ConfigIssue(path, line, f"keymap.{binding_id}", f"no binding has this id{hint}"))
    if config.theme is not None and config.theme not in themes:
        close = difflib.get_close_matches(config.theme, sorted(themes), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (one of: {', '.join(sorted(themes))})"
        issues.append(ConfigIssue(path, index.find("ui", "theme"), "ui.theme", f"no theme {config.theme!r}{hint}"))
    return issues


# ----------------------------------------------------------------------------------------------- writing back


def _read_document(path: Path) -> Any:
    import tomlkit

    if not path.exists():
        return tomlkit.document()
    text = path.read_text(encoding="utf-8")
    try:
        return tomlkit.parse(text)
    except Exception as error:  # tomlkit's ParseError and friends: the file is broken, do not touch it
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            parse_config_text(text, str(path))  # raises with tomllib's precise line
        raise ConfigError([ConfigIssue(str(path), None, "", f"TOML syntax error: {error}")]) from None


def write_private(path: Path, text: str) -> None:
    """Write a config file comfyq creates: atomically, mode 0600 (it may hold tokens)."""
    write_atomically(Path(path), text)


class _AnyVariable(Mapping[str, str]):
    """An environment where every variable is set: whether `token_env` is set *here* does not decide whether the
    profile may be saved (it may be set where comfyq runs next)."""

    def __getitem__(self, key: str) -> str:
        return "placeholder-token"

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0


def _check_profile_text(path: Path, text: str, name: str) -> None:
    """Refuse to write a profile that would not load (problems elsewhere in the file are not ours to block on)."""
    try:
        parse_config_text(text, str(path), _AnyVariable())
    except ConfigError as error:
        prefix = f"profiles.{name}"
        own = [
            issue
            for issue in error.issues
            if issue.key == prefix or issue.key.startswith(prefix + ".") or not issue.key or issue.key == "profiles"
        ]
        if own:
            raise ConfigError(own) from None


def _toml_value(value: Any) -> Any:
    """Tables given as dicts (e.g. `retry`) are written inline, so a profile stays one block under its header."""
    import tomlkit

    if isinstance(value, Edition):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        for key, item in value.items():
            inline[key] = _toml_value(item)
        return inline
    return value


def _insert_new_profile(text: str, name: str, fields: Mapping[str, Any]) -> str:
    """Put a new `[profiles.NAME]` right after the last line of the last profile, before any comment that
    introduces the next section (tomlkit would append it after that comment)."""
    import tomlkit

    table = tomlkit.table()
    for key, value in fields.items():
        if value is not None:
            table[key] = _toml_value(value)
    profiles = tomlkit.table(is_super_table=True)
    profiles[name] = table
    snippet = tomlkit.document()
    snippet["profiles"] = profiles
    block = tomlkit.dumps(snippet).strip("\n").splitlines()
    lines = text.splitlines()
    index = _LineIndex(text)
    profile_lines = [line for key, line in index.lines.items() if key and key[0] == "profiles"]
    if not profile_lines:
        body = text.rstrip("\n")
        return (body + "\n\n" if body else "") + "\n".join(block) + "\n"
    end = max(profile_lines)  # 1-based: lines[end - 1] is that key's line
    # Continue over a value spanning lines (a multi-line array), stopping at a blank line, comment or header.
    while end < len(lines) and lines[end].strip() and not lines[end].lstrip().startswith(("#", "[")):
        end += 1
    new_lines = lines[:end] + [""] + block + lines[end:]
    if end < len(lines) and lines[end].strip():
        new_lines.insert(end + 1 + len(block), "")
    return "\n".join(new_lines) + "\n"


def _rename_profile_header(text: str, old_name: str, name: str) -> str:
    """Rewrite the `[profiles.OLD]` header line in place (tomlkit would move the table and its spacing)."""
    import tomlkit

    index = _LineIndex(text)
    line_number = index.lines.get(("profiles", old_name))
    lines = text.splitlines(keepends=True)
    header = _HEADER_RE.match(lines[line_number - 1]) if line_number else None
    if header is None or _split_key(header.group(1)) != ("profiles", old_name):
        # Not a plain header (e.g. an inline table under [profiles]): let tomlkit move it.
        document = tomlkit.parse(text)
        table = document["profiles"][old_name]
        document["profiles"].remove(old_name)
        document["profiles"][name] = table
        return tomlkit.dumps(document)
    original = lines[line_number - 1]
    new_key = "profiles." + tomlkit.key(name).as_string()
    lines[line_number - 1] = original[: header.start(1)] + new_key + original[header.end(1) :]
    return "".join(lines)


def save_profile(path: Path, name: str, fields: Mapping[str, Any], *, old_name: str | None = None) -> None:
    """Create or update `[profiles.NAME]`: keys in `fields` are set (a value of None removes the key), all other
    keys, comments and the rest of the file stay as they are. `old_name` renames a profile (in place)."""
    import tomlkit

    path = Path(path)
    if not name or not name.strip():
        raise ConfigError([ConfigIssue(str(path), None, "profiles", "a profile name must not be empty")])
    document = _read_document(path)
    profiles = document.get("profiles")
    renaming = old_name is not None and old_name != name
    if renaming:
        if profiles is not None and name in profiles:
            raise ConfigError([ConfigIssue(str(path), None, f"profiles.{name}", "a profile with this name exists")])
        if profiles is None or old_name not in profiles:
            raise ConfigError([ConfigIssue(str(path), None, f"profiles.{old_name}", "no such profile")])
    if profiles is None or (name not in profiles and not renaming):
        text = _insert_new_profile(document.as_string(), name, fields)
    else:
        table = profiles[old_name if renaming else name]
        for key, value in fields.items():
            if value is None:
                if key in table:
                    table.remove(key)
            else:
                table[key] = _toml_value(value)
        text = tomlkit.dumps(document)
        if renaming:
            text = _rename_profile_header(text, str(old_name), name)
    _check_profile_text(path, text, name)
    write_atomically(path, text)


def delete_profile(path: Path, name: str) -> None:
    """Remove `[profiles.NAME]`, keeping everything else in the file."""
    path = Path(path)
    document = _read_document(path)
    profiles = document.get("profiles")
    if profiles is None or name not in profiles:
        raise ConfigError([ConfigIssue(str(path), None, f"profiles.{name}", "no such profile")])
    text = _remove_profile_block(document.as_string(), name)
    if text is None:  # not a plain [profiles.NAME] block: let tomlkit remove it
        profiles.remove(name)
        text = document.as_string()
    write_atomically(path, text)


def _is_comment_or_blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _remove_profile_block(text: str, name: str) -> str | None:
    """Cut `[profiles.NAME]` (with its sub-tables and the comment lines right above its header) out of the text;
    the comments introducing the next section stay with it. None when the profile is not a header block."""
    lines = text.splitlines(keepends=True)
    start = None
    for number, line in enumerate(lines):
        header = _HEADER_RE.match(line)
        if header and not line.lstrip().startswith("[[") and _split_key(header.group(1)) == ("profiles", name):
            start = number
            break
    if start is None:
        return None
    end = len(lines)
    for number in range(start + 1, len(lines)):
        header = _HEADER_RE.match(lines[number])
        if header and _split_key(header.group(1))[:2] != ("profiles", name):
            end = number
            break
    while end > start + 1 and _is_comment_or_blank(lines[end - 1]):
        end -= 1  # the block before the next header introduces that header
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1  # a comment right above the header describes this profile
    kept = lines[:start] + lines[end:]
    # Do not leave two blank lines where the block was.
    if 0 < start < len(kept) and not kept[start - 1].strip() and not kept[start].strip():
        del kept[start]
    return "".join(kept)


def save_ui_settings(path: Path, *, theme: str | None = None) -> None:
    """Remember UI choices under `[ui]` (None leaves a setting untouched)."""
    import tomlkit

    path = Path(path)
    document = _read_document(path)
    if theme is None:
        return
    if "ui" not in document:
        document.add("ui", tomlkit.table())
    ui = document["ui"]
    if ui.get("theme") == theme:
        return
    ui["theme"] = theme
    write_atomically(path, document.as_string())
