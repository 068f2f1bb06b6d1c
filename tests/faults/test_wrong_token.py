"""A wrong token: the job fails with category `auth`, the message says unauthorized and names the profile, the
CLI exits 3, the token never shows, and the sources ask again slowly (401s counted on the server's side).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.helpers import (
    FAST,
    Cli,
    Emulator,
    assert_clean_output,
    assert_store_intact,
    json_lines,
    popen_to_files,
    running,
    write_config,
)
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(120)

WRONG = "wrong-token-fault-98765"
PROFILES = ["sim-api", "sim-dedicated"]
# How long `watch` runs against the refusing server (the 401s in it are counted).
WATCH_SECONDS = 5.0


def unauthorized(emulator: Emulator) -> list:
    return emulator.requests.answers(lambda answer: answer.status == 401)


def wrong_cli(tmp_path: Path, emulator: Emulator) -> Cli:
    return Cli(write_config(tmp_path / "wrong.toml", emulator.config_text(token=WRONG)), tmp_path / "data")


def assert_no_token(*texts: str) -> None:
    for text in texts:
        assert WRONG not in text


@pytest.mark.parametrize("profile", PROFILES)
def test_wrong_token_submit_wait_is_auth_exit_3_with_few_attempts(
    tmp_path: Path, emulator: Emulator, workflow_file: Path, profile: str
) -> None:
    cli = wrong_cli(tmp_path, emulator)
    result = cli.run("submit", str(workflow_file), "-p", profile, *FAST, "--wait", "--json", "--timeout", "30")
    assert result.returncode == 3, result.stderr
    assert_clean_output(result.stdout, result.stderr)
    assert_no_token(result.stdout, result.stderr)
    (job,) = json_lines(result.stdout)
    assert job["state"] == "failed"
    assert job["failure"]["category"] == "auth"
    assert "unauthorized" in job["failure"]["message"].lower()
    assert profile in result.stderr and "unauthorized" in result.stderr.lower()
    # One submission, one refusal: nothing was retried in a loop (the sources started for --wait add a handful).
    refused = unauthorized(emulator)
    submissions = [answer for answer in refused if answer.method == "POST"]
    assert len(submissions) == 1, submissions
    assert len(refused) <= 10, emulator.requests.by_source(lambda answer: answer.status == 401)
    assert not emulator.input_puts and not emulator.prompts
    assert_store_intact(cli.store_file, [job["id"]])


@pytest.mark.parametrize("profile", PROFILES)
def test_wrong_token_wait_on_a_job_exits_3_naming_the_profile(
    tmp_path: Path, emulator: Emulator, workflow_file: Path, profile: str
) -> None:
    good = Cli(write_config(tmp_path / "good.toml", emulator.config_text()), tmp_path / "data")
    submitted = good.run("submit", str(workflow_file), "-p", profile, *FAST, "--set", "3.steps=300", "--json")
    assert submitted.returncode == 0, submitted.stderr
    (job,) = json_lines(submitted.stdout)

    # The token was rotated on the service, not yet in the config: `wait` says so at once and does not hang.
    emulator.requests.clear()
    result = wrong_cli(tmp_path, emulator).run("wait", job["id"], "--timeout", "30")
    assert result.returncode == 3, result.stderr
    assert_clean_output(result.stdout, result.stderr)
    assert_no_token(result.stdout, result.stderr)
    assert profile in result.stderr and "unauthorized" in result.stderr.lower()
    assert len(unauthorized(emulator)) <= 3
    assert_store_intact(good.store_file, [job["id"]])


@pytest.mark.parametrize("profile", PROFILES)
def test_wrong_token_watch_reports_auth_once_and_backs_off(tmp_path: Path, emulator: Emulator, profile: str) -> None:
    cli = wrong_cli(tmp_path, emulator)
    process, out, err = popen_to_files(cli, "watch", "-p", profile, name="watch")
    with running(process):
        first = wait_until_sync(lambda: unauthorized(emulator), timeout=30, what="the first refused request")[0]
        wait_until_sync(lambda: time.monotonic() - first.at >= WATCH_SECONDS, timeout=30, what="the observation window")
        window = time.monotonic() - first.at
        refused = unauthorized(emulator)
        assert process.poll() is None, "watch ended instead of waiting for a good token"
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 130
    stderr = err.read_text()
    assert_clean_output(out.read_text(), stderr)
    assert_no_token(out.read_text(), stderr)
    assert profile in stderr and "unauthorized" in stderr.lower()
    # Each source asks again with a growing pause: no more than about once a second, counted on the server.
    per_source = {}
    for answer in refused:
        per_source.setdefault(answer.source, []).append(answer)
    assert per_source, "no source asked at all"
    for source, answers in per_source.items():
        assert len(answers) <= window + 2, (source, len(answers), window)
    # The same error is not printed again on every attempt.
    assert stderr.lower().count("unauthorized") <= 2 * len(per_source), stderr
