"""Reading a config file: TOML parsed with tomllib, every value checked, every problem reported as
`PATH:LINE: KEY: message` (tui/core/config/toml_lines.py finds the line), all of them in one pass, so a user fixes
the whole file at once. Builds the model of tui/core/config/model.py.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tui.core import secrets
from tui.core.config.model import (
    API_PATH,
    DEFAULT_EXTERNAL_HISTORY,
    DEFAULT_OSS_KEY_ID_ENV,
    DEFAULT_OSS_KEY_SECRET_ENV,
    DEFAULT_OSS_SESSION_TOKEN_ENV,
    DEFAULT_WINDOW,
    MAX_EXTERNAL_HISTORY,
    NOTIFY_MODES,
    OUTPUT_SOURCES,
    RETRYABLE_CATEGORIES,
    Config,
    ConfigError,
    ConfigIssue,
    Defaults,
    OssSettings,
    Profile,
    RetryPolicy,
    builtin_config,
    make_local_profile,
    stable_client_id,
)
from tui.core.config.toml_lines import LineIndex
from tui.core.files import MAX_CONFIG_BYTES, read_capped
from tui.core.jobs import Edition
from tui.core.oss import OssPathError, normalize_bucket_path
from tui.core.safe_text import visible
from tui.core.value_kinds import kind_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Numbers read the same way in [defaults] and in a profile (a profile's own value wins).
_FLOAT_SETTINGS = (
    "request_timeout",
    "poll_interval",
    "idle_poll_interval",
    "lost_after",
    "max_response_mb",
    "max_submit_response_mb",
)
# The [defaults] a profile may override for itself; the key lists below are built from it, so a new one is
# accepted in both places or in neither.
PROFILE_OVERRIDABLE_DEFAULTS = _FLOAT_SETTINGS + ("max_concurrent_submits",)
DEFAULT_KEYS = PROFILE_OVERRIDABLE_DEFAULTS + (
    "max_jobs",
    "confirm_above",
    "pull_concurrency",
    "download_dir",
)
API_ONLY_KEYS = ("input_url", "endpoint", "service", "consumer_group", "window")
DEDICATED_ONLY_KEYS = ("url", "client_id", "external", "external_history")
PROFILE_KEYS = (
    "edition",
    "token",
    "token_env",
    "oss_bucket_path",
    *API_ONLY_KEYS,
    *DEDICATED_ONLY_KEYS,
    "retry",
    "oss_region",
    "oss_endpoint",
    "oss_access_key_id_env",
    "oss_access_key_secret_env",
    "oss_session_token_env",
    "outputs_from",
    *PROFILE_OVERRIDABLE_DEFAULTS,
)
MAX_PULL_CONCURRENCY = 64
TOP_LEVEL_KEYS = ("defaults", "profiles", "keymap", "ui")
UI_KEYS = ("theme", "notify")
RETRY_KEYS = ("max", "on")


# Control characters (C0, DEL, C1): never valid in a token or a URL (a "\r\n" in a token would add a header).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _suggest(key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(valid)})"


class _Parser:
    def __init__(self, text: str, path: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.path = path
        self.env = env
        self.issues: list[ConfigIssue] = []
        self.index = LineIndex(text)

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
            self.issue(where + (key,), f"expected a string, got {kind_of(value, 'toml')}")
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
            self.issue(where + (key,), f"expected a number of {unit}, got {kind_of(value, 'toml')}")
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
            self.issue(where + (key,), f"expected true or false, got {kind_of(value, 'toml')}")
            return default
        return value

    def read_int(self, table: Mapping[str, Any], where: tuple[str, ...], key: str, default: int, minimum: int) -> int:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.issue(where + (key,), f"expected an integer, got {kind_of(value, 'toml')}")
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
            return Config(path=None, profiles={"local": make_local_profile()}, defaults=defaults, keymap=keymap,
                          theme=theme, notify=notify, uses_builtin_profile=True)
        return Config(path=None, profiles=profiles, defaults=defaults, keymap=keymap, theme=theme, notify=notify)

    def expect_table(self, value: Any, where: tuple[str, ...]) -> bool:
        if isinstance(value, dict):
            return True
        self.issue(where, f"expected a table, got {kind_of(value, 'toml')}")
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
                    self.issue(("keymap",) + path, f"expected keys as a string (e.g. \"ctrl+s\"), got {kind_of(value, 'toml')}")

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
            client_id = self.read_str(body, where, "client_id") or (stable_client_id(name, url) if url else "")
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
                self.issue(where + ("token",), f"expected a string, got {kind_of(value, 'toml')}")
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
            self.issue(where + ("on",), f"expected an array of strings from {valid}, got {kind_of(on, 'toml')}")
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


def check_toml_syntax(text: str, path: str) -> None:
    """Raise ConfigError, with tomllib's line and column, when `text` is not TOML (nothing else is checked)."""
    try:
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        parse_config_text(text, path)


def load_config(path: Path | None, *, explicit: bool = False, env: Mapping[str, str] | None = None) -> Config:
    """The config at `path`; the built-in `local` profile when there is no file and none was asked for."""
    if path is None:
        return builtin_config()
    path = Path(path)
    if not path.exists():
        if explicit:
            raise ConfigError([ConfigIssue(str(path), None, "", "config file not found")])
        return builtin_config()
    try:
        text = read_capped(path, MAX_CONFIG_BYTES).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([ConfigIssue(str(path), None, "", f"not UTF-8 text ({error.reason} at byte {error.start})")]) from None
    except OSError as error:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read: {error.strerror or error}")]) from None
    config = parse_config_text(text, str(path), env)
    return dataclasses.replace(config, path=path)
