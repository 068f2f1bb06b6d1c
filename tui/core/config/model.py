"""The config model: profiles and settings as comfyq uses them once a file has been read and checked.

Frozen dataclasses, built by tui/core/config/parser.py (which reports every problem as `PATH:LINE: KEY: message`);
no I/O here. `builtin_config()` is what runs when there is no config file: any ComfyUI on this machine.
"""

from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tui.core import secrets
from tui.core.jobs import Edition, FailureCategory

RETRYABLE_CATEGORIES = frozenset({FailureCategory.TRANSPORT.value, FailureCategory.EXECUTION.value})
API_PATH = re.compile(r"^/api/predict/([^/]+)/?$")
BUILTIN_LOCAL_URL = "http://127.0.0.1:8188"


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
    return Config(path=None, profiles={"local": make_local_profile()}, defaults=Defaults(), uses_builtin_profile=True)


def make_local_profile() -> Profile:
    return Profile(
        name="local",
        edition=Edition.DEDICATED,
        url=BUILTIN_LOCAL_URL,
        client_id=stable_client_id("local", BUILTIN_LOCAL_URL),
    )


def stable_client_id(name: str, url: str) -> str:
    # Stable across runs so a restarted comfyq sees the same websocket stream / queue entries as its own.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyq:{name}:{url}"))
