"""Nothing hangs (issue 11, item 3): every request has an overall deadline and a capped body.

The hostile look-alike drips its answers one byte at a time (a per-read timeout never fires) or sends a body that
never ends. Every request must give up at its deadline, the poller keep cycling, `--timeout` bound the command, and
the profile show as degraded with the reason.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.helpers import (
    Cli, assert_clean_output, json_lines, popen_to_files, running, stored_jobs, write_config,
)
from tests.faults.hostile import HostileServer, hostile_cli
from tui.core.backends.http import AnswerTooLarge, DeadlineExceeded, fetch


# ------------------------------------------------------------------------------------------- the shared helper


def test_fetch_gives_up_on_a_dripping_answer_at_its_deadline(hostile: HostileServer) -> None:
    hostile.set("queue", "drip", drip_seconds=0.2)

    async def go() -> float:
        async with httpx.AsyncClient(timeout=5.0) as client:
            began = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await fetch(client, "GET", f"{hostile.url}/queue", deadline=1.0, max_bytes=1 << 20)
            return time.monotonic() - began

    assert asyncio.run(go()) < 3.0  # per read it never timed out (a byte every 0.2 s < 5 s)


@pytest.mark.parametrize("mode", ["endless", "huge"])
def test_fetch_stops_reading_at_the_cap(hostile: HostileServer, mode: str) -> None:
    hostile.set("history", mode, huge_bytes=4 << 20)

    async def go() -> str:
        async with httpx.AsyncClient(timeout=5.0) as client:
            with pytest.raises(AnswerTooLarge) as raised:
                await fetch(client, "GET", f"{hostile.url}/history", deadline=20.0, max_bytes=1 << 20)
            return str(raised.value)

    message = asyncio.run(go())
    assert "larger than 1 MB" in message and "max_response_mb" in message


# ------------------------------------------------------------------------------------------- the commands


@pytest.mark.parametrize("route", ["prompt", "queue", "history"])
def test_submit_wait_ends_within_its_timeout_whatever_drips(
    tmp_path: Path, hostile: HostileServer, workflow_file: Path, route: str
) -> None:
    hostile.set(route, "drip", drip_seconds=0.3)
    cli = hostile_cli(tmp_path, hostile, request_timeout=1.0)
    began = time.monotonic()
    result = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "6", "--json", timeout=60)
    took = time.monotonic() - began
    assert_clean_output(result.stdout, result.stderr)
    # --timeout bounds the command (start-up and the last report on top of it), never "forever".
    assert took < 6 + 8, (took, result.stderr)
    assert result.returncode in (1, 3), result.stderr
    (job,) = json_lines(result.stdout)
    assert job["state"] != "submitting", job
    if route != "prompt":
        assert "in time" in result.stderr, result.stderr


def test_endless_history_hits_the_cap_and_says_so(tmp_path: Path, hostile: HostileServer, workflow_file: Path) -> None:
    hostile.set("history", "endless")
    cli = hostile_cli(tmp_path, hostile, request_timeout=20, extra=["max_response_mb = 0.5"])
    result = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "5", timeout=60)
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == 3, result.stderr
    assert "larger than 512 KB" in result.stderr and "max_response_mb" in result.stderr, result.stderr


def test_api_edition_submit_gives_up_on_a_dripping_queue(tmp_path: Path, hostile: HostileServer, workflow_file: Path) -> None:
    hostile.set("api_prompt", "drip", drip_seconds=0.6)
    config = (
        "[defaults]\nrequest_timeout = 1\n\n[profiles.api]\nedition = \"api\"\n"
        f'input_url = "{hostile.api_input_url}"\ntoken = "hostile-token-0123"\n'
    )
    cli = Cli(write_config(tmp_path / "config.toml", config), tmp_path / "data")
    began = time.monotonic()
    result = cli.run("submit", str(workflow_file), "-p", "api", "--json", timeout=60)
    assert time.monotonic() - began < 10, result.stderr
    assert result.returncode == 3, result.stderr
    (job,) = json_lines(result.stdout)
    assert job["state"] == "failed" and job["failure"]["category"] == "transport", job
    assert "in time" in job["failure"]["message"]


def test_a_dripping_queue_keeps_the_poller_cycling_and_shows_degraded(
    tmp_path: Path, hostile: HostileServer, workflow_file: Path
) -> None:
    cli = hostile_cli(tmp_path, hostile, request_timeout=1.0)
    submitted = cli.run("submit", str(workflow_file), "-p", "hostile", "--json")
    assert submitted.returncode == 0, submitted.stderr
    hostile.set("queue", "drip", drip_seconds=0.5)
    hostile.requests.clear()
    process, out_path, err_path = popen_to_files(cli, "watch", name="watch")
    with running(process):
        time.sleep(8)
        process.send_signal(signal.SIGINT)
        process.wait(20)
    err = err_path.read_text(encoding="utf-8")
    assert "hostile: degraded" in err and "did not answer GET /queue in time" in err, err
    asked = [answer for answer in hostile.requests.answers(lambda answer: answer.path.endswith("/queue"))]
    # A request gives up after 1 s, and the poller asks again (backing off): more than the 1-2 a stall allowed.
    assert len(asked) >= 3, asked
    assert [job.state.value for job in stored_jobs(cli.store_file)] == ["queued"]
