"""kill -9 while 1,000 sink results stream in, then start again: every result stored exactly once, the sink empty.

Half the results answer jobs already in the store (their task_id), half are external (another client of the same
service): both paths of `upsert_sink_results` are crossed by the crash. The process that watches the sink is the real
`comfyq watch`; it is killed with SIGKILL once the store holds some but not all results, then started again.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tui.core.jobs import Edition, Job, JobState, new_job_id
from tui.core.store import JobFilter, JobStore

from tests.faults.helpers import (
    Cli,
    Emulator,
    assert_clean_output,
    assert_store_intact,
    popen_to_files,
    running,
    write_config,
)
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(180)

TOTAL = 1000
OURS = TOTAL // 2  # results for jobs in the store; the rest are external
# Kill once the store holds this many results (each time a little further into the stream).
KILL_AFTER = (50, 333, 677)
SUCCEEDED = JobFilter(states=frozenset({JobState.SUCCEEDED}))


def result_data(number: int) -> bytes:
    """The documented sink form: an array ending with the outputs object (one file, named after the result)."""
    outputs = {"9": {"images": [{"filename": f"fault_{number:05d}_.png", "subfolder": "", "type": "output"}]}}
    return json.dumps([outputs]).encode()


def our_jobs(count: int) -> list[Job]:
    now = time.time()
    return [
        Job(
            id=new_job_id(),
            profile="sim-api",
            edition=Edition.API,
            workflow={"9": {"class_type": "SaveImage", "inputs": {}}},
            state=JobState.QUEUED,
            task_id=f"ours-{number:05d}",
            timestamps={JobState.SUBMITTING.value: now, JobState.QUEUED.value: now},
        )
        for number in range(count)
    ]


def succeeded_count(store_file: Path) -> int:
    store = JobStore(store_file)
    try:
        return store.count(SUCCEEDED)
    finally:
        store.close()


def test_kill_9_while_1000_sink_results_stream_in_then_restart_stores_each_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    # lost_after is long: these jobs have no input-queue index, only the sink can settle them.
    config = write_config(tmp_path / "config.toml", emulator.config_text(defaults="lost_after = 600\n"))
    cli = Cli(config, tmp_path / "data")
    cli.data_dir.mkdir()
    ours = our_jobs(OURS)
    with JobStore(cli.store_file) as store:
        store.add_many(ours)

    items = [(result_data(n), {"task_id": f"ours-{n:05d}"}) for n in range(OURS)]
    items += [(result_data(n), {"task_id": f"external-{n:05d}"}) for n in range(OURS, TOTAL)]
    indexes = emulator.put_on_sink(items)
    assert len(set(indexes)) == TOTAL
    assert emulator.sink_attributes()["stream.length"] == str(TOTAL)

    # Killed three times at different depths of the stream, then run to the end.
    for round_number, threshold in enumerate(KILL_AFTER, start=1):
        process, _, err = popen_to_files(cli, "watch", "-p", "sim-api", "--json", name=f"watch-{round_number}")
        with running(process):
            wait_until_sync(
                lambda: succeeded_count(cli.store_file) >= threshold,
                timeout=90,
                what=f"{threshold} results to be stored",
                interval=0.005,
            )
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
        assert succeeded_count(cli.store_file) < TOTAL, "the kill came too late: every result was already stored"
        assert int(emulator.sink_attributes()["stream.length"]) > 0
        assert_clean_output(err.read_text())
        # The killed process left a usable file behind.
        assert_store_intact(cli.store_file, [job.id for job in ours])

    second, _, second_err = popen_to_files(cli, "watch", "-p", "sim-api", "--json", name="watch-last")
    with running(second):
        wait_until_sync(lambda: succeeded_count(cli.store_file) >= TOTAL, timeout=120, what="all 1,000 results")
        wait_until_sync(
            lambda: emulator.sink_attributes()["stream.length"] == "0", timeout=30, what="an empty sink (all committed)"
        )
        assert second.poll() is None, "the watcher ended on its own"
        second.send_signal(signal.SIGINT)
        assert second.wait(20) == 130
    assert_clean_output(second_err.read_text())

    jobs = assert_store_intact(cli.store_file, [job.id for job in ours])
    with_results = [job for job in jobs if job.sink_index is not None]
    # Exactly once: one row per sink index, one row per task_id, nothing else in the store.
    assert len(jobs) == TOTAL
    assert sorted(job.sink_index for job in with_results) == sorted(indexes)
    by_task = collections.Counter(job.task_id for job in jobs)
    assert set(by_task.values()) == {1}
    assert set(by_task) == {tags["task_id"] for _, tags in items}
    assert all(job.state is JobState.SUCCEEDED and len(job.outputs) == 1 for job in jobs)
    # Each result landed on its own job: the file name carries the result's number.
    for job in jobs:
        number = int(str(job.task_id).rsplit("-", 1)[1])
        assert job.outputs[0].filename == f"fault_{number:05d}_.png"
    # Results for our task_ids updated our rows; only the others became external jobs.
    ours_ids = {job.id for job in ours}
    assert {job.id for job in jobs if not job.external} == ours_ids
    assert sum(job.external for job in jobs) == TOTAL - OURS
