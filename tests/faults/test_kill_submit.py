"""kill -9 during 200 submissions, then `comfyq wait` on every row: each accepted job is followed to its end, none is
submitted twice, and rows the service never received are settled (not left hanging) without being sent.

The emulator counts what it received: input-queue puts per task_id (API edition) and prompts put on the ComfyUI
queue per prompt_id (dedicated edition).
"""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.core.jobs import JobState

from tests.faults.helpers import (
    FAST,
    Cli,
    Emulator,
    assert_clean_output,
    assert_store_intact,
    json_lines,
    popen_to_files,
    running,
    stored_jobs,
    write_config,
)
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(200)

COUNT = 200
KILL_AFTER_ACCEPTED = 30


@pytest.fixture
def quick_emulator(tmp_path: Path) -> Iterator[Emulator]:
    sim = Emulator(tmp_path / "sim-out", step_seconds=0.002)
    try:
        yield sim
    finally:
        sim.close()


@pytest.mark.parametrize("profile", ["sim-api", "sim-dedicated"])
def test_kill_9_during_200_submissions_then_wait_accounts_for_every_job(
    tmp_path: Path, quick_emulator: Emulator, workflow_file: Path, profile: str
) -> None:
    emulator = quick_emulator
    # A short lost_after: rows the killed process never sent are declared lost soon (the sink is watched live).
    config = write_config(tmp_path / "config.toml", emulator.config_text(defaults="lost_after = 3\n"))
    cli = Cli(config, tmp_path / "data")
    submit, _, submit_err = popen_to_files(
        cli, "submit", str(workflow_file), "-p", profile, "-n", str(COUNT), "--random-seed", *FAST, "--wait", "--json",
        name="submit",
    )
    with running(submit):
        wait_until_sync(
            lambda: sum(job.state is not JobState.SUBMITTING for job in stored_jobs(cli.store_file))
            >= KILL_AFTER_ACCEPTED,
            timeout=90,
            what=f"{KILL_AFTER_ACCEPTED} accepted jobs",
            interval=0.005,
        )
        os.kill(submit.pid, signal.SIGKILL)
        assert submit.wait(10) == -signal.SIGKILL
    assert_clean_output(submit_err.read_text())

    rows = assert_store_intact(cli.store_file)
    assert len(rows) == COUNT  # write-ahead: every row was stored before the first one was sent
    assert any(job.state is JobState.SUBMITTING for job in rows), "the kill came too late: everything was sent"
    ids = [job.id for job in rows]

    result = cli.run("wait", *ids, "--timeout", "150", "--json", timeout=200)
    assert_clean_output(result.stderr, result.stdout)
    final = {job["id"]: job for job in json_lines(result.stdout)}
    assert set(final) == set(ids)

    received = dict(emulator.input_puts if profile == "sim-api" else emulator.prompts)
    remote_key = "task_id" if profile == "sim-api" else "prompt_id"
    by_remote = {job[remote_key]: job for job in final.values()}
    # Nothing was submitted twice — neither by the killed process nor by `wait`, which never submits.
    assert received and set(received.values()) == {1}, collections.Counter(received.values())
    assert set(received) <= set(by_remote)
    # Every job the service received was followed to its end.
    assert {by_remote[remote]["state"] for remote in received} == {"succeeded"}
    assert all(by_remote[remote]["outputs"] for remote in received)
    # Every row it never received is settled, not left hanging: lost (API: no result came) or "not accepted".
    never_received = [job for job in final.values() if job[remote_key] not in received]
    expected_state = "lost" if profile == "sim-api" else "failed"
    assert {job["state"] for job in never_received} <= {expected_state}
    if profile == "sim-dedicated":
        assert all(job["failure"]["category"] == "transport" for job in never_received)
    assert result.returncode == (0 if not never_received else 1), result.stderr

    jobs = assert_store_intact(cli.store_file, ids)
    assert len(jobs) == COUNT  # no retry, no external row: nothing was added
    assert not [job for job in jobs if job.state.is_active]
    if profile == "sim-api":
        # Every result was stored and committed.
        wait_until_sync(lambda: emulator.sink_attributes()["stream.length"] == "0", timeout=20, what="an empty sink")
        assert len({job.sink_index for job in jobs if job.sink_index is not None}) == len(received)
