"""Smoke test of the real thing: the installed `comfyq demo` console script in a real terminal (tmux, 120×36).

It opens the demo, waits for the profiles to show, submits the preloaded workflow with ctrl+s, waits until a row
says "succeeded", and quits with q. tmux runs on a private socket (`-L`) with no user config, so the test touches
no tmux server of the user's. Skipped only when tmux is not installed (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_until_sync

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (the smoke test drives the app in tmux)")

WIDTH, HEIGHT = 120, 36
WAIT_SECONDS = 60.0  # first start imports Textual, tree-sitter and the SDK: slow CI machines need room


class Tmux:
    """One detached session on a private tmux server."""

    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, "-f", os.devnull, *args], capture_output=True, text=True, check=check, timeout=30
        )

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def screen(self) -> str:
        result = self.run("capture-pane", "-p", "-t", self.session, check=False)
        return result.stdout if result.returncode == 0 else ""

    def send(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = WAIT_SECONDS) -> str:
        """Wait until the screen satisfies `predicate`; return it (a failure shows the last screen)."""
        screens = [""]

        def matches() -> bool:
            screens[0] = self.screen()
            return predicate(screens[0])

        # Polling a terminal from outside: there is no event to wait on.
        wait_until_sync(matches, timeout, lambda: f"{what}; the screen:\n{screens[0]}", interval=0.1)
        return screens[0]


def comfyq_script() -> Path:
    """The `comfyq` console script of the environment running the tests (next to the interpreter)."""
    script = Path(sys.executable).parent / ("comfyq.exe" if os.name == "nt" else "comfyq")
    assert script.exists(), f"the comfyq console script is not installed next to {sys.executable}"
    return script


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(socket=f"comfyq-test-{uuid.uuid4().hex[:8]}", session="comfyq-smoke")
    try:
        yield session
    finally:
        if session.alive():
            session.run("kill-session", "-t", session.session, check=False)


def test_demo_submits_and_shows_a_succeeded_row_in_a_real_terminal(tmux: Tmux, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    command = " ".join(
        [
            "env",
            # Some environments export COLUMNS / LINES (80×24); they would override the pane's real size.
            "-u",
            "COLUMNS",
            "-u",
            "LINES",
            f"COMFYQ_DATA_DIR={data_dir}",
            f"COMFYQ_CONFIG={tmp_path / 'no-config.toml'}",
            "TERM=xterm-256color",
            str(comfyq_script()),
            "demo",
            "--fail-rate",
            "0",  # the smoke test checks the happy path; failures have their own Pilot tests
            "--step-seconds",
            "0.02",
        ]
    )
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", str(WIDTH), "-y", str(HEIGHT), command)

    screen = tmux.wait_for(lambda text: "sim-api" in text and "sim-dedicated" in text, "the demo's profiles")
    assert "Profiles" in screen and "Workflow" in screen
    tmux.wait_for(lambda text: "connected" in text, "the sources to connect")

    tmux.send("C-s")
    screen = tmux.wait_for(
        lambda text: any("succeeded" in line and "sim-api" in line for line in text.splitlines()),
        "a succeeded row",
    )
    assert "Traceback" not in screen

    # The demo wires its emulator's OSS keys into its own profiles: the preview of the output works with no setup.
    for _ in range(3):  # profiles → workflow → jobs → detail
        tmux.send("Tab")
    tmux.send("p")
    screen = tmux.wait_for(lambda text: "512×512" in text and "fetched in" in text, "the output's preview")
    assert "▀" in screen  # drawn with half-blocks (tmux answers no Sixel)

    tmux.send("q")
    wait_until_sync(lambda: not tmux.alive(), WAIT_SECONDS, lambda: f"comfyq to quit on q; the screen:\n{tmux.screen()}",
                    interval=0.1)
    # The demo used the data dir it was given: the job is in its store.
    assert list((data_dir / "demo").glob("jobs.sqlite3*")), sorted(p.name for p in data_dir.rglob("*"))


def test_q_typed_while_comfyq_starts_quits_it(tmux: Tmux, tmp_path: Path) -> None:
    """A key typed before the app has started is the app's (type-ahead, as in any terminal program): `q` pressed
    right after launching quits it once it is up. Before, the terminal question asked at start-up swallowed the
    key and the terminal's answer came in as keys — `?` among them opened the help and the app stayed."""
    command = " ".join(["env", "-u", "COLUMNS", "-u", "LINES", f"COMFYQ_DATA_DIR={tmp_path / 'data'}",
                        f"COMFYQ_CONFIG={tmp_path / 'no-config.toml'}", "TERM=xterm-256color", str(comfyq_script()),
                        "demo"])
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", str(WIDTH), "-y", str(HEIGHT), command)
    tmux.send("q")  # long before Python has imported Textual
    screens: list[str] = []

    def ended() -> bool:
        screens.append(tmux.screen())
        return not tmux.alive()

    wait_until_sync(ended, WAIT_SECONDS, lambda: f"comfyq to quit on the q typed ahead; the screen:\n{screens[-1]}",
                    interval=0.05)
    assert not any("comfyq keys" in screen for screen in screens), "the help opened"
