"""A known token must appear nowhere: not in the log file, the job store (file, -wal, -shm), any stdout/stderr,
`--json` output, or the TUI's screenshots — whatever ran: `submit --wait`, `jobs`, `show`, `watch`, the TUI, and a
service that echoes the token back in its error bodies and results. Masked forms (`tok-…(19)`) are fine.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.core.jobs import JobState
from tui.core.store import JobStore

from tests.faults.helpers import (
    FAST,
    Cli,
    Emulator,
    assert_clean_output,
    json_lines,
    popen_to_files,
    running,
    write_config,
)
from tests.faults.hostile import ReplayServer, Reply
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(150)

COMFYUI = Path(__file__).resolve().parent.parent / "fixtures" / "comfyui"

SECRET = "tok-SECRET-12345678"
# Any recognisable part of it counts as a leak (the mask keeps only the first 4 characters: "tok-").
LEAK_MARKERS = (SECRET, "SECRET-12345678", SECRET[::-1])


@pytest.fixture
def secret_emulator(tmp_path: Path) -> Iterator[Emulator]:
    sim = Emulator(tmp_path / "sim-out", token=SECRET)
    try:
        yield sim
    finally:
        sim.close()


def echoing_config(emulator: Emulator, replay: ReplayServer) -> str:
    """The emulator's two profiles, plus one on a server that echoes the token back in what it answers."""
    return emulator.config_text(token=SECRET) + (
        "\n"
        "[profiles.echo]\n"
        'edition = "dedicated"\n'
        f'url = "{replay.url}/"\n'
        f'token = "{SECRET}"\n'
    )


def leaks(where: str, data: bytes | str) -> list[str]:
    """Where the token (or a recognisable part of it) shows in `data`, with a little context."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    found = []
    for marker in LEAK_MARKERS:
        for encoded in (marker.encode("utf-8"), marker.encode("utf-16-le")):
            at = raw.find(encoded)
            while at >= 0 and len(found) < 8:
                context = raw[max(0, at - 100) : at + len(encoded) + 10].decode("utf-8", "replace")
                found.append(f"{where}: …{context}…")
                at = raw.find(encoded, at + len(encoded))
        if found:
            break  # the shorter markers are inside the full token: one report per place is enough
    return found


def echo_replies(replay: ReplayServer) -> dict[str, tuple[Reply | None, Reply | None]]:
    """name -> (POST /prompt answer, GET /history answer), each carrying the token the server was sent."""
    validation = {"error": {"type": "denied", "message": f"bad token {SECRET}", "details": SECRET}, "node_errors": {}}
    node_errors = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                  "details": "", "extra_info": {}},
        "node_errors": {
            "4": {
                "errors": [{"type": "value_not_in_list", "message": "Value not in list",
                            "details": f"ckpt_name: 'x' not in [] (sent {SECRET})",
                            "extra_info": {"input_name": "ckpt_name"}}],
                "dependent_outputs": ["9"],
                "class_type": "CheckpointLoaderSimple",
            }
        },
    }
    execution = json.loads((COMFYUI / "05_get_history_id_exec_error_blend.json").read_text())
    for entry in execution.values():
        for kind, data in entry["status"]["messages"]:
            if kind == "execution_error":
                data["exception_message"] = f"refused {SECRET}"
                data["traceback"] = [f'  File "auth.py", line 1, in check  # {SECRET}\n']
    success = json.loads(replay.success_history)
    for entry in success.values():
        entry["meta"]["note"] = f"served for {SECRET}"
    return {
        "echo-validation-400": (Reply(status=400, body=json.dumps(validation).encode()), None),
        "echo-node-errors-400": (Reply(status=400, body=json.dumps(node_errors).encode()), None),
        "echo-execution-error": (None, Reply(body=json.dumps(execution).encode(), history_entry=True)),
        "echo-success-entry": (None, Reply(body=json.dumps(success).encode(), history_entry=True)),
    }


async def run_tui(config_file: Path, data_dir: Path, screenshots: list[str]) -> str:
    """The real app, headless: submit one job with ctrl+s, wait for it to end, screenshot the list and the detail."""
    from tui.app import ComfyqApp, LaunchOptions
    from tui.core.config import load_config
    from tui.core.engine import apply_params
    from tui.core.locations import resolve_locations
    from tui.core.logs import setup_logging
    from tui.core.workflow import seed_workflow

    locations = resolve_locations(config=config_file, data_dir=data_dir)
    config = load_config(locations.config_file, explicit=True)
    workflow = apply_params(seed_workflow(), {"5.width": "64", "5.height": "64", "3.steps": "2"})
    root = logging.getLogger()
    previous_level = root.level
    setup_logging(locations.log_file)  # as `comfyq` does before it opens the app
    app = ComfyqApp(LaunchOptions(config=config, locations=locations, workflow=workflow))
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            deadline_steps = 0
            while not app.engine_started and deadline_steps < 500:
                await pilot.pause(0.02)
                deadline_steps += 1
            assert app.engine_started, "the engine did not start"
            await pilot.press("ctrl+s")
            job_id = ""
            for _ in range(1500):
                jobs = app.store.page(limit=10)
                if jobs and jobs[0].state.is_terminal:
                    job_id = jobs[0].id
                    break
                await pilot.pause(0.02)
            assert job_id, "the job submitted from the TUI did not end"
            await pilot.pause(0.3)
            screenshots.append(app.export_screenshot())
            await pilot.press("enter")  # the job's detail
            await pilot.pause(0.3)
            screenshots.append(app.export_screenshot())
            return job_id
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "comfyq-file":
                root.removeHandler(handler)
                handler.close()
        root.setLevel(previous_level)


class Session:
    """The CLI on one config and data dir; keeps every stdout/stderr it produced, to be searched at the end."""

    def __init__(self, cli: Cli) -> None:
        self.cli = cli
        self.outputs: dict[str, str] = {}

    def run(self, name: str, *args: str) -> list[dict]:
        result = self.cli.run(*args, timeout=90)
        self.outputs[f"{name} stdout"] = result.stdout
        self.outputs[f"{name} stderr"] = result.stderr
        assert_clean_output(result.stdout, result.stderr)
        return json_lines(result.stdout) if "--json" in args else []

    def leaks(self, screenshots: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        """Every place the token shows: outputs, screenshots, log files, the store file and its -wal / -shm."""
        found: list[str] = []
        for name, text in self.outputs.items():
            found += leaks(name, text)
        for number, svg in enumerate(screenshots):
            found += leaks(f"screenshot {number}", svg)
        for path in sorted(self.cli.data_dir.glob("*.log*")):
            found += leaks(path.name, path.read_bytes())
        store_files = [path for path in self.cli.data_dir.iterdir() if path.name.startswith(self.cli.store_file.name)]
        assert self.cli.store_file in store_files
        for path in store_files:
            found += leaks(path.name, path.read_bytes())
        return found

    def something_was_logged(self) -> bool:
        return any(path.stat().st_size for path in self.cli.data_dir.glob("*.log*"))


async def test_the_token_appears_nowhere(
    tmp_path: Path, secret_emulator: Emulator, replay_server: ReplayServer, workflow_file: Path
) -> None:
    emulator = secret_emulator
    replay = replay_server
    replay.reset()
    session = Session(Cli(write_config(tmp_path / "config.toml", echoing_config(emulator, replay)), tmp_path / "data"))
    run = session.run

    # The CLI, both editions, readable and --json.
    submitted = []
    for profile in ("sim-api", "sim-dedicated"):
        jobs = run(f"submit {profile}", "submit", str(workflow_file), "-p", profile, *FAST, "--wait", "--json")
        assert [job["state"] for job in jobs] == ["succeeded"], session.outputs[f"submit {profile} stderr"]
        submitted.extend(jobs)
    run("submit readable", "submit", str(workflow_file), "-p", "sim-dedicated", *FAST, "--wait")
    # A flaky service: its queue answers 500 with the token in the body while a job waits; later it heals and
    # `wait` (which reconciles the job) sees it through. The trouble is logged; the token must not be.
    replay.queue = Reply(status=500, body=f"internal error for Authorization: {SECRET}".encode(), content_type="text/plain")
    (stuck,) = run("submit flaky", "submit", str(workflow_file), "-p", "echo", *FAST, "--wait", "--timeout", "3",
                   "--json")
    assert stuck["state"] == "queued"
    replay.queue = None
    (healed,) = run("wait healed", "wait", stuck["id"], "--json")
    assert healed["state"] == "succeeded"
    listed = run("jobs json", "jobs", "--json", "--limit", "100")
    assert len(listed) == 4
    run("jobs readable", "jobs")
    for job in submitted + [healed]:
        run(f"show {job['id']}", "show", job["id"], "--json")
        run(f"show readable {job['id']}", "show", job["id"])

    # `watch`, briefly: it sees one more job through to its end.
    cli = session.cli
    watch, watch_out, watch_err = popen_to_files(cli, "watch", "--json", name="watch")
    with running(watch):
        wait_until_sync(lambda: "watching" in watch_err.read_text(), timeout=30, what="watch to start")
        (extra,) = run("submit during watch", "submit", str(workflow_file), "-p", "sim-api", *FAST, "--json")
        wait_until_sync(
            lambda: any(
                change["id"] == extra["id"] and change["state"] == "succeeded"
                for change in json_lines(watch_out.read_text())
            ),
            timeout=60,
            what="watch to print the job's end",
        )
        watch.send_signal(signal.SIGINT)
        assert watch.wait(20) == 130
    session.outputs["watch stdout"] = watch_out.read_text()
    session.outputs["watch stderr"] = watch_err.read_text()

    # The TUI, in this process, on the same config and data dir: the job list and a job's detail.
    screenshots: list[str] = []
    tui_job = await run_tui(cli.config, cli.data_dir, screenshots)
    with JobStore(cli.store_file) as store:
        assert store.get(tui_job).state is JobState.SUCCEEDED
    assert len(screenshots) == 2 and all("<svg" in svg for svg in screenshots)

    found = session.leaks(screenshots)
    assert not found, "the token leaked:\n" + "\n".join(found)
    assert session.something_was_logged(), "nothing was logged: the check would prove nothing"


def test_a_token_the_service_echoes_back_is_masked_before_it_is_stored_or_shown(
    tmp_path: Path, secret_emulator: Emulator, replay_server: ReplayServer, workflow_file: Path
) -> None:
    replay = replay_server
    replay.reset()
    session = Session(
        Cli(write_config(tmp_path / "config.toml", echoing_config(secret_emulator, replay)), tmp_path / "data")
    )
    # A service that puts the token it was sent into what it answers: a validation error, node errors, an
    # execution error's message and traceback, and an otherwise harmless field of a successful history entry.
    ids = []
    for name, (prompt, history) in echo_replies(replay).items():
        replay.prompt, replay.history = prompt, history
        (job,) = session.run(f"submit {name}", "submit", str(workflow_file), "-p", "echo", *FAST, "--wait", "--json")
        ids.append(job["id"])
    replay.reset()
    # The API edition: a worker's result on the sink that carries the token (an execution error event).
    event = {"type": "execution_error", "data": {"prompt_id": "p-echo", "node_id": "3", "node_type": "ImageBlend",
                                                 "exception_message": f"refused {SECRET}", "exception_type": "RuntimeError",
                                                 "traceback": [f"check({SECRET})"]}}
    secret_emulator.put_on_sink([(json.dumps([event]).encode(), {"task_id": "echo-sink"})])
    cli = session.cli
    watch, watch_out, watch_err = popen_to_files(cli, "watch", "-p", "sim-api", "--json", name="watch")
    with running(watch):
        wait_until_sync(lambda: secret_emulator.sink_attributes()["stream.length"] == "0", timeout=30, what="the sink result")
        watch.send_signal(signal.SIGINT)
        assert watch.wait(20) == 130
    session.outputs["watch stdout"] = watch_out.read_text()
    session.outputs["watch stderr"] = watch_err.read_text()
    session.run("jobs json", "jobs", "--json")
    session.run("jobs readable", "jobs")
    for job_id in ids:
        session.run(f"show {job_id}", "show", job_id, "--json")
        session.run(f"show readable {job_id}", "show", job_id)
    # Exports and statistics of those jobs: failure messages, node names, outputs, every row.
    session.run("export csv", "export", "--format", "csv")
    session.run("export jsonl", "export", "--format", "jsonl")
    exported = tmp_path / "jobs.csv"
    session.run("export csv file", "export", "-o", str(exported))
    session.outputs["export csv file"] = exported.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(session.outputs["export csv file"], newline="")))
    assert len(rows) == 1 + len(ids) + 1  # the header, every job submitted, and the sink's external one
    session.run("stats json", "stats", "--since", "all", "--json")
    session.run("stats readable", "stats", "--since", "all")
    found = session.leaks()
    assert not found, "the token leaked:\n" + "\n".join(found)
