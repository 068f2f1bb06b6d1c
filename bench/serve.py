"""serve — memory of `comfyq serve` with 1 and 5 browser sessions.

The real `comfyq serve` runs in its own process on the emulators (a SimThread here). Sessions are opened the way the
page opens them (a websocket to /ws with a terminal size); a session counts once its app has painted and gone quiet
(no output for QUIET_SECONDS). The figure is the resident memory of the server and all its app processes together
(VmRSS from /proc, summed). Baselines, same run: the idle server (no session) for 1 session; 1 session for 5.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import Row, Stat

QUIET_SECONDS = 1.0  # an app that sent nothing for this long has painted its screen
SESSION_TIMEOUT = 60.0
REPO = Path(__file__).resolve().parents[1]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from each process's parent in /proc/*/stat (the `children` files are not
    reliable while the processes run)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def tree_rss_mib(pid: int) -> tuple[float, int]:
    """(RSS of the process and its descendants in MiB, how many descendants)."""
    children = _descendants(pid)
    return sum(_rss_kib(each) for each in [pid, *children]) / 1024, len(children)


async def _drain(ws: object) -> None:
    """Keep reading, as a page does: the client answers the server's heartbeat pings only while it reads."""
    async for _ in ws:  # type: ignore[attr-defined]
        pass


async def _open_session(url: str) -> tuple[object, object, asyncio.Task[None]]:
    import aiohttp

    http = aiohttp.ClientSession()
    ws = await http.ws_connect(url + "ws?width=160&height=48")
    deadline = time.monotonic() + SESSION_TIMEOUT
    received = 0
    while time.monotonic() < deadline:
        try:
            message = await ws.receive(timeout=QUIET_SECONDS)
        except asyncio.TimeoutError:
            if received:
                return http, ws, asyncio.create_task(_drain(ws))
            continue
        if message.type != aiohttp.WSMsgType.BINARY:
            break
        received += len(message.data)
    await ws.close()
    await http.close()
    raise RuntimeError("a session's app did not paint and settle")


async def _measure(url: str, pid: int, sessions: int) -> float:
    opened = []
    try:
        for _ in range(sessions):  # one after another, as tabs are opened: 2 cores would make a crowd slow
            opened.append(await _open_session(url))
        rss, children = tree_rss_mib(pid)
        if children < sessions:
            raise RuntimeError(f"{children} app processes for {sessions} sessions")
        return rss
    finally:
        for http, ws, reader in opened:
            await ws.close()  # type: ignore[attr-defined]
            await reader  # type: ignore[attr-defined]
            await http.close()  # type: ignore[attr-defined]


def _wait_idle(pid: int) -> None:
    deadline = time.monotonic() + 30
    while tree_rss_mib(pid)[1] and time.monotonic() < deadline:
        time.sleep(0.2)  # sessions of a closed websocket end within seconds: nothing else to wait on


def run(runs: int = 3) -> list[Row]:
    from tui.sim.server import SimThread

    idle, one, five = [], [], []
    with tempfile.TemporaryDirectory(prefix="comfyq-bench-serve-") as temp, SimThread(
        step_seconds=0.02, output_dir=Path(temp) / "out"
    ) as sim:
        config = Path(temp) / "config.toml"
        config.write_text(sim.config_snippet(), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "tui", "--config", str(config), "--data-dir", str(Path(temp) / "data"),
             "serve", "--port", "0", "--max-sessions", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        )
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            if "the app on http://" not in first:
                raise RuntimeError(f"comfyq serve did not start: {first.strip()!r}")
            url = first.split("the app on ", 1)[1].split()[0]
            for _ in range(runs):
                idle.append(tree_rss_mib(process.pid)[0])
                one.append(asyncio.run(_measure(url, process.pid, 1)))
                _wait_idle(process.pid)
                five.append(asyncio.run(_measure(url, process.pid, 5)))
                _wait_idle(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=60)
    idle_stat, one_stat, five_stat = Stat.of(idle, "MiB"), Stat.of(one, "MiB"), Stat.of(five, "MiB")
    per_session = (five_stat.median - one_stat.median) / 4
    note = "server + its app processes (VmRSS summed); each session is one `comfyq ui` process"
    return [
        Row("serve: RSS with 1 browser session", one_stat, idle_stat, one_stat.median / idle_stat.median,
            "× idle server", "—", None, note=note),
        Row("serve: RSS with 5 browser sessions", five_stat, one_stat, five_stat.median / one_stat.median,
            "× 1 session", "—", None, note=f"{note}; ≈ {per_session:.0f} MiB per added session",
            extra={"per_added_session_mib": per_session}),
    ]
