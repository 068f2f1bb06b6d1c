"""Running `comfyq serve` as a user would (its own process, port 0), on the emulators of this test process."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.cli_helpers import REPO, Cli, cli_env
from tests.waiting import wait_until_sync
from tui.sim.server import SimServer, SimThread

SIM_TOKEN = "sim-profile-token-0123456789abcdef"  # the profiles' service token: must never reach the browser
SEED_WORKFLOW_FILE = REPO / "tui" / "data" / "sd15_txt2img.json"  # the workflow the app preloads
START_SECONDS = 60.0  # the first start imports aiohttp, textual-serve and the store: slow CI machines need room


class ServeProcess:
    """A running `comfyq serve`: its address, its printed lines, and the app sessions it started."""

    def __init__(self, process: subprocess.Popen[str], cli: Cli) -> None:
        self.process = process
        self.cli = cli
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ""
        self.port = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, pattern: str, timeout: float = START_SECONDS) -> re.Match[str]:
        """The first printed line (from now on, or already printed) matching `pattern`."""
        compiled = re.compile(pattern)
        for printed in self.lines:
            if match := compiled.search(printed):
                return match
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"comfyq serve printed no line matching {pattern!r}; printed: {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"comfyq serve ended ({self.process.wait()}); printed {self.lines}; {stderr}")
            self.lines.append(line)
            if match := compiled.search(line):
                return match

    def wait_until_listening(self) -> None:
        match = self.wait_for_line(r"the app on (http://\S+?:(\d+)/)")
        self.url, self.port = match.group(1), int(match.group(2))

    def app_processes(self) -> list[int]:
        """Pids of the app sessions of this server: processes running `tui ... ui` on its data dir (orphans too)."""
        marker = str(self.cli.data_dir.resolve())
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.process.pid:
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state == "Z":  # exited; its parent has not collected it yet
                continue
            words = [word.decode(errors="replace") for word in argv if word]
            if marker in words and "ui" in words and "serve" not in words:
                found.append(int(entry.name))
        return found

    def wait_for_no_app_processes(self, timeout: float = 30.0) -> None:
        # Processes of another program: nothing to wait on but /proc.
        wait_until_sync(lambda: not self.app_processes(), timeout,
                        lambda: f"the app sessions to end (still running: {self.app_processes()})", interval=0.2)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def write_sim_config(path: Path, server: SimServer) -> Path:
    path.write_text(server.config_snippet(oss_bucket_path="oss://comfyq-test/artlab"), encoding="utf-8")
    return path


@contextmanager
def running_sim(tmp_path: Path) -> Iterator[Cli]:
    """The emulators (no failures, quick steps) and a `comfyq` CLI configured for them."""
    with SimThread(token=SIM_TOKEN, step_seconds=0.02, fail_rate=0.0, output_dir=tmp_path / "sim-out") as server:
        yield Cli(write_sim_config(tmp_path / "config.toml", server), tmp_path / "data")


@contextmanager
def running_serve(cli: Cli, *args: str, env: dict[str, str] | None = None) -> Iterator[ServeProcess]:
    environment = cli_env() | (env or {})
    process = subprocess.Popen(
        cli.argv("serve", "--port", "0", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=environment,
    )
    serve = ServeProcess(process, cli)
    try:
        serve.wait_until_listening()
        yield serve
    finally:
        serve.stop()
