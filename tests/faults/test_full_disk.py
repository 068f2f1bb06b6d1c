"""A really full disk (issue 11, item 9): the data dir on a small tmpfs, filled to the last byte.

A job submitted, or a job updated, while nothing more can be written gets one clear line ("disk full: ..."), the
CLI ends with its documented code and the TUI keeps running; nothing already stored is lost; once space is freed,
the same commands work again. The disk is a real filesystem (tmpfs mounted by the test, unmounted after it), so
SQLite meets ENOSPC exactly as it would on a user's full disk — no fault is injected into comfyq itself.

Mounting needs root (CI and the development machines run the tests as root); where the kernel refuses the mount
(EPERM), the test is skipped with that reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
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
    running,
    stored_jobs,
    write_config,
)
from tests.integration.cli_helpers import REPO, cli_env
from tests.tui.conftest import wait_for as wait_in_app
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(240)

DISK_BYTES = 8 * 1024 * 1024
MNT_DETACH = 2  # umount2 flag: detach now even if a file is still open (a test that failed half-way)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@dataclass
class SmallDisk:
    """A tmpfs of DISK_BYTES mounted at `root`; `fill()` takes every free byte, `free()` gives it back."""

    root: Path

    @property
    def filler(self) -> Path:
        return self.root / "filler"

    def fill(self) -> None:
        """Write zeros until the filesystem says ENOSPC: from then on no file on it can grow."""
        chunk = b"\0" * 65536
        with self.filler.open("ab", buffering=0) as out:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        written = out.write(chunk[:size])
                    except OSError as error:
                        assert error.errno == errno.ENOSPC, error
                        break
                    if not written:
                        break
        assert os.statvfs(self.root).f_bavail == 0

    def free(self) -> None:
        self.filler.unlink()
        assert os.statvfs(self.root).f_bavail > 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "small-disk"
    root.mkdir()
    libc = _libc()
    options = f"size={DISK_BYTES},mode=0700".encode()
    if libc.mount(b"tmpfs", str(root).encode(), b"tmpfs", 0, options) != 0:
        code = ctypes.get_errno()
        if code == errno.EPERM:
            pytest.skip(f"cannot mount a tmpfs here ({os.strerror(code)}): a real full disk needs root")
        raise OSError(code, f"mount tmpfs on {root}: {os.strerror(code)}")
    try:
        yield SmallDisk(root)
    finally:
        if libc.umount2(str(root).encode(), MNT_DETACH) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"umount {root}: {os.strerror(code)}")


def _one_clear_line(stderr: str) -> str:
    """The error the user reads: no traceback, no logging noise, no 'unexpected error', and it says the disk is
    full (and what to do)."""
    assert_clean_output(stderr)
    assert "--- Logging error ---" not in stderr, stderr
    assert "unexpected error" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    full = [line for line in lines if "disk is full" in line.lower() or "disk full" in line.lower()]
    assert full, stderr
    assert "free some space" in full[0], full[0]
    return full[0]


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
def test_cli_on_a_full_disk_says_so_keeps_what_is_stored_and_works_again_once_space_is_freed(
    tmp_path: Path, small_disk: SmallDisk, emulator: Emulator, workflow_file: Path, profile: str
) -> None:
    config = write_config(tmp_path / "config.toml", emulator.config_text())
    cli = Cli(config, small_disk.root / "data")

    # Before: a few jobs done, stored on the small disk.
    before = cli.run("submit", str(workflow_file), "-p", profile, "-n", "3", *FAST, "--wait", "--json", timeout=120)
    assert before.returncode == 0, before.stderr
    done = {job["id"] for job in json_lines(before.stdout)}
    assert len(done) == 3
    sent_before = sum((emulator.input_puts if profile == "sim-api" else emulator.prompts).values())

    small_disk.fill()

    # Submitting onto a full disk: refused before anything is sent (write-ahead), one clear line, exit 2.
    refused = cli.run("submit", str(workflow_file), "-p", profile, "-n", "200", *FAST, "--json", timeout=120)
    line = _one_clear_line(refused.stderr)
    assert refused.returncode == 2, (refused.returncode, refused.stderr)
    assert str(small_disk.root) in line or "job store" in line, line
    assert sum((emulator.input_puts if profile == "sim-api" else emulator.prompts).values()) == sent_before

    # Any command that opens the store (even to read: SQLite's WAL mode needs its shared-memory file, which a full
    # disk cannot hold once the last process has closed the store) says the same, and exits 2.
    listed = cli.run("jobs", "--json", timeout=60)
    _one_clear_line(listed.stderr)
    assert listed.returncode == 2, (listed.returncode, listed.stderr)

    small_disk.free()

    # Nothing already stored was lost, the file is sound, and the same command works again.
    rows = assert_store_intact(cli.store_file, sorted(done))
    assert {job.id for job in rows} == done and {job.state for job in rows} == {JobState.SUCCEEDED}
    after = cli.run("submit", str(workflow_file), "-p", profile, "-n", "2", *FAST, "--wait", "--json", timeout=120)
    assert after.returncode == 0, after.stderr
    assert {job["state"] for job in json_lines(after.stdout)} == {"succeeded"}
    assert len(assert_store_intact(cli.store_file)) == 5


def _truncate_wal(store_file: Path) -> None:
    connection = sqlite3.connect(store_file, timeout=10)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        assert os.path.getsize(f"{store_file}-wal") == 0
    finally:
        connection.close()


def _only_profile(config_text: str, profile: str) -> str:
    """The emulator's config with one of its two profiles: the TUI submits to it."""
    head, _, profiles = config_text.partition("[profiles.")
    kept = [block for block in profiles.split("[profiles.") if block.startswith(profile + "]")]
    return head + "[profiles." + kept[0]


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
async def test_tui_on_a_full_disk_says_so_keeps_running_and_catches_up_once_space_is_freed(
    tmp_path: Path, small_disk: SmallDisk, emulator: Emulator, profile: str
) -> None:
    from tui.app import ComfyqApp, LaunchOptions
    from tui.core.config import load_config
    from tui.core.engine import apply_params
    from tui.core.locations import resolve_locations
    from tui.core.workflow import seed_workflow

    config_file = write_config(tmp_path / "config.toml", _only_profile(emulator.config_text(), profile))
    locations = resolve_locations(config=config_file, data_dir=small_disk.root / "data")
    locations.data_dir.mkdir(parents=True)
    config = load_config(locations.config_file, explicit=True)
    # Long enough on the emulator (600 steps of 0.01 s) to fill the disk while the job runs.
    workflow = apply_params(seed_workflow(), {"5.width": "64", "5.height": "64", "3.steps": "600"})
    app = ComfyqApp(LaunchOptions(config=config, locations=locations, workflow=workflow))
    store_file = locations.store_file
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_in_app(pilot, lambda: app.engine_started, "the engine")
        await pilot.press("ctrl+s")
        first = await wait_in_app(pilot, lambda: next(iter(app.store.page(limit=1)), None), "the first job")
        sent_states = (JobState.QUEUED, JobState.RUNNING)
        await wait_in_app(pilot, lambda: app.store.get(first.id).state in sent_states, "the first job sent")
        sent = sum(emulator.prompts.values()) + sum(emulator.input_puts.values())

        # The WAL file keeps the room of earlier commits for later ones; empty it first, so that the very next
        # write needs new space (as it does once a busy store has used up its WAL's room).
        _truncate_wal(store_file)
        small_disk.fill()

        # The running job finishes on the service while its update cannot be stored: said, not crashed.
        await wait_in_app(pilot, lambda: app.last_error and "full" in app.last_error, "a disk-full message", 60)
        # A submission onto the full disk: refused before anything is sent, with the same clear message.
        app.last_error = None
        await pilot.press("ctrl+s")
        refused = await wait_in_app(
            pilot, lambda: app.last_error if "submit" in (app.last_error or "") else None, "the refused submission", 30
        )
        assert "disk is full" in refused and "free some space" in refused, refused
        assert refused.startswith("submit failed: ") and "StoreError" not in refused, refused  # user words, no type
        assert app.store.total() == 1  # nothing stored for it ...
        assert sum(emulator.prompts.values()) + sum(emulator.input_puts.values()) == sent  # ... and nothing sent
        # Still alive and answering keys.
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert app.screen.__class__.__name__ != "MainScreen"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen.__class__.__name__ == "MainScreen"

        small_disk.free()

        # The finished job is caught up with, and submitting works again.
        await wait_in_app(pilot, lambda: app.store.get(first.id).state is JobState.SUCCEEDED, "the first job stored", 60)
        await pilot.press("ctrl+s")
        await wait_in_app(pilot, lambda: app.store.total() == 2 and all(
            job.state is JobState.SUCCEEDED for job in app.store.page(limit=5)), "the next job", 60)
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0
    jobs = assert_store_intact(store_file, [first.id])
    assert len(jobs) == 2 and {job.state for job in jobs} == {JobState.SUCCEEDED}


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
def test_cli_waiting_through_a_full_disk_says_so_and_finishes_once_space_is_freed(
    tmp_path: Path, small_disk: SmallDisk, emulator: Emulator, workflow_file: Path, profile: str
) -> None:
    config = write_config(tmp_path / "config.toml", emulator.config_text())
    cli = Cli(config, small_disk.root / "data")
    slow = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=600"]  # 6 s on the emulator
    # Its output goes to files off the small disk (a full disk would swallow them).
    out, err = tmp_path / "submit.out", tmp_path / "submit.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            cli.argv("submit", str(workflow_file), "-p", profile, *slow, "--wait", "--json"),
            stdout=stdout, stderr=stderr, cwd=REPO, env=cli_env(),
        )
    with running(process):
        sent = (JobState.QUEUED, JobState.RUNNING)
        wait_until_sync(lambda: any(job.state in sent for job in stored_jobs(cli.store_file)), 60, "the job sent")
        _truncate_wal(cli.store_file)
        small_disk.fill()
        # The job's updates cannot be stored: the waiting command says so and keeps waiting.
        wait_until_sync(lambda: "disk is full" in err.read_text(), 60, "a disk-full message")
        assert process.poll() is None, err.read_text()
        small_disk.free()
        assert process.wait(120) == 0, err.read_text()
    assert_clean_output(err.read_text())
    assert "--- Logging error ---" not in err.read_text()
    assert [job["state"] for job in json_lines(out.read_text())] == ["succeeded"]
    jobs = assert_store_intact(cli.store_file)
    assert [job.state for job in jobs] == [JobState.SUCCEEDED]
