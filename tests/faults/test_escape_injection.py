"""Nothing a service sends reaches the terminal raw (issue 11, item 1).

A hostile look-alike names its outputs, subfolder and node with escape sequences (OSC 52 clipboard writes, CSI
cursor moves, 8-bit C1 controls, bidi overrides, backspaces) and fails jobs with escape-laden errors; every CLI
output path is walked (`submit --wait` table, Outputs and Problems, the stderr progress lines, `--json`, `show`,
`jobs`, `wait`, `watch`) and no control character may reach stdout or stderr. The stored value stays exact.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from tests.faults.helpers import Cli, assert_clean_output, json_lines, popen_to_files, running
from tests.faults.hostile import EVIL_NAMES, EVIL_NODE, EVIL_SUBFOLDER, HostileServer, Outputs, hostile_cli

# What must never be written to a terminal: C0 controls but newline and tab, DEL, C1 controls, bidi overrides and
# isolates, lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def assert_terminal_safe(*streams: str) -> None:
    for text in streams:
        found = UNSAFE.search(text)
        assert found is None, f"{found.group()!r} reached the terminal in: {text[max(0, found.start() - 80):found.end() + 80]!r}"


def test_every_cli_output_path_escapes_what_the_service_named(
    tmp_path: Path, hostile: HostileServer, workflow_file: Path
) -> None:
    hostile.outputs = Outputs(filenames=EVIL_NAMES, subfolder=EVIL_SUBFOLDER, node_id=EVIL_NODE)
    cli = hostile_cli(tmp_path, hostile)

    submitted = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "30")
    assert_clean_output(submitted.stdout, submitted.stderr)
    assert submitted.returncode == 0, submitted.stderr
    assert_terminal_safe(submitted.stdout, submitted.stderr)
    assert "\\x1b]52;c;ZWNobyBQV05FRAo=" in submitted.stdout, "the name is shown, escaped, not dropped"

    as_json = cli.run("jobs", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert_terminal_safe(as_json.stdout, as_json.stderr)
    (job,) = json_lines(as_json.stdout)
    # --json keeps the exact values (JSON escapes read back as the very characters the service sent).
    assert sorted(output["filename"] for output in job["outputs"]) == sorted(EVIL_NAMES)
    assert {output["subfolder"] for output in job["outputs"]} == {EVIL_SUBFOLDER}

    for args in (("show", job["id"]), ("show", job["id"], "--json"), ("jobs",), ("wait", job["id"]),
                 ("wait", job["id"], "--json")):
        result = cli.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert_clean_output(result.stdout, result.stderr)
        assert_terminal_safe(result.stdout, result.stderr)


def test_escape_laden_errors_are_escaped_in_problems_show_and_progress(
    tmp_path: Path, hostile: HostileServer, workflow_file: Path
) -> None:
    hostile.outputs = Outputs(node_id=EVIL_NODE, error="boom \x1b]52;c;cm0gLXJmIH4K\x07\x1b[2K\r all good")
    cli = hostile_cli(tmp_path, hostile)
    submitted = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "30")
    assert submitted.returncode == 1, submitted.stderr
    assert_terminal_safe(submitted.stdout, submitted.stderr)
    assert "Problems" in submitted.stdout and "\\x1b]52;c;cm0gLXJmIH4K" in submitted.stdout
    (job,) = json_lines(cli.run("jobs", "--json").stdout)
    assert "\x1b]52" in job["failure"]["message"], "the stored message is the real one"
    for args in (("show", job["id"]), ("jobs",), ("resubmit", "--failed", "--json")):
        result = cli.run(*args)
        assert_clean_output(result.stdout, result.stderr)
        assert_terminal_safe(result.stdout, result.stderr)


def test_watch_lines_are_escaped(tmp_path: Path, hostile: HostileServer, workflow_file: Path) -> None:
    hostile.outputs = Outputs(error="bad \x1b[2J\x9b1m node")
    cli = hostile_cli(tmp_path, hostile)
    process, out_path, err_path = popen_to_files(cli, "watch", name="watch")
    with running(process):
        time.sleep(1.0)
        hostile.set("history", "stall")  # the submitting process leaves it queued; the watcher settles it
        submitted = cli.run("submit", str(workflow_file), "-p", "hostile")
        assert submitted.returncode == 0, submitted.stderr
        hostile.set("history", "normal")
        deadline = time.monotonic() + 20
        while "failed" not in out_path.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        process.wait(20)
    out, err = out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8")
    assert "failed" in out, (out, err)
    assert_terminal_safe(out, err)


def test_config_errors_quoting_the_file_are_escaped(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles."evil\\u001b]52;c;eA==\\u0007"]\nedition = "nonsense"\n', encoding="utf-8")
    cli = Cli(config, tmp_path / "data")
    for args in (("config", "check"), ("jobs",)):
        result = cli.run(*args)
        assert result.returncode == 2, result
        assert_terminal_safe(result.stdout, result.stderr)
