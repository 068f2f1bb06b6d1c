"""The headless CLI surface, run as a subprocess (`python -m tui ...`) against an emulator on loopback.

Checks exit codes, the `--json` fields, the readable output, and that errors are messages (never tracebacks).
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tui.core.jobs import JobState
from tui.core.store import JobStore
from tui.sim.server import SimServer, SimThread

from tests.integration.cli_helpers import REPO, Cli, cli_env, free_port, json_lines
from tests.integration.engine_helpers import BUCKET, SIM_TOKEN, write_config
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(180)

JSON_FIELDS = {
    "id", "profile", "edition", "state", "failure", "task_id", "prompt_id", "queue_index", "sink_index",
    "request_id", "submitted_at", "started_at", "finished_at", "progress", "outputs", "parent_id", "attempt",
}
OUTPUT_FIELDS = {"node_id", "type", "subfolder", "filename", "oss_path"}
FAST = ["--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=3"]


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timezone.utc.utcoffset(None)
    return moment


# ----------------------------------------------------------------------------------------------- submit


@pytest.mark.parametrize("profile", ["sim-api", "sim-dedicated"])
def test_submit_wait_json_prints_succeeded_jobs_with_oss_paths(cli: Cli, workflow_file: Path, profile: str) -> None:
    result = cli.run("submit", str(workflow_file), "-p", profile, "-n", "2", "--random-seed", *FAST, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    jobs = json_lines(result.stdout)
    assert len(jobs) == 2
    for job in jobs:
        assert JSON_FIELDS <= set(job), JSON_FIELDS - set(job)
        assert job["state"] == "succeeded" and job["profile"] == profile
        assert job["edition"] == ("api" if profile == "sim-api" else "dedicated")
        assert job["failure"] is None and job["parent_id"] is None and job["attempt"] == 1
        assert _utc(job["submitted_at"]) <= _utc(job["finished_at"])
        assert job["outputs"] and set(job["outputs"][0]) == OUTPUT_FIELDS
        output = job["outputs"][0]
        assert output["oss_path"] == f"{BUCKET}/output/{output['filename']}"
        if profile == "sim-api":
            assert job["task_id"] and job["queue_index"] is not None and job["sink_index"] is not None
            assert job["request_id"]
        else:
            assert job["prompt_id"]


def test_submit_wait_readable_output_shows_files_and_oss_paths(cli: Cli, workflow_file: Path) -> None:
    result = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--wait")
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout
    assert f"{BUCKET}/output/" in result.stdout
    assert ".png" in result.stdout


def test_submit_then_wait_jobs_show(cli: Cli, workflow_file: Path) -> None:
    submitted = cli.run("submit", str(workflow_file), "-p", "sim-api", "-n", "2", "--random-seed", *FAST, "--json")
    assert submitted.returncode == 0, submitted.stderr
    jobs = json_lines(submitted.stdout)
    assert {job["state"] for job in jobs} <= {"queued", "running", "succeeded"}
    prefixes = [job["id"][:10] for job in jobs]

    waited = cli.run("wait", *prefixes, "--timeout", "60", "--json")
    assert waited.returncode == 0, waited.stderr
    assert [job["id"] for job in json_lines(waited.stdout)] == [job["id"] for job in jobs]
    assert {job["state"] for job in json_lines(waited.stdout)} == {"succeeded"}

    listed = cli.run("jobs", "--json", "--state", "succeeded", "-p", "sim-api")
    assert listed.returncode == 0, listed.stderr
    assert {job["id"] for job in json_lines(listed.stdout)} == {job["id"] for job in jobs}
    assert cli.run("jobs", "--json", "--state", "failed").stdout.strip() == ""
    # The app's state names work here too: `done`, `active` and the start of a name.
    for words in ("done", "suc", "failed,done"):
        done = cli.run("jobs", "--json", "--state", words)
        assert {job["id"] for job in json_lines(done.stdout)} == {job["id"] for job in jobs}, (words, done.stderr)
    assert cli.run("jobs", "--json", "--state", "active").stdout.strip() == ""
    assert len(json_lines(cli.run("jobs", "--json", "--limit", "1").stdout)) == 1
    table = cli.run("jobs")
    assert table.returncode == 0 and jobs[0]["id"][:8] in table.stdout

    shown = cli.run("show", prefixes[0], "--json")
    assert shown.returncode == 0
    (detail,) = json_lines(shown.stdout)
    assert detail["id"] == jobs[0]["id"] and detail["outputs"]
    readable = cli.run("show", prefixes[0])
    assert readable.returncode == 0
    assert jobs[0]["id"] in readable.stdout and detail["outputs"][0]["oss_path"] in readable.stdout


# ----------------------------------------------------------------------------------------------- errors


def test_usage_and_config_errors_exit_2_with_a_message(cli: Cli, workflow_file: Path, tmp_path: Path) -> None:
    cases = []
    cases.append((cli.run("submit", str(workflow_file), "-p", "nope"), "unknown profile 'nope'"))
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "3": {\n    "class_type": "KSampler",\n    "inputs": {,}\n  }\n}\n', encoding="utf-8")
    cases.append((cli.run("submit", str(broken), "-p", "sim-api"), f"{broken}:4:"))
    ui_format = tmp_path / "ui.json"
    ui_format.write_text('{"nodes": [], "links": []}', encoding="utf-8")
    cases.append((cli.run("submit", str(ui_format), "-p", "sim-api"), "Export (API)"))
    cases.append((cli.run("submit", str(workflow_file), "-p", "sim-api", "--set", "99.steps=3"), "99"))
    cases.append((cli.run("submit", str(workflow_file), "-p", "sim-api", "--set", "3.steps"), "NODE.INPUT=VALUE"))
    cases.append((cli.run("submit", str(workflow_file), "-p", "sim-api", "--set", "3.steps=many"), "steps"))
    cases.append((cli.run("submit", str(workflow_file), "-p", "sim-api", "--timeout", "5"), "--wait"))
    cases.append((cli.run("show", "ffffffffffff"), "ffffffffffff"))
    cases.append((cli.run("jobs", "--state", "bogus"), "not a state"))
    cases.append((cli.run("resubmit"), "--failed"))
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('[profiles.x]\nedition = "api"\ninput_urll = "http://127.0.0.1:1/api/predict/s"\n')
    broken_cli = Cli(bad_config, tmp_path / "data")
    cases.append((broken_cli.run("jobs"), f"{bad_config}:3"))
    for result, needle in cases:
        assert result.returncode == 2, (result.args, result.stderr)
        assert needle in result.stderr, (result.args, result.stderr)
        assert_no_traceback(result)
    # Nothing was stored by any of them.
    assert cli.run("jobs", "--json").stdout.strip() == ""


def test_validation_failure_exits_1_with_the_reason(cli: Cli, workflow_file: Path) -> None:
    result = cli.run(
        "submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--set", "4.ckpt_name=gone.safetensors",
        "--wait", "--json",
    )
    assert result.returncode == 1, result.stderr
    (job,) = json_lines(result.stdout)
    assert job["state"] == "failed" and job["failure"]["category"] == "rejected"
    assert job["failure"]["node_id"] == "4" or "node 4" in job["failure"]["message"]
    assert "gone.safetensors" in job["failure"]["message"]


def test_wrong_token_exits_3_without_showing_the_token(tmp_path: Path, sim: object, workflow_file: Path) -> None:
    wrong = "wrong-token-9876543210"
    cli = Cli(write_config(tmp_path / "wrong.toml", sim, token=wrong), tmp_path / "data")
    for profile in ("sim-api", "sim-dedicated"):
        result = cli.run("submit", str(workflow_file), "-p", profile, *FAST, "--json")
        assert result.returncode == 3, result.stderr
        assert wrong not in result.stderr + result.stdout
        (job,) = json_lines(result.stdout)
        assert job["failure"]["category"] == "auth"
    log_files = list((tmp_path / "data").rglob("*.log"))
    assert all(wrong not in path.read_text(errors="replace") for path in log_files)


def test_unreachable_service_exits_3_and_resubmit_failed_recovers(tmp_path: Path, workflow_file: Path) -> None:
    port = free_port()

    class Down:  # the addresses a SimServer on `port` would have
        api_input_url = f"http://127.0.0.1:{port}/api/predict/comfyui-api"
        dedicated_url = f"http://127.0.0.1:{port}"

    cli = Cli(write_config(tmp_path / "config.toml", Down()), tmp_path / "data")
    first = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--json")
    assert first.returncode == 3, first.stderr
    (failed,) = json_lines(first.stdout)
    assert failed["state"] == "failed" and failed["failure"]["category"] == "transport"

    with SimThread(token=SIM_TOKEN, step_seconds=0.01, port=port, output_dir=tmp_path / "out"):
        again = cli.run("resubmit", "--failed", "--wait", "--json")
        assert again.returncode == 0, again.stderr
        (job,) = json_lines(again.stdout)
        assert job["state"] == "succeeded"
        assert job["parent_id"] == failed["id"] and job["attempt"] == 2
        # Already resubmitted: nothing left to do.
        nothing = cli.run("resubmit", "--failed")
        assert nothing.returncode == 0 and "no failed jobs" in nothing.stderr


def test_wait_on_unreachable_service_exits_3(tmp_path: Path, workflow_file: Path) -> None:
    port = free_port()
    with SimThread(token=SIM_TOKEN, step_seconds=0.01, port=port, output_dir=tmp_path / "out") as server:
        cli = Cli(write_config(tmp_path / "config.toml", server), tmp_path / "data")
        submitted = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--set", "3.steps=1000",
                            "--json")
        assert submitted.returncode == 0, submitted.stderr
        (job,) = json_lines(submitted.stdout)
    result = cli.run("wait", job["id"], "--timeout", "5")
    assert result.returncode == 3, result.stderr
    assert_no_traceback(result)


# ----------------------------------------------------------------------------------------------- cancel / watch / ^C


def test_cancel(cli: Cli, workflow_file: Path) -> None:
    api = json_lines(cli.run("submit", str(workflow_file), "-p", "sim-api", *FAST, "--set", "3.steps=500", "--json").stdout)
    result = cli.run("cancel", api[0]["id"])
    # An instance took it at once (idle instances): the API edition cannot interrupt it, and says so.
    assert result.returncode == 1 and "cannot interrupt" in result.stderr, result.stderr

    dedicated = json_lines(
        cli.run("submit", str(workflow_file), "-p", "sim-dedicated", "-n", "2", "--random-seed", *FAST,
                "--set", "3.steps=1000", "--json").stdout
    )
    result = cli.run("cancel", *(job["id"][:12] for job in dedicated))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("cancelled") == 2, result.stdout
    shown = [json_lines(cli.run("show", job["id"], "--json").stdout)[0] for job in dedicated]
    assert [job["state"] for job in shown] == ["cancelled", "cancelled"]
    again = cli.run("cancel", dedicated[0]["id"])
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_watch_prints_changes_until_interrupted(cli: Cli, workflow_file: Path) -> None:
    watcher = cli.popen("watch", "-p", "sim-dedicated", "--json")
    try:
        submitted = cli.run("submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--json")
        (job,) = json_lines(submitted.stdout)
        assert watcher.stdout is not None
        # Lines are read on a thread: a watcher that never prints the end must fail this test, not hang it.
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True)
        reader.start()
        states = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            change = json.loads(line)
            if change["id"] == job["id"]:
                states.append(change["state"])
                if change["state"] == "succeeded":
                    break
        assert states and states[-1] == "succeeded", states
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=20) == 130
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
def test_watch_prints_every_change_another_process_makes(cli: Cli, workflow_file: Path, profile: str) -> None:
    """`submit --wait` in one terminal, `watch --json` in another: every state of the job, in order, none twice."""
    watcher = cli.popen("watch", "-p", profile, "--json")
    try:
        assert watcher.stdout is not None and watcher.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
        errors: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [errors.put(line) for line in watcher.stderr], daemon=True).start()
        deadline = time.monotonic() + 60
        while "watching" not in errors.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
        submitted = cli.run("submit", str(workflow_file), "-p", profile, *FAST, "--set", "3.steps=150", "--wait",
                            "--json")
        assert submitted.returncode == 0, submitted.stderr
        (job,) = json_lines(submitted.stdout)
        seen: list[dict] = []
        while time.monotonic() < deadline:
            try:
                change = json.loads(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                break
            if change["id"] == job["id"]:
                seen.append(change)
                if change["state"] == "succeeded" and change["outputs"]:
                    break
        states = [change["state"] for change in seen]
        in_order = [state for index, state in enumerate(states) if index == 0 or states[index - 1] != state]
        # Every state the store had, in order: `queued` is skipped when the server said running before the submit's
        # answer was stored (the store never had it queued); the API edition knows no `running` (results only).
        expected = {
            "sim-dedicated": (["submitting", "queued", "running", "succeeded"], ["submitting", "running", "succeeded"]),
            # (`running` once the queue monitor's search saw an instance take it, if it looked in time)
            "sim-api": (["submitting", "queued", "succeeded"], ["submitting", "queued", "running", "succeeded"]),
        }[profile]
        assert in_order in expected, [(c["state"], c["started_at"], c["progress"]) for c in seen]
        texts = [json.dumps(change, sort_keys=True) for change in seen]
        assert len(texts) == len(set(texts)), "a change was printed twice"
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=20) == 130
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()


def test_a_prompt_posted_elsewhere_shows_in_watch_and_jobs_as_external(cli: Cli, sim: SimServer) -> None:
    import httpx

    from tui.core.workflow import seed_workflow

    watcher = cli.popen("watch", "-p", "sim-dedicated", "--json")
    try:
        assert watcher.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
        workflow = seed_workflow()
        for assignment in ("5.width=64", "5.height=64", "3.steps=3"):
            workflow = workflow.apply_assignment(assignment)
        response = httpx.post(f"{sim.dedicated_url}/prompt", json={"prompt": workflow.to_dict()},
                              headers={"Authorization": SIM_TOKEN}, timeout=10)
        prompt_id = response.json()["prompt_id"]
        deadline = time.monotonic() + 60
        finished = None
        while time.monotonic() < deadline and finished is None:
            try:
                change = json.loads(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                break
            if change["prompt_id"] == prompt_id and change["state"] == "succeeded":
                finished = change
        assert finished is not None and finished["external"] is True and finished["outputs"], finished
        assert all(output["oss_path"] for output in finished["outputs"])
        listed = json_lines(cli.run("jobs", "--origin", "external", "--json").stdout)
        assert [job["prompt_id"] for job in listed] == [prompt_id]
        assert json_lines(cli.run("jobs", "--origin", "mine", "--json").stdout) == []
        shown = cli.run("show", finished["id"])
        assert "submitted by another client" in shown.stdout, shown.stdout
    finally:
        watcher.send_signal(signal.SIGINT)
        if watcher.wait(timeout=20) is None:
            watcher.kill()


def test_interrupted_wait_exits_130_and_loses_nothing(cli: Cli, workflow_file: Path) -> None:
    # 1500 steps × 0.01 s: long enough that the interrupt lands while the job still runs, even on a busy machine.
    process = cli.popen("submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--set", "3.steps=1500", "--wait")
    try:
        def accepted() -> list:
            if not cli.store_file.exists():
                return []
            store = JobStore(cli.store_file)
            try:
                return [job for job in store.active() if job.state is not JobState.SUBMITTING]
            finally:
                store.close()

        (job,) = wait_until_sync(accepted, timeout=60, what="the job to be accepted")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    finished = cli.run("wait", job.id, "--json", "--timeout", "60")
    assert finished.returncode == 0, finished.stderr
    assert json_lines(finished.stdout)[0]["state"] == "succeeded"


def test_output_cut_short_by_the_reader_ends_quietly(cli: Cli) -> None:
    # `comfyq jobs --json | head -1`: the reader goes away while comfyq still writes. Like any Unix tool, comfyq
    # stops without a word (no "unexpected error", no traceback) and exits 141 (128 + SIGPIPE), as a shell reports.
    from tui.core.jobs import Edition, Job

    with JobStore(cli.store_file) as store:
        store.add_many([Job(id=f"{n:032x}", profile="sim-api", edition=Edition.API, workflow=None) for n in range(3000)])
    process = cli.popen("jobs", "--json", "--limit", "3000")
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    assert first.startswith("{")
    process.stdout.close()  # the reader is gone; ~1 MB is still to come
    assert process.wait(timeout=60) == 141
    errors = process.stderr.read()
    assert "unexpected error" not in errors and "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_wait_summary_is_one_whole_line_per_failed_job_even_into_a_pipe(tmp_path: Path, workflow_file: Path) -> None:
    """`submit --wait` into a pipe: the Problems lines are one per failed job with its short form (the traceback and
    the tips stay in `show`), and no line is folded or cut at 80 columns (COLUMNS says 80; a pipe has no width)."""
    with SimThread(token=SIM_TOKEN, step_seconds=0.01, output_dir=tmp_path / "out", fail_rate=1.0) as server:
        cli = Cli(write_config(tmp_path / "config.toml", server), tmp_path / "data")
        env = {**cli_env(), "COLUMNS": "80"}
        result = subprocess.run(cli.argv("submit", str(workflow_file), "-p", "sim-dedicated", "-n", "3", *FAST, "--wait"),
                                capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert result.returncode == 1, result.stderr
    assert_no_traceback(result)
    lines = result.stdout.splitlines()
    problems = [line for line in lines[lines.index("Problems") + 1 :] if not line.startswith("(")]
    assert len(problems) == 3, result.stdout
    assert all("OOM · KSampler — CUDA out of memory" in line for line in problems), problems
    assert not any("TIPS" in line for line in result.stdout.splitlines()), "the tips stay in `show`"
    table = [line for line in lines[: lines.index("Problems")] if "failed" in line]
    # The table's Detail is the short form, whole (the message is the Problems lines', `show`'s and `--json`'s).
    assert len(table) == 3 and all(line.rstrip().endswith("  OOM · KSampler") and "…" not in line for line in table), table
    # stderr's progress lines: one short line per job that ended.
    ended = [line for line in result.stderr.splitlines() if " failed " in line]
    assert len(ended) == 3 and all(line.endswith(" failed OOM · KSampler") for line in ended), result.stderr
