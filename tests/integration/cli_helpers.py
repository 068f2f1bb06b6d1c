"""Running `python -m tui` as a user would, against an emulator in this process (SimThread)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")}
    env["COLUMNS"] = "250"  # wide tables: nothing folded in the readable output
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Cli:
    """`comfyq` with a fixed config file and data dir."""

    def __init__(self, config: Path, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tui", "--config", str(self.config), "--data-dir", str(self.data_dir), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=cli_env()
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=cli_env(),
        )

    @property
    def store_file(self) -> Path:
        from tui.core.locations import resolve_locations

        return resolve_locations(config=str(self.config), data_dir=str(self.data_dir)).store_file


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
