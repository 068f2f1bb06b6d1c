"""Profiles and settings from a TOML file, one concern per module:

- model.py — the config model (Config, Profile, Defaults, ...; frozen dataclasses) and the built-in config.
- parser.py — reading and checking a file: every problem as `PATH:LINE: KEY: message`, all in one pass.
- toml_lines.py — where each header and key of a TOML text sits (for those messages and for layout-keeping edits).
- checks.py — [keymap] ids and the [ui] theme checked against what the app knows.
- writer.py — writing profiles and UI choices back, comments and layout kept, atomically.

`from tui.core.config import X` is the way in for the rest of comfyq; the names below are its public surface.
"""

from __future__ import annotations

from tui.core.config.checks import keymap_issues
from tui.core.config.model import (
    API_PATH,
    BUILTIN_LOCAL_URL,
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
)
from tui.core.config.parser import (
    API_ONLY_KEYS,
    DEDICATED_ONLY_KEYS,
    DEFAULT_KEYS,
    MAX_PULL_CONCURRENCY,
    PROFILE_KEYS,
    RETRY_KEYS,
    TOP_LEVEL_KEYS,
    UI_KEYS,
    load_config,
    parse_config_text,
)
from tui.core.config.writer import delete_profile, save_profile, save_ui_settings, write_private

__all__ = [
    "API_ONLY_KEYS",
    "API_PATH",
    "BUILTIN_LOCAL_URL",
    "DEDICATED_ONLY_KEYS",
    "DEFAULT_EXTERNAL_HISTORY",
    "DEFAULT_KEYS",
    "DEFAULT_OSS_KEY_ID_ENV",
    "DEFAULT_OSS_KEY_SECRET_ENV",
    "DEFAULT_OSS_SESSION_TOKEN_ENV",
    "DEFAULT_WINDOW",
    "MAX_EXTERNAL_HISTORY",
    "MAX_PULL_CONCURRENCY",
    "NOTIFY_MODES",
    "OUTPUT_SOURCES",
    "PROFILE_KEYS",
    "RETRYABLE_CATEGORIES",
    "RETRY_KEYS",
    "TOP_LEVEL_KEYS",
    "UI_KEYS",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Defaults",
    "OssSettings",
    "Profile",
    "RetryPolicy",
    "builtin_config",
    "delete_profile",
    "keymap_issues",
    "load_config",
    "parse_config_text",
    "save_profile",
    "save_ui_settings",
    "write_private",
]
