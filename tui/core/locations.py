"""Where comfyq keeps its config file and its data (job store, log): flags, then env vars, then platformdirs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "comfyq"
CONFIG_ENV = "COMFYQ_CONFIG"
DATA_DIR_ENV = "COMFYQ_DATA_DIR"
STORE_FILENAME = "jobs.sqlite3"
LOG_FILENAME = "comfyq.log"


@dataclass(frozen=True)
class Locations:
    config_file: Path
    data_dir: Path
    store_file: Path
    log_file: Path
    config_explicit: bool  # the user named the config file (so a missing file is an error, not "use the default")


def _expand(value: str | Path) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(str(value))))


def resolve_locations(
    config: str | Path | None = None,
    data_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Locations:
    """`--config` / `--data-dir` win, then $COMFYQ_CONFIG / $COMFYQ_DATA_DIR, then the platform's user dirs."""
    environ = os.environ if env is None else env
    explicit = True
    if config is not None and str(config) != "":
        config_file = _expand(config)
    elif environ.get(CONFIG_ENV):
        config_file = _expand(environ[CONFIG_ENV])
    else:
        config_file = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"
        explicit = False
    if data_dir is not None and str(data_dir) != "":
        data = _expand(data_dir)
    elif environ.get(DATA_DIR_ENV):
        data = _expand(environ[DATA_DIR_ENV])
    else:
        data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return Locations(
        config_file=config_file,
        data_dir=data,
        store_file=data / STORE_FILENAME,
        log_file=data / LOG_FILENAME,
        config_explicit=explicit,
    )
