"""Crash safety: `comfyq submit -n 50 --wait` killed with SIGKILL midway, then `comfyq wait` on the same data dir.

Every job the service accepted must end succeeded — none lost, none submitted twice (the emulator counts what it
received per task_id / prompt_id) — and on the API edition the sink must be empty (every result committed).
"""

from __future__ import annotations

import collections
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tui.core.jobs import JobState
from tui.core.store import JobStore

from tests.integration.cli_helpers import Cli, json_lines
from tests.integration.engine_helpers import count_api_puts, sink_attributes, write_config
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(240)

COUNT = 50
# One submission at a time, so a kill can land while rows are still being sent.
SLOW_SENDING = "max_concurrent_submits = 1\n"


def count_dedicated_prompts(server: Any) -> collections.Counter[str]:
    """Count every prompt the ComfyUI emulator put on its queue, by prompt_id."""
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    emulator = server.comfyui
    original = emulator._put  # every accepted POST /prompt goes through here

    def counting(item: Any) -> None:
        with lock:
            counts[str(item.prompt_id)] += 1
        original(item)

    emulator._put = counting
    return counts


def _stored(cli: Cli) -> list:
    if not cli.store_file.exists():
        return []
    store = JobStore(cli.store_file)
    try:
        return store.page(limit=1000)
    finally:
        store.close()


# When to kill: while jobs are still being sent (rows left `submitting`, some maybe received by the service), or
# later, while results are flowing (some delivered to the dead process but not committed).
KILL_POINTS = {
    "while-sending": lambda jobs: sum(job.state is not JobState.SUBMITTING for job in jobs) >= 5,
    "while-running": lambda jobs: sum(job.state is JobState.SUCCEEDED for job in jobs) >= 3,
}


def _kill_midway(cli: Cli, workflow_file: Path, profile: str, steps: int, kill_point: str) -> None:
    process = cli.popen(
        "submit", str(workflow_file), "-p", profile, "-n", str(COUNT), "--random-seed",
        "--set", "5.width=64", "--set", "5.height=64", "--set", f"3.steps={steps}", "--wait", "--json",
    )
    try:
        wait_until_sync(lambda: KILL_POINTS[kill_point](_stored(cli)), timeout=90, what=f"the kill point {kill_point}")
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=20) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    jobs = _stored(cli)
    assert len(jobs) == COUNT  # write-ahead: all rows were stored before sending
    assert any(job.state.is_active for job in jobs), "the kill came too late to test anything"


@pytest.mark.parametrize("kill_point", sorted(KILL_POINTS))
def test_api_edition_killed_midway_then_wait_finishes_every_accepted_job(
    tmp_path: Path, sim: Any, workflow_file: Path, kill_point: str
) -> None:
    puts = count_api_puts(sim)
    cli = Cli(write_config(tmp_path / "config.toml", sim, defaults=SLOW_SENDING), tmp_path / "data")
    _kill_midway(cli, workflow_file, "sim-api", steps=10, kill_point=kill_point)

    jobs = {job.task_id: job for job in _stored(cli)}
    received = dict(puts.snapshot())
    assert received and set(received) <= set(jobs)
    accepted = [jobs[task_id].id for task_id in received]
    result = cli.run("wait", *accepted, "--timeout", "120", "--json")
    assert result.returncode == 0, result.stderr
    finished = json_lines(result.stdout)
    assert len(finished) == len(accepted)
    assert {job["state"] for job in finished} == {"succeeded"}
    assert all(job["outputs"] for job in finished)
    # None submitted twice: neither by the killed process nor by `wait` (which never submits).
    assert puts.snapshot() == {task_id: 1 for task_id in received}
    # Every result was stored once and committed: nothing left on the sink.
    assert len({job["sink_index"] for job in finished}) == len(finished)
    wait_until_sync(lambda: sink_attributes(sim).get("stream.length") == "0", timeout=20, what="an empty sink")


@pytest.mark.parametrize("kill_point", sorted(KILL_POINTS))
def test_dedicated_edition_killed_midway_then_wait_finishes_every_accepted_job(
    tmp_path: Path, sim: Any, workflow_file: Path, kill_point: str
) -> None:
    prompts = count_dedicated_prompts(sim)
    cli = Cli(write_config(tmp_path / "config.toml", sim, defaults=SLOW_SENDING), tmp_path / "data")
    _kill_midway(cli, workflow_file, "sim-dedicated", steps=5, kill_point=kill_point)

    jobs = {job.prompt_id: job for job in _stored(cli)}
    received = dict(prompts)
    assert received and set(received) <= set(jobs)
    accepted = [jobs[prompt_id].id for prompt_id in received]
    result = cli.run("wait", *accepted, "--timeout", "120", "--json")
    assert result.returncode == 0, result.stderr
    finished = json_lines(result.stdout)
    assert {job["state"] for job in finished} == {"succeeded"}
    assert len(finished) == len(accepted)
    assert dict(prompts) == {prompt_id: 1 for prompt_id in received}
    # Rows the killed process never sent are not left hanging: the next start settles them without sending
    # (the service has never heard of their prompt_id, so they failed "not accepted"; `resubmit --failed` sends them).
    rest = json_lines(cli.run("jobs", "--json", "--limit", "1000").stdout)
    never_sent = [job for job in rest if job["prompt_id"] not in received]
    assert len(never_sent) == COUNT - len(accepted)
    assert all(job["state"] == "failed" and job["failure"]["category"] == "transport" for job in never_sent)
