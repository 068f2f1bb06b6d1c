"""Clear errors and the right exit codes (issue 11, items 5 and 9): arguments out of range or not text are usage
errors, and output cut short by its reader ends quietly with 141 for every command, like `jobs`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.faults.helpers import Cli, assert_clean_output, json_lines, write_config
from tests.faults.hostile import HostileConfig, HostileServer, Outputs
from tests.integration.cli_helpers import REPO, cli_env

LOCAL = '[profiles.x]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n'


def run_bytes(cli: Cli, *args: bytes) -> subprocess.CompletedProcess[str]:
    argv = [os.fsencode(part) for part in cli.argv()] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO, env=cli_env())


@pytest.mark.parametrize(
    "args",
    [
        [b"show", b"\xff"],
        [b"wait", b"\xfe\xff"],
        [b"jobs", b"--limit", b"1" + b"0" * 40],
        [b"jobs", b"--limit", b"-3"],
        [b"wait", b"abc", b"--timeout", b"1e300"],
        [b"wait", b"abc", b"--timeout", b"nan"],
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[bytes]) -> None:
    cli = Cli(write_config(tmp_path / "config.toml", LOCAL), tmp_path / "data")
    result = run_bytes(cli, *args)
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 2, result
    assert "unexpected error" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3, result.stderr


def piped_to_head(cli: Cli, *args: str) -> tuple[int, str]:
    """Run `comfyq ARGS | head -c 1`: the reader leaves after one byte."""
    process = subprocess.Popen(cli.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=cli_env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(1)
    process.stdout.close()
    err = process.stderr.read().decode()
    return process.wait(60), err


def test_output_cut_short_ends_quietly_with_141(tmp_path: Path, workflow_file: Path) -> None:
    server = HostileServer()
    try:
        many = tuple(f"file_{n:05d}_with_a_long_enough_name_to_fill_the_pipe.png" for n in range(30_000))  # several MB: more than any pipe holds
        server.outputs = Outputs(filenames=many)
        profiles = "".join(f'[profiles.p{n}]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n' for n in range(3000))
        cli = Cli(write_config(tmp_path / "config.toml", HostileConfig(server).text() + profiles), tmp_path / "data")
        done = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "60", "--json")
        assert done.returncode == 0, done.stderr
        (job,) = json_lines(done.stdout)
        for args in (("show", job["id"]), ("show", job["id"], "--json"), ("config", "check"),
                     ("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "60"),
                     ("jobs", "--json")):
            code, err = piped_to_head(cli, *args)
            assert code == 141, (args, code, err)
            assert "Traceback" not in err and "error" not in err.lower(), (args, err)
    finally:
        server.close()
