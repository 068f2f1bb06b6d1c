"""Automatic retries are followed (issue 11, item 4): `submit --wait` and `wait` report a job's last attempt.

`retry = {max = 2, on = ["transport"]}` means two retries (three attempts). The hostile look-alike resets the first
POSTs before taking the prompt; the retry is accepted and succeeds.
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.helpers import Cli, assert_clean_output, json_lines, stored_jobs
from tests.faults.hostile import HostileServer, hostile_cli


def cli_for(tmp_path: Path, server: HostileServer) -> Cli:
    return hostile_cli(tmp_path, server, extra=['retry = { max = 2, on = ["transport"] }'])


def test_submit_wait_reports_the_accepted_retry(tmp_path: Path, hostile: HostileServer, workflow_file: Path) -> None:
    hostile.set("prompt", "reset", times=1)
    cli = cli_for(tmp_path, hostile)
    result = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "60", "--json")
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    (job,) = json_lines(result.stdout)
    assert job["state"] == "succeeded" and job["attempt"] == 2, job
    first = next(stored for stored in stored_jobs(cli.store_file) if stored.attempt == 1)
    assert job["parent_id"] == first.id

    # `wait` on the first attempt, in a new process, reports the last one too.
    waited = cli.run("wait", first.id[:8], "--json", "--timeout", "30")
    assert waited.returncode == 0, waited.stderr
    (last,) = json_lines(waited.stdout)
    assert last["id"] == job["id"] and last["state"] == "succeeded"


def test_max_two_means_three_attempts(tmp_path: Path, hostile: HostileServer, workflow_file: Path) -> None:
    hostile.set("prompt", "reset", times=10)
    cli = cli_for(tmp_path, hostile)
    result = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "60", "--json")
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 3, result.stderr  # every attempt failed to reach the service
    (job,) = json_lines(result.stdout)
    assert job["attempt"] == 3 and job["state"] == "failed", job
    assert sorted(stored.attempt for stored in stored_jobs(cli.store_file)) == [1, 2, 3]
