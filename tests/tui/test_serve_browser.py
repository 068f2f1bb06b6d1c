"""`comfyq serve` in a real browser: headless Chromium (Debian's `chromium`, never a downloaded build) driven by
Playwright for Python.

The real `comfyq serve` (its own process, access token from the environment) serves the app on the emulators of this
test process. The browser opens the printed address with `?token=`, the job table appears, ctrl+s submits the
preloaded workflow and its row reaches "succeeded"; a job submitted with `comfyq submit` shows up too. Every
websocket frame the browser receives is kept: the profiles' service token and the access token are never in them.
A screenshot is saved (pytest's tmp dir, and $COMFYQ_TEST_ARTIFACTS when set) and must not be blank. Closing the
browser ends the session and its process; the store stays intact.

Chromium missing is a failure, not a skip: .ci/run installs it, as it installs tmux.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.serve_helpers import SEED_WORKFLOW_FILE, SIM_TOKEN, running_serve, running_sim
from tests.waiting import wait_until_sync

ACCESS_ENV = "COMFYQ_TEST_ACCESS_TOKEN"
ACCESS_TOKEN = "browser-access-token-0123456789abc"
ARTIFACTS_ENV = "COMFYQ_TEST_ARTIFACTS"  # a directory CI keeps: the screenshot is copied there too
WAIT_SECONDS = 60.0
VIEWPORT = {"width": 1280, "height": 800}

# The page's xterm.js terminal is drawn on a canvas: there is no text in the DOM to read. textual-serve's page
# script keeps its Terminal in a `terminal` property; this hook, run before the page's scripts, records the first
# object assigned to such a property that has a screen buffer, so the test reads what the page shows.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(value) {
    Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && value.buffer.active && !window.__comfyqTerminal) window.__comfyqTerminal = value;
  },
});
"""
READ_SCREEN = """() => {
  const terminal = window.__comfyqTerminal;
  if (!terminal) return null;
  const buffer = terminal.buffer.active, lines = [];
  for (let row = 0; row < buffer.length; row++) {
    const line = buffer.getLine(row);
    if (line) lines.push(line.translateToString(true));
  }
  return lines.join('\\n');
}"""


def chromium_executable() -> str:
    executable = os.environ.get("COMFYQ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (.ci/run installs it)", pytrace=False)
    return executable


def wait_for_screen(page: Any, predicate: Callable[[str], bool], what: str, timeout: float = WAIT_SECONDS) -> str:
    """Wait until the page's terminal text satisfies `predicate`; return it (a failure shows the last text)."""
    screens = [""]

    def matches() -> bool:
        screens[0] = page.evaluate(READ_SCREEN) or ""
        return predicate(screens[0])

    # The terminal's buffer has no change event the page exposes: poll it with the page's own wait.
    wait_until_sync(matches, timeout, lambda: f"{what}; the page shows:\n{screens[0]}", interval=0.2,
                    pause=lambda seconds: page.wait_for_timeout(seconds * 1000))
    return screens[0]


def click_cell(page: Any, column: int, row: int) -> None:
    """Click the middle of one terminal cell, as a person clicks a row of the app."""
    box = page.locator(".xterm-screen").bounding_box()
    columns, rows = page.evaluate("() => [window.__comfyqTerminal.cols, window.__comfyqTerminal.rows]")
    page.mouse.click(
        box["x"] + (column + 0.5) * box["width"] / columns, box["y"] + (row + 0.5) * box["height"] / rows
    )


def table_rows(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if any(state in line for state in ("queued", "running", "succeeded"))]


def assert_not_blank(png: Path) -> None:
    from PIL import Image, ImageStat

    with Image.open(png) as image:
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
        grey = image.convert("L")
        variance = ImageStat.Stat(grey).var[0]
        colours = len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])
    # A blank page (one colour, or the intro's dark background) has next to no variance and a handful of colours;
    # the app's screen has text in many colours.
    assert variance > 100, f"the screenshot looks blank: grey variance {variance:.1f}"
    assert colours > 50, f"the screenshot looks blank: {colours} colours"


def test_the_served_app_submits_and_shows_jobs_in_a_real_browser(tmp_path: Path) -> None:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with (
        running_sim(tmp_path) as cli,
        running_serve(cli, "--token-env", ACCESS_ENV, env={ACCESS_ENV: ACCESS_TOKEN}) as serve,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            outside: list[str] = []

            def only_this_machine(route: Any) -> None:
                # Nothing leaves the machine: the page is meant to ask no third party; anything it tries is refused
                # and recorded.
                if route.request.url.startswith(f"http://127.0.0.1:{serve.port}/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_this_machine)
            frames: list[bytes] = []
            page.on(
                "websocket",
                lambda ws: ws.on(
                    "framereceived", lambda payload: frames.append(payload if isinstance(payload, bytes) else payload.encode())
                ),
            )
            page.add_init_script(CATCH_TERMINAL)

            page.goto(f"{serve.url}?token={ACCESS_TOKEN}")
            assert page.url == serve.url, "the token is moved out of the address into a cookie"
            screen = wait_for_screen(
                page,
                lambda text: any("state" in line and "profile" in line for line in text.splitlines())  # table header
                and "sim-api" in text and text.count("connected") >= 2,
                "the job table and both profiles connected",
            )
            assert "Traceback" not in screen

            page.click(".xterm-screen")  # focus the terminal, as a person's first click does
            page.keyboard.press("Control+s")
            screen = wait_for_screen(
                page,
                lambda text: any("succeeded" in row and "sim-api" in row for row in table_rows(text)),
                "the submitted job to succeed",
            )

            submitted = cli.run("submit", "--profile", "sim-dedicated", "--json", str(SEED_WORKFLOW_FILE))
            assert submitted.returncode == 0, submitted.stderr
            job_id = json.loads(submitted.stdout.splitlines()[0])["id"]
            screen = wait_for_screen(
                page,
                lambda text: any(job_id[:8] in row and "sim-dedicated" in row for row in table_rows(text)),
                f"job {job_id[:8]}, submitted from the CLI, in the table",
            )

            # The profile form shows the token field (masked): still nothing of it goes to the browser.
            profile_row = next(number for number, line in enumerate(screen.splitlines()) if "sim-api  api" in line)
            click_cell(page, 6, profile_row)  # the profile list takes the focus
            page.keyboard.press("Shift+E")
            wait_for_screen(page, lambda text: "Edit profile sim-api" in text and "token ••••" in text, "the profile form")
            page.keyboard.press("Escape")
            wait_for_screen(page, lambda text: "Edit profile sim-api" not in text, "the profile form to close")

            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot))
            if artifacts := os.environ.get(ARTIFACTS_ENV):
                Path(artifacts).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(artifacts) / "serve.png")
            assert_not_blank(shot)

            received = b"".join(frames)
            assert len(received) > 10_000, "the app's screens came over the websocket"
            assert SIM_TOKEN.encode() not in received, "a profile's service token reached the browser"
            assert ACCESS_TOKEN.encode() not in received
            assert outside == [], f"the page asked hosts outside this machine: {outside}"
            assert serve.app_processes(), "the tab's app session runs"
        finally:
            browser.close()  # the tab goes away mid-session

        serve.wait_for_line(r"session closed \(0 open\)", timeout=30)
        serve.wait_for_no_app_processes(timeout=30)
        listed = cli.run("jobs", "--json")
        assert listed.returncode == 0, listed.stderr
        jobs = {job["id"]: job for job in map(json.loads, listed.stdout.splitlines())}
        assert job_id in jobs and len(jobs) == 2
