"""Batches against the emulators on both editions (issue 14): copies with their own seeds, sweeps, --dry-run,
the job-count cap, and a batch as one thing (`jobs --batch`, `wait --batch`, `resubmit --batch NAME --failed`).

What the service received is read from the emulators themselves (their history holds each prompt as sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimThread

from tests.integration.cli_helpers import Cli, free_port, json_lines
from tests.integration.engine_helpers import SIM_TOKEN, write_config

pytestmark = pytest.mark.timeout(180)

FAST = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=3"]
EDITIONS = ["sim-api", "sim-dedicated"]


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    from tui.core.workflow import seed_workflow

    path = tmp_path / "catalog.json"
    path.write_text(seed_workflow().to_json(), encoding="utf-8")
    return path


def received_workflows(server: Any, profile: str) -> list[dict[str, Any]]:
    """Every workflow the emulator of that edition ran (ComfyUI history keeps the prompt as sent)."""
    if profile == "sim-dedicated":
        emulators = [server.comfyui]
    else:
        emulators = [handler.emulator for handler in server.pools[server.service].handlers]
    return [entry["prompt"][2] for emulator in emulators for entry in emulator.history.values()]


def sent_count(server: Any) -> int:
    """Prompts either edition was sent: puts on the API input queue plus dedicated /prompt posts."""
    api = server.queues.input_queue(server.service).next_index - 1
    return api + len(server.comfyui.history) + server.comfyui.queue_remaining()


@pytest.mark.parametrize("profile", EDITIONS)
def test_copies_get_their_own_seeds_and_their_own_images(cli: Cli, workflow_file: Path, sim: Any, profile: str) -> None:
    result = cli.run("submit", str(workflow_file), "-p", profile, "-n", "5", *FAST, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    jobs = json_lines(result.stdout)
    assert len(jobs) == 5 and all(job["state"] == "succeeded" for job in jobs)
    seeds = [job["params"]["3.seed"] for job in jobs]
    assert len(set(seeds)) == 5
    original = seed_workflow().nodes["3"]["inputs"]["seed"]
    assert original in seeds  # copy 1 keeps the editor's seed: one copy is reproducible
    files = [output["oss_path"] for job in jobs for output in job["outputs"]]
    assert len(files) == 5 and len(set(files)) == 5  # five images, not one image five times
    assert sorted(wf["3"]["inputs"]["seed"] for wf in received_workflows(sim, profile)) == sorted(seeds)
    # One batch, named after the workflow file; every job carries it.
    (batch,) = {job["batch"] for job in jobs}
    assert batch.startswith("catalog-")


@pytest.mark.parametrize("profile", EDITIONS)
def test_a_2x3_sweep_sends_exactly_the_six_combinations(cli: Cli, workflow_file: Path, sim: Any, profile: str) -> None:
    result = cli.run(
        "submit", str(workflow_file), "-p", profile, *FAST, "--sweep", "KSampler.cfg=5,7.5",
        "--sweep", "3.steps=2..4", "--name", "grid", "--wait", "--json",
    )
    assert result.returncode == 0, result.stderr
    jobs = json_lines(result.stdout)
    assert len(jobs) == 6 and {job["batch"] for job in jobs} == {"grid"}
    received = received_workflows(sim, profile)
    combos = sorted((wf["3"]["inputs"]["cfg"], wf["3"]["inputs"]["steps"]) for wf in received)
    assert combos == [(5.0, 2), (5.0, 3), (5.0, 4), (7.5, 2), (7.5, 3), (7.5, 4)]
    # A grid compares parameters, not noise: every combination has the workflow's seed.
    assert len({wf["3"]["inputs"]["seed"] for wf in received}) == 1
    assert sorted((job["params"]["3.cfg"], job["params"]["3.steps"]) for job in jobs) == combos


def test_dry_run_sends_and_stores_nothing(cli: Cli, workflow_file: Path, sim: Any, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# products\na red bottle\n\na blue bottle\n", encoding="utf-8")
    for profile in EDITIONS:
        result = cli.run("submit", str(workflow_file), "-p", profile, "--sweep", "3.cfg=5,7",
                         "--sweep", f"6.text=@{prompts}", "-n", "2", "--dry-run", "--json")
        assert result.returncode == 0, result.stderr
        planned = json_lines(result.stdout)
        assert len(planned) == 8 and [job["job"] for job in planned] == list(range(1, 9))
        assert {job["params"]["6.text"] for job in planned} == {"a red bottle", "a blue bottle"}
        assert "8 jobs" in result.stderr and "nothing stored or sent" in result.stderr
        readable = cli.run("submit", str(workflow_file), "-p", profile, "--sweep", "3.cfg=5,7", "--dry-run")
        assert readable.returncode == 0 and "3.cfg" in readable.stdout.splitlines()[0]
    assert sent_count(sim) == 0
    with JobStore(cli.store_file) as store:
        assert store.total() == 0


BAD_SWEEPS = [
    (["--sweep", "3.stepz=1,2"], 'did you mean "steps"'),
    (["--sweep", "3.steps=abc"], "takes an integer"),
    (["--sweep", "3.steps=20..40:0"], "step of a range cannot be 0"),
    (["--sweep", "3.steps=40..20:10"], "never gets from 40 to 20"),
    (["--sweep", "6.text=@missing.txt"], "no such file"),
    (["--sweep", "6.text=@EMPTY"], "no values in it"),
    (["-n", "1000000"], "1,000,000 jobs, over the cap of 10,000"),
    (["--sweep", "3.steps=1..200", "--sweep", "3.seed=1..100"], "20,000 jobs, over the cap of 10,000"),
    (["--sweep", "3.steps=1..20001"], "over the cap"),
    (["--name", "two words"], "batch name"),
]


@pytest.mark.parametrize("extra,message", BAD_SWEEPS)
def test_bad_batches_are_one_line_exit_2_and_nothing_is_sent_or_stored(
    cli: Cli, workflow_file: Path, sim: Any, tmp_path: Path, extra: list[str], message: str
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n", encoding="utf-8")
    extra = [f"6.text=@{empty}" if part == "6.text=@EMPTY" else part for part in extra]
    result = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", *extra, "--wait")
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sent_count(sim) == 0
    assert not cli.store_file.exists() or JobStore(cli.store_file).total() == 0


def test_the_cap_is_configurable(tmp_path: Path, sim: Any, workflow_file: Path) -> None:
    config = write_config(tmp_path / "config.toml", sim)
    config.write_text(config.read_text().replace("[defaults]\n", "[defaults]\nmax_jobs = 3\n"), encoding="utf-8")
    assert "max_jobs = 3" in config.read_text()
    cli = Cli(config, tmp_path / "data")
    refused = cli.run("submit", str(workflow_file), "-p", "sim-api", "-n", "4")
    assert refused.returncode == 2 and "4 jobs, over the cap of 3" in refused.stderr
    allowed = cli.run("submit", str(workflow_file), "-p", "sim-api", "-n", "3", "--dry-run", "--json")
    assert allowed.returncode == 0 and len(json_lines(allowed.stdout)) == 3


def test_same_seed_sends_identical_copies_and_says_the_cache_serves_them(cli: Cli, workflow_file: Path, sim: Any) -> None:
    result = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", "-n", "3", "--same-seed", *FAST,
                     "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert "from its cache" in result.stderr
    received = received_workflows(sim, "sim-dedicated")
    assert len(received) == 3 and all(wf == received[0] for wf in received)


def test_a_batch_is_listed_waited_for_and_its_failures_retried(tmp_path: Path, workflow_file: Path) -> None:
    """Half the jobs fail on a first server; `resubmit --batch NAME --failed` retries exactly those (and no failed
    job of another batch), `wait --batch` follows the retries, `jobs --batch` lists the batch."""
    port = free_port()
    with SimThread(token=SIM_TOKEN, step_seconds=0.01, port=port, fail_rate=0.5, seed=7,
                   output_dir=tmp_path / "out") as flaky:
        cli = Cli(write_config(tmp_path / "config.toml", flaky), tmp_path / "data")
        first = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", "-n", "8", *FAST, "--name", "spring",
                        "--wait", "--json")
        other = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", "-n", "4", *FAST, "--name", "summer",
                        "--wait", "--json")
    jobs = json_lines(first.stdout)
    failed = {job["id"] for job in jobs if job["state"] != "succeeded"}
    other_failed = {job["id"] for job in json_lines(other.stdout) if job["state"] != "succeeded"}
    assert failed and first.returncode == 1, "the seeded emulator fails some of the 8"
    with SimThread(token=SIM_TOKEN, step_seconds=0.01, port=port, output_dir=tmp_path / "out2") as healthy:
        listed = cli.run("jobs", "--batch", "spr", "--json")  # a unique start of the name is enough
        assert listed.returncode == 0 and {job["id"] for job in json_lines(listed.stdout)} == {j["id"] for j in jobs}
        retried = cli.run("resubmit", "--batch", "spring", "--failed", "--json")
        assert retried.returncode == 0, retried.stderr
        children = json_lines(retried.stdout)
        assert {job["parent_id"] for job in children} == failed
        assert not {job["parent_id"] for job in children} & other_failed
        assert {job["batch"] for job in children} == {"spring"}  # a retry stays in its batch
        waited = cli.run("wait", "--batch", "spring", "--json")
        assert waited.returncode == 0, waited.stderr
        latest = json_lines(waited.stdout)
        assert len(latest) == 8 and all(job["state"] == "succeeded" for job in latest)
        assert len(received_workflows(healthy, "sim-dedicated")) == len(failed)
        nothing = cli.run("resubmit", "--batch", "spring", "--failed")
        assert nothing.returncode == 0 and "no failed jobs to resubmit in batch spring" in nothing.stderr
    unknown = cli.run("jobs", "--batch", "autumn")
    assert unknown.returncode == 2 and "no batch 'autumn'" in unknown.stderr
    ambiguous = cli.run("jobs", "--batch", "s")
    assert ambiguous.returncode == 2 and "spring" in ambiguous.stderr and "summer" in ambiguous.stderr
