"""The emulator goes down and comes back 10 times while jobs run: every source recovers, with backoff.

Two real `comfyq submit --wait` processes (API edition: the sink watcher + queue monitor; dedicated edition: the
poller + the ComfyUI websocket) follow their jobs while the emulator closes its port (dropping every connection,
sockets without a close frame) and opens it again on the same port, 10 times. Workers and queues carry on meanwhile,
so results pile up while nobody can hear them. Asserted from the server's side: every job ends succeeded exactly
once, nothing was received twice, every result was committed, and no source reconnected more than about once a
second (websocket handshakes per second).
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from tui.core.jobs import JobState

from tests.faults.helpers import (
    Cli,
    Emulator,
    assert_clean_output,
    assert_store_intact,
    json_lines,
    most_in_any_window,
    popen_to_files,
    running,
    stored_jobs,
    write_config,
)
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(200)

RESTARTS = 10
DOWN_SECONDS = 0.4
UP_SECONDS = 0.8
# Long enough jobs that both runs are still going when the last restart comes.
RUNS = {
    "sim-api": ("24", "200"),  # count, KSampler steps (× 0.01 s per step; two worker instances)
    "sim-dedicated": ("40", "50"),  # one ComfyUI executor
}


def wait_seconds(seconds: float) -> None:
    """The fault schedule itself (not a wait for a condition): how long the server stays down or up."""
    time.sleep(seconds)


def test_ten_restarts_during_a_run_every_source_recovers_nothing_lost_or_doubled(
    tmp_path: Path, emulator: Emulator, workflow_file: Path
) -> None:
    # lost_after is long: a job must never be declared lost just because the server was away for a moment.
    config = write_config(tmp_path / "config.toml", emulator.config_text(defaults="lost_after = 300\n"))
    cli = Cli(config, tmp_path / "data")
    processes = {}
    for profile, (count, steps) in RUNS.items():
        processes[profile] = popen_to_files(
            cli, "submit", str(workflow_file), "-p", profile, "-n", count, "--random-seed",
            "--set", "5.width=64", "--set", "5.height=64", "--set", f"3.steps={steps}", "--wait", "--json",
            name=f"submit-{profile}",
        )
    total = sum(int(count) for count, _ in RUNS.values())
    with running(processes["sim-api"][0]), running(processes["sim-dedicated"][0]):
        # Faults start once every job was accepted (a submission refused while down is another test's business).
        wait_until_sync(
            lambda: (jobs := stored_jobs(cli.store_file)) and len(jobs) == total
            and all(job.state is not JobState.SUBMITTING for job in jobs),
            timeout=60,
            what="every job to be accepted",
        )
        emulator.requests.clear()
        for restart in range(1, RESTARTS + 1):
            if restart == RESTARTS:
                # The last fault must hit both runs (else it tests nothing): both still have jobs in flight.
                active = {job.profile for job in stored_jobs(cli.store_file) if job.state.is_active}
                assert active == set(RUNS), f"a run ended before the last restart: {active}"
            emulator.stop_listening()
            last_down = time.monotonic()  # every connection from here on was made after the last restart
            wait_seconds(DOWN_SECONDS)
            emulator.start_listening()
            wait_seconds(UP_SECONDS)
        results = {}
        for profile, (process, out, err) in processes.items():
            code = process.wait(150)
            results[profile] = (code, out.read_text(), err.read_text())

    for profile, (code, out, err) in results.items():
        assert_clean_output(out, err)
        assert code == 0, (profile, err)
        finished = json_lines(out)
        assert len(finished) == int(RUNS[profile][0])
        assert {job["state"] for job in finished} == {"succeeded"}, err

    # Nothing lost or doubled: one row per job, each received once by the service, every result committed.
    jobs = assert_store_intact(cli.store_file)
    assert len(jobs) == total
    assert all(job.state is JobState.SUCCEEDED and job.outputs for job in jobs)
    api_jobs = [job for job in jobs if job.profile == "sim-api"]
    dedicated_jobs = [job for job in jobs if job.profile == "sim-dedicated"]
    assert dict(emulator.input_puts) == {job.task_id: 1 for job in api_jobs}
    assert dict(emulator.prompts) == {job.prompt_id: 1 for job in dedicated_jobs}
    assert len({job.sink_index for job in api_jobs}) == len(api_jobs)
    wait_until_sync(lambda: emulator.sink_attributes()["stream.length"] == "0", timeout=20, what="an empty sink")

    # Backoff, counted server-side: no websocket source reconnected in a storm — at most about one handshake a
    # second, and no more than one per period the server was up. (A backoff that grows while no connection lasts
    # may sleep through some short up periods: allowed, so there is no lower bound per source here.)
    for source in ("sink-watch", "comfyui-ws"):
        handshakes = emulator.requests.handshakes(source)
        assert len(handshakes) <= RESTARTS + 2, (source, len(handshakes))
        assert most_in_any_window(handshakes, 1.0) <= 2, (source, [round(h.at, 2) for h in handshakes])
    # Recovery: both runs still had jobs in flight when the server went down the last time, so their sources had to
    # come back after it — the sink watcher's websocket (the API run's results arrive only through it) and the
    # dedicated poller — and every job above ended succeeded.
    after_last_restart = emulator.requests.answers(lambda a: a.at >= last_down and a.status in (101, 200))
    sources = collections.Counter(answer.source for answer in after_last_restart)
    assert sources["sink-watch"] >= 1 and sources["poll-queue"] >= 1, sources
