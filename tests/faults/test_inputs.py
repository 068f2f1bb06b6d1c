"""Bad input is refused with one clear line (issue 11, items 2, 5 and 9): secrets outside the token field, files that
never end, deep nesting, values no server can take, and errors that would list every profile."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.faults.helpers import Cli, assert_clean_output, write_config

LOCAL = '[profiles.x]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n'


def run(tmp_path: Path, config_text: str, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    cli = Cli(write_config(tmp_path / "config.toml", config_text), tmp_path / "data")
    if env:
        os.environ.update(env)
    try:
        result = cli.run(*args, timeout=60)
    finally:
        for key in env or {}:
            os.environ.pop(key, None)
    assert_clean_output(result.stdout, result.stderr)
    return result


# ------------------------------------------------------------------------------------------------ secrets (item 2)


@pytest.mark.parametrize(
    "line, key",
    [
        ('token = "tok-1234\\r\\nX-Evil: 1"', "profiles.x.token"),
        ('token = "tok-1234\\u0000X-Evil"', "profiles.x.token"),
        ('token_env = "EVIL_TEST_TOKEN_FOR_COMFYQ"', "profiles.x.token_env"),
    ],
)
def test_a_token_with_control_characters_is_refused_at_its_line(tmp_path: Path, line: str, key: str) -> None:
    result = run(tmp_path, LOCAL + line + "\n", "config", "check", env={"EVIL_TEST_TOKEN_FOR_COMFYQ": "tok-1234\r\nX-Evil: 1"})
    assert result.returncode == 2, result
    assert f"config.toml:4: {key}: " in result.stderr and "control characters" in result.stderr, result.stderr
    assert "X-Evil" not in result.stdout + result.stderr


@pytest.mark.parametrize("url", ["http://user:s3cretpw@127.0.0.1:9/", "http://s3cretpw@127.0.0.1:9/"])
def test_credentials_in_a_url_are_refused_and_never_shown(tmp_path: Path, url: str) -> None:
    result = run(tmp_path, f'[profiles.x]\nedition = "dedicated"\nurl = "{url}"\n', "config", "check")
    assert result.returncode == 2, result
    assert "config.toml:3: profiles.x.url: " in result.stderr and "token" in result.stderr, result.stderr
    assert "s3cretpw" not in result.stdout + result.stderr


def test_a_url_with_control_characters_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, '[profiles.x]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/\\r\\nX: 1"\n', "config", "check")
    assert result.returncode == 2 and "profiles.x.url" in result.stderr, result


def test_a_config_holding_a_token_warns_when_others_can_read_it(tmp_path: Path) -> None:
    text = LOCAL + 'token = "tok-0123456789"\n'
    result = run(tmp_path, text, "config", "check")
    (tmp_path / "config.toml").chmod(0o644)
    wide = Cli(tmp_path / "config.toml", tmp_path / "data").run("config", "check")
    (tmp_path / "config.toml").chmod(0o600)
    narrow = Cli(tmp_path / "config.toml", tmp_path / "data").run("config", "check")
    assert result.returncode == wide.returncode == narrow.returncode == 0
    assert "can be read by others (mode 0644)" in wide.stderr and "chmod 600" in wide.stderr, wide.stderr
    assert "warning" not in narrow.stderr, narrow.stderr


def test_the_data_dir_is_created_private(tmp_path: Path) -> None:
    result = run(tmp_path, LOCAL, "jobs")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


# ------------------------------------------------------------------------------------------------ files (item 5)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge"])
def test_a_config_that_never_ends_is_refused(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "config.toml"
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "dev-zero":
        config = Path("/dev/zero")
    else:
        config.write_bytes(b"# padding\n" * 300_000)  # 3 MB of comments
    result = Cli(config, tmp_path / "data").run("config", "check", timeout=30)
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 2, result
    assert ("not a regular file" if kind != "huge" else "larger than") in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge"])
def test_a_workflow_that_never_ends_is_refused(tmp_path: Path, kind: str) -> None:
    workflow = tmp_path / "workflow.json"
    if kind == "fifo":
        os.mkfifo(workflow)
    elif kind == "dev-zero":
        workflow = Path("/dev/zero")
    else:
        with workflow.open("wb") as handle:
            handle.truncate(33 * 1024 * 1024)
    result = run(tmp_path, LOCAL, "submit", str(workflow), "-p", "x")
    assert result.returncode == 2, result
    assert ("not a regular file" if kind != "huge" else "larger than") in result.stderr, result.stderr


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    deep_toml = LOCAL + "[ui]\ntheme = " + "[" * 50_000 + "]" * 50_000 + "\n"
    result = run(tmp_path, deep_toml, "config", "check")
    assert result.returncode == 2 and "nested too deeply" in result.stderr, result
    workflow = tmp_path / "deep.json"
    workflow.write_text('{"1": {"class_type": "X", "inputs": {"a": ' + "[" * 50_000 + "]" * 50_000 + "}}}")
    result = run(tmp_path, LOCAL, "submit", str(workflow), "-p", "x")
    assert result.returncode == 2 and "nested too deeply" in result.stderr, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ------------------------------------------------------------------------------------------------ validation (item 9)


@pytest.mark.parametrize("value, words", [("NaN", "NaN or Infinity"), ("-Infinity", "NaN or Infinity"),
                                          ('"a\\ud800b"', "lone surrogate")])
def test_values_no_server_can_take_are_refused_before_anything_is_stored(tmp_path: Path, value: str, words: str) -> None:
    workflow = tmp_path / "workflow.json"
    workflow.write_text('{"1": {"class_type": "X", "inputs": {"a": ' + value + "}}}")
    result = run(tmp_path, LOCAL, "submit", str(workflow), "-p", "x")
    assert result.returncode == 2, result
    assert words in result.stderr and 'node 1 input "a"' in result.stderr, result.stderr
    listed = Cli(tmp_path / "config.toml", tmp_path / "data").run("jobs", "--json")
    assert listed.stdout.strip() == "", "a job was stored"


def test_an_unknown_profile_lists_a_few_close_names(tmp_path: Path) -> None:
    text = "".join(f'[profiles.render-{n:03d}]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n' for n in range(300))
    result = run(tmp_path, text, "submit", str(tmp_path / "none.json"), "-p", "render-0x1")
    assert result.returncode == 2, result
    assert "unknown profile" in result.stderr and "300 in all" in result.stderr, result.stderr
    assert result.stderr.count("render-") <= 7, result.stderr
