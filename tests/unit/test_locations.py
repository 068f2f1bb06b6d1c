"""Where the config and data live: flag, then environment variable, then the platform's user dirs."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from tui.core.locations import resolve_locations


def test_defaults_are_the_platform_user_dirs() -> None:
    locations = resolve_locations(env={})
    assert locations.config_file == Path(platformdirs.user_config_dir("comfyq", appauthor=False)) / "config.toml"
    assert locations.data_dir == Path(platformdirs.user_data_dir("comfyq", appauthor=False))
    assert locations.store_file == locations.data_dir / "jobs.sqlite3"
    assert locations.log_file == locations.data_dir / "comfyq.log"
    assert locations.config_explicit is False


def test_environment_variables_override_the_defaults(tmp_path: Path) -> None:
    env = {"COMFYQ_CONFIG": str(tmp_path / "c.toml"), "COMFYQ_DATA_DIR": str(tmp_path / "d")}
    locations = resolve_locations(env=env)
    assert locations.config_file == tmp_path / "c.toml"
    assert locations.data_dir == tmp_path / "d"
    assert locations.store_file == tmp_path / "d" / "jobs.sqlite3"
    assert locations.config_explicit is True


def test_flags_override_the_environment(tmp_path: Path) -> None:
    env = {"COMFYQ_CONFIG": "/elsewhere/c.toml", "COMFYQ_DATA_DIR": "/elsewhere/d"}
    locations = resolve_locations(tmp_path / "flag.toml", str(tmp_path / "flagdata"), env=env)
    assert locations.config_file == tmp_path / "flag.toml"
    assert locations.data_dir == tmp_path / "flagdata"
    assert locations.log_file == tmp_path / "flagdata" / "comfyq.log"
    assert locations.config_explicit is True


def test_empty_environment_values_count_as_unset() -> None:
    locations = resolve_locations(env={"COMFYQ_CONFIG": "", "COMFYQ_DATA_DIR": ""})
    assert locations == resolve_locations(env={})


def test_home_is_expanded() -> None:
    locations = resolve_locations("~/comfyq.toml", "~/comfyq-data", env={})
    assert locations.config_file == Path.home() / "comfyq.toml"
    assert locations.data_dir == Path.home() / "comfyq-data"
