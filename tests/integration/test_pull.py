"""`comfyq pull` as a user runs it (a subprocess) against `comfyq sim` on loopback: the dedicated edition reads
ComfyUI's /view, the API edition reads the emulated OSS bucket with the real OSS SDK (signature V4 checked).

Jobs are made by the emulator (`comfyq submit --wait`), then grouped into a batch in the store, so the files pulled
are the emulator's own; every copy is compared by hash with the file the emulator wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.core.jobs import Job, new_job_id
from tui.core.store import JobStore
from tui.sim.server import SimServer, SimThread

from tests.integration.cli_helpers import Cli, json_lines

pytestmark = pytest.mark.timeout(180)

TOKEN = "pull-token-0123456789"
FAST = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=2"]


def _config(server: SimServer, extra: str = "") -> str:
    return (
        "[defaults]\npoll_interval = 0.05\nidle_poll_interval = 0.5\nrequest_timeout = 10\n\n"
        + server.config_snippet()
        + extra
    )


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimServer]:
    with SimThread(token=TOKEN, step_seconds=0.005, output_dir=tmp_path / "emulator-out") as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path, sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> Cli:
    config = tmp_path / "config.toml"
    config.write_text(_config(sim), encoding="utf-8")
    # The key pair the emulated bucket accepts, where the SDK's users keep it: the standard variables.
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", sim.oss.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", sim.oss.access_key_secret)
    return Cli(config, tmp_path / "data")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_batch(cli: Cli, workflow: Path, profile: str, batch: str, count: int = 3) -> list[Job]:
    """Run `count` jobs on the emulator and group them as `batch` (as `submit --batch` will)."""
    result = cli.run("submit", str(workflow), "-p", profile, "-n", str(count), "--random-seed", *FAST, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    ids = [job["id"] for job in json_lines(result.stdout)]
    store = JobStore(cli.store_file)
    try:
        jobs = [dataclasses.replace(
            store.get(job_id), id=new_job_id(), batch=batch, sink_index=None, task_id=None, prompt_id=None
        ) for job_id in ids]
        store.add_many(jobs)
    finally:
        store.close()
    assert all(job.outputs for job in jobs)
    return jobs


def emulator_file(sim: SimServer, job: Job, index: int = 0) -> Path:
    output = job.outputs[index]
    return sim.output_dir / output.subfolder / output.filename


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
def test_pull_batch_writes_identical_copies_and_a_rerun_fetches_nothing(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path, profile: str
) -> None:
    jobs = make_batch(cli, workflow_file, profile, "spring")
    out = tmp_path / "pulled"
    first = cli.run("pull", "--batch", "spring", "-o", str(out), "--json")
    assert first.returncode == 0, first.stderr
    lines = json_lines(first.stdout)
    assert sorted(line["status"] for line in lines) == ["fetched"] * len(jobs)
    for job in jobs:
        copy = out / job.outputs[0].filename
        assert _digest(copy) == _digest(emulator_file(sim, job))
    assert not [p for p in out.iterdir() if p.name.endswith(".comfyq-part")]
    if profile == "sim-api":  # read from the bucket, through the signed OSS endpoint
        assert {key for method, key in sim.oss.requests if method == "GET"} >= {
            f"artlab/output/{job.outputs[0].filename}" for job in jobs
        }

    second = cli.run("pull", "--batch", "spring", "-o", str(out), "--json")
    assert second.returncode == 0, second.stderr
    assert [line["status"] for line in json_lines(second.stdout)] == ["skipped"] * len(jobs)


def test_pull_by_job_id_with_job_layout_and_readable_summary(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path
) -> None:
    jobs = make_batch(cli, workflow_file, "sim-dedicated", "b", count=2)
    out = tmp_path / "by-job"
    result = cli.run("pull", jobs[0].id[:10], jobs[1].id, "-o", str(out), "--layout", "job")
    assert result.returncode == 0, result.stderr
    for job in jobs:
        assert _digest(out / job.id / job.outputs[0].filename) == _digest(emulator_file(sim, job))
    assert "fetched 2 files" in result.stderr and "Traceback" not in result.stderr


def test_pull_oss_layout_mirrors_the_bucket(cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path) -> None:
    jobs = make_batch(cli, workflow_file, "sim-api", "mirror", count=1)
    out = tmp_path / "mirror"
    result = cli.run("pull", "--batch", "mirror", "-o", str(out), "--layout", "oss")
    assert result.returncode == 0, result.stderr
    copy = out / "comfyq-sim" / "artlab" / "output" / jobs[0].outputs[0].filename
    assert _digest(copy) == _digest(emulator_file(sim, jobs[0]))


def test_dedicated_profile_can_read_outputs_from_oss(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path
) -> None:
    cli.config.write_text(
        _config(sim).replace('edition = "dedicated"\n', 'edition = "dedicated"\noutputs_from = "oss"\n'), encoding="utf-8"
    )
    jobs = make_batch(cli, workflow_file, "sim-dedicated", "via-oss", count=1)
    before = len(sim.oss.requests)
    result = cli.run("pull", "--batch", "via-oss", "-o", str(tmp_path / "o"), "--json")
    assert result.returncode == 0, result.stderr
    assert len(sim.oss.requests) > before
    assert _digest(tmp_path / "o" / jobs[0].outputs[0].filename) == _digest(emulator_file(sim, jobs[0]))


# ----------------------------------------------------------------------------------------------- faults


def test_wrong_oss_keys_exit_3_naming_profile_and_variables(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_batch(cli, workflow_file, "sim-api", "keys", count=2)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "not-the-secret")
    result = cli.run("pull", "--batch", "keys", "-o", str(tmp_path / "k"))
    assert result.returncode == 3, result.stderr
    assert "profile 'sim-api'" in result.stderr and "OSS_ACCESS_KEY_ID" in result.stderr
    assert "OSS_ACCESS_KEY_SECRET" in result.stderr and "SignatureDoesNotMatch" in result.stderr
    assert result.stderr.count("SignatureDoesNotMatch") == 1  # said once, not once per file
    assert "not-the-secret" not in result.stderr + result.stdout
    assert not any((tmp_path / "k").iterdir())


def test_missing_oss_keys_and_settings_are_named(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_batch(cli, workflow_file, "sim-api", "unset", count=1)
    monkeypatch.delenv("OSS_ACCESS_KEY_SECRET")
    result = cli.run("pull", "--batch", "unset", "-o", str(tmp_path / "u"))
    assert result.returncode == 3 and "set OSS_ACCESS_KEY_SECRET" in result.stderr, result.stderr

    cli.config.write_text(_config(sim).replace('oss_region = "cn-hangzhou"\n', ""), encoding="utf-8")
    result = cli.run("pull", "--batch", "unset", "-o", str(tmp_path / "u"))
    assert result.returncode == 2 and "add oss_region" in result.stderr, result.stderr


def test_wrong_token_exits_3(cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path) -> None:
    make_batch(cli, workflow_file, "sim-dedicated", "tok", count=1)
    cli.config.write_text(_config(sim).replace(TOKEN, "wrong-token-xyz"), encoding="utf-8")
    result = cli.run("pull", "--batch", "tok", "-o", str(tmp_path / "t"))
    assert result.returncode == 3, result.stderr
    assert "token of profile 'sim-dedicated'" in result.stderr


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
def test_a_file_gone_from_the_service_is_named_and_the_rest_arrive(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path, profile: str
) -> None:
    jobs = make_batch(cli, workflow_file, profile, "gone", count=3)
    emulator_file(sim, jobs[1]).unlink()
    result = cli.run("pull", "--batch", "gone", "-o", str(tmp_path / "g"))
    assert result.returncode == 1, result.stderr
    assert f"missing: job {jobs[1].id} {jobs[1].outputs[0].filename}: not found" in result.stderr
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == sorted(
        job.outputs[0].filename for job in (jobs[0], jobs[2])
    )


def test_connection_dropped_mid_file_is_retried_never_left_truncated(
    cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path
) -> None:
    jobs = make_batch(cli, workflow_file, "sim-api", "drop", count=2)
    sim.oss.drop_next_gets = 2  # both first attempts lose their connection half-way
    result = cli.run("pull", "--batch", "drop", "-o", str(tmp_path / "d"), "-j", "1")
    assert result.returncode == 0, result.stderr
    assert sim.oss.drop_next_gets == 0  # both drops happened
    for job in jobs:
        assert _digest(tmp_path / "d" / job.outputs[0].filename) == _digest(emulator_file(sim, job))

    sim.oss.drop_next_gets = 100  # every attempt breaks: reported, and no file under the final name
    result = cli.run("pull", "--batch", "drop", "-o", str(tmp_path / "d2"), "-j", "1")
    assert result.returncode == 1, result.stderr
    assert "broke mid-file" in result.stderr or "bytes" in result.stderr
    assert list((tmp_path / "d2").iterdir()) == []
    sim.oss.drop_next_gets = 0


def test_names_that_would_escape_the_folder_are_refused(cli: Cli, sim: SimServer, tmp_path: Path) -> None:
    from tui.core.jobs import Edition, JobState, Output

    store = JobStore(cli.store_file)
    try:
        store.add(
            Job(
                id=new_job_id(), profile="sim-dedicated", edition=Edition.DEDICATED, workflow=None,
                state=JobState.SUCCEEDED, batch="evil",
                outputs=(Output("9", "output", "../..", "passwd"), Output("9", "output", "", "/etc/hosts")),
            )
        )
    finally:
        store.close()
    out = tmp_path / "inside" / "o"
    result = cli.run("pull", "--batch", "evil", "-o", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("refused") == 2
    assert not (tmp_path / "passwd").exists() and not (tmp_path / "inside" / "passwd").exists()


def test_disk_full_stops_and_keeps_what_finished(cli: Cli, sim: SimServer, workflow_file: Path, tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) makes writes fail as a full disk does; the pull stops and says so."""
    import resource
    import signal
    import subprocess

    from tests.integration.cli_helpers import REPO, cli_env

    jobs = make_batch(cli, workflow_file, "sim-dedicated", "full", count=2)
    big = emulator_file(sim, jobs[1])
    big.write_bytes(os.urandom(256 * 1024))  # larger than the limit below; the first file is smaller

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    out = tmp_path / "f"
    result = subprocess.run(
        cli.argv("pull", "--batch", "full", "-o", str(out), "-j", "1"),
        capture_output=True, text=True, timeout=120, cwd=REPO, env=cli_env(), preexec_fn=limit,
    )
    assert result.returncode == 1, result.stderr
    assert "disk is full" in result.stderr or "cannot write" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [jobs[0].outputs[0].filename]
    assert _digest(out / jobs[0].outputs[0].filename) == _digest(emulator_file(sim, jobs[0]))
