"""Two comfyq processes follow the same API-edition profile on one machine — the TUI open while `comfyq submit --wait`
or `comfyq watch` runs in another terminal, on the same job store. Both watch the same sink.

They must settle into a steady state: every result stored exactly once in the shared store, the sink emptied, and
no endless reconnecting (a process whose sink connection is taken over by the other, reconnects, and takes it back).
Counted on the server's side: websocket handshakes of the sink watch while results flow.
"""

from __future__ import annotations

import collections
import json
import signal
import time
from pathlib import Path

import pytest

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

pytestmark = pytest.mark.timeout(120)

RESULTS = 150
FLOW_SECONDS = 6.0  # results arrive steadily for this long
# Once both processes are connected, a steady state allows a reconnect or two (a takeover the other side settles),
# not one every second for as long as results flow.
MAX_HANDSHAKES_WHILE_FLOWING = 4


def result(number: int) -> tuple[bytes, dict[str, str]]:
    outputs = {"9": {"images": [{"filename": f"both_{number:05d}_.png", "subfolder": "", "type": "output"}]}}
    return json.dumps([outputs]).encode(), {"task_id": f"shared-{number:05d}"}


def test_two_processes_on_one_api_profile_settle_and_store_each_result_once(tmp_path: Path, emulator: Emulator) -> None:
    cli = Cli(write_config(tmp_path / "config.toml", emulator.config_text()), tmp_path / "data")
    first, _, first_err = popen_to_files(cli, "watch", "-p", "sim-api", "--json", name="first")
    second, _, second_err = popen_to_files(cli, "watch", "-p", "sim-api", "--json", name="second")
    with running(first), running(second):
        wait_until_sync(
            lambda: "watching" in first_err.read_text() and "watching" in second_err.read_text(),
            timeout=30,
            what="both processes to watch",
        )
        wait_until_sync(lambda: len(emulator.requests.handshakes("sink-watch")) >= 2, timeout=30, what="both sink watches")
        emulator.requests.clear()
        started = time.monotonic()
        pause = FLOW_SECONDS / RESULTS
        for number in range(RESULTS):  # a steady flow, as workers finishing jobs would write it
            emulator.put_on_sink([result(number)])
            time.sleep(pause)
        flowed = time.monotonic() - started
        wait_until_sync(lambda: emulator.sink_attributes()["stream.length"] == "0", timeout=30, what="an empty sink")
        handshakes = emulator.requests.handshakes("sink-watch")
        for process in (first, second):
            assert process.poll() is None
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 130
    assert_clean_output(first_err.read_text(), second_err.read_text())

    jobs = assert_store_intact(cli.store_file)
    by_task = collections.Counter(job.task_id for job in jobs)
    assert len(by_task) == RESULTS and set(by_task.values()) == {1}
    assert len({job.sink_index for job in jobs}) == RESULTS
    assert len(handshakes) <= MAX_HANDSHAKES_WHILE_FLOWING, (
        f"{len(handshakes)} sink reconnects in {flowed:.1f} s of results: the two processes keep taking the sink "
        f"over from each other (at {[round(h.at - started, 2) for h in handshakes]} s)"
    )
