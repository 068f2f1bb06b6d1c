"""keys: key → screen, as a user feels it, for the keys that open and close comfyq's screens, vs a stock app.

Both programs run in a 120×36 pseudo-terminal read by pyte (bench/_pty.py), as in the start-up figure. Each key's
figure is the time from writing its bytes to the pty until the arrival of the chunk after which the painted screen
shows the change — checked on what a person sees (a title, a hint line, a cursor row's colours), never on widgets:

- `↓` / `↑` in the job table (the floor: a key that only moves the cursor): the job table's rows change colour;
- `enter` on a job: the full-screen job detail is there ("Job …" titled, the Profiles pane gone); `escape`: back;
- `?`: the key help is there ("comfyq keys"); `escape`: gone;
- `n` / `E` with the Profiles pane focused (a click on it, as a user does): the profile form's hint line is there
  ("comments kept"); `escape`: gone.

- comfyq: the installed `comfyq` on the demo's config (two profiles connected to the demo's emulators, started in
  this process) over a store holding `JOBS` finished jobs, as the start-up figure runs it.
- baseline: `python bench/stock_keys_app.py`: the start-up baseline's stock panes with the same screens made of
  stock widgets, pushed anew on each key and popped on escape (what a Textual developer writes first).

Each run is one process per side (alternating), `presses` presses per key with a pause between them, from 2 s after
the start-up is over (both profiles connected; comfyq makes its kept screens then); a run's p50 per key is its figure
(median and min–max over the runs); p99 over every press of every run is in the row's note. The first `enter`, `?`
and `n` of each process (a screen's first open) also have rows of their own: that one press, median over the runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyte

from bench._common import Row, Stat, fill_store, make_jobs, percentile, temp_dir
from bench._pty import TerminalProcess
from bench.startup import (
    TERMINAL_SIZE,
    demo_emulators,
    every_pane_painted,
    installed_comfyq,
    profiles_connected,
)

FIGURE = "keys"
TARGET_MS = 50.0  # issue 13: every key answers within a frame or two on this machine
JOBS = 200
STOCK_APP = Path(__file__).with_name("stock_keys_app.py")
_WAIT_SECONDS = 60.0
_KEY_SECONDS = 5.0
# After both profiles show connected: what the start defers (comfyq makes its kept screens then) is done, as in
# the start-up figure's idle row.
_SETTLE_SECONDS = 2.0
_PAUSE_SECONDS = 0.12  # between presses: a person's pace, and the frame of the last key is out
FORM_MARK = "comments kept"  # the profile form's hint line (the stock form says the same)
HELP_MARK = "comfyq keys"
ESCAPE = "\x1b"  # the lone byte xterm, tmux and most terminals send for the escape key
DOWN, UP = "\x1b[B", "\x1b[A"  # the arrow keys as a terminal sends them (the stock DataTable has no j / k)
Check = Callable[[Sequence[str]], bool]


def _profiles_pane(lines: Sequence[str]) -> bool:
    return any("─ Profiles ─" in line for line in lines)


def detail_open(lines: Sequence[str]) -> bool:
    return any("─ Job " in line for line in lines) and not _profiles_pane(lines)


def detail_closed(lines: Sequence[str]) -> bool:
    return _profiles_pane(lines)


def help_open(lines: Sequence[str]) -> bool:
    return any(HELP_MARK in line for line in lines)


def help_closed(lines: Sequence[str]) -> bool:
    return not help_open(lines) and _profiles_pane(lines)


def form_open(lines: Sequence[str]) -> bool:
    return any(FORM_MARK in line for line in lines)


def form_closed(lines: Sequence[str]) -> bool:
    return not form_open(lines) and _profiles_pane(lines)


def _rows_look(screen: pyte.Screen, rows: range) -> tuple[Any, ...]:
    """What a person sees of these rows: each cell's character and colours."""
    return tuple(
        (char.data, char.fg, char.bg, char.reverse)
        for y in rows
        for char in (screen.buffer[y][x] for x in range(screen.columns))
    )


# ------------------------------------------------------------------------------------------ one process


class KeyTimer:
    """Sends keys to a program in a pty and times each until the screen shows its effect."""

    def __init__(self, terminal: TerminalProcess) -> None:
        self.terminal = terminal

    def press(self, key: str, shown: Check, what: str) -> float:
        terminal = self.terminal
        terminal.drain()
        sent = time.perf_counter()
        terminal.send(key)
        arrived = terminal.wait_for(shown, _KEY_SECONDS, what)
        time.sleep(_PAUSE_SECONDS)
        return max(0.0, arrived - sent) * 1000

    def press_until_rows_change(self, key: str, rows: range, what: str) -> float:
        terminal = self.terminal
        terminal.drain()
        before = _rows_look(terminal.screen, rows)
        sent = time.perf_counter()
        terminal.send(key)
        arrived = terminal.wait_for_screen(lambda screen: _rows_look(screen, rows) != before, _KEY_SECONDS, what)
        time.sleep(_PAUSE_SECONDS)
        return max(0.0, arrived - sent) * 1000


def _job_rows(lines: Sequence[str]) -> range:
    """The screen rows of the job table: below its header (state … id … profile) down to its pane's bottom border
    (at most 10; the cursor moves within the first two)."""
    header = next(y for y, line in enumerate(lines) if {"state", "id", "profile"} <= set(line.replace("│", " ").split()))
    pane = max(0, lines[header].index("state") - 3)  # the job pane's left border is just before the header
    end = header + 1
    while end < min(len(lines), header + 11) and "╰" not in lines[end][pane:]:
        end += 1
    return range(header + 1, max(header + 2, end))


def click(column: int, row: int) -> str:
    """An SGR mouse press and release at a 1-based cell (what a terminal sends for a click)."""
    return f"\x1b[<0;{column};{row}M\x1b[<0;{column};{row}m"


def drive(terminal: TerminalProcess, presses: int) -> dict[str, list[float]]:
    """Every key `presses` times; milliseconds per press by key label."""
    timer = KeyTimer(terminal)
    times: dict[str, list[float]] = {label: [] for label in LABELS}
    rows = _job_rows(terminal.display())
    for number in range(presses):
        key = DOWN if number % 2 == 0 else UP
        times["cursor"].append(timer.press_until_rows_change(key, rows, "the cursor moved"))
    for _ in range(presses):
        times["detail open"].append(timer.press("\r", detail_open, "the job detail screen"))
        times["detail close"].append(timer.press(ESCAPE, detail_closed, "the main screen after the detail"))
    for _ in range(presses):
        times["help open"].append(timer.press("?", help_open, "the key help"))
        times["help close"].append(timer.press(ESCAPE, help_closed, "the main screen after the help"))
    terminal.send(click(6, 2))  # the first profile's line: the Profiles pane takes the focus
    time.sleep(0.3)
    for _ in range(presses):
        times["new form open"].append(timer.press("n", form_open, "the new-profile form"))
        times["form close"].append(timer.press(ESCAPE, form_closed, "the main screen after the form"))
        times["edit form open"].append(timer.press("E", form_open, "the edit-profile form"))
        times["form close"].append(timer.press(ESCAPE, form_closed, "the main screen after the form"))
    for first, label in FIRST_OF.items():
        times[first] = times[label][:1]  # the first press in the process: the screen's first open
    return times


def run_program(argv: Sequence[str], env: dict[str, str], cwd: Path, presses: int, *, connected: bool) -> dict[str, list[float]]:
    columns, lines = TERMINAL_SIZE
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the reader thread timestamps a chunk within 0.5 ms, even while pyte parses
    try:
        with TerminalProcess(argv, columns=columns, lines=lines, env=env, cwd=cwd) as terminal:
            terminal.wait_for(every_pane_painted, _WAIT_SECONDS, "every pane painted")
            terminal.wait_for(lambda shown: any("succeeded" in line for line in shown), _WAIT_SECONDS,
                              "the job table's rows")
            if connected:
                terminal.wait_for(profiles_connected, _WAIT_SECONDS, "both profiles connected")
            time.sleep(_SETTLE_SECONDS)  # the deferred work of the start is done
            times = drive(terminal, presses)
            terminal.send("q")
            try:
                terminal.process.wait(5.0)
            except Exception:  # noqa: BLE001 - close() stops it either way
                pass
    finally:
        sys.setswitchinterval(previous)
    return times


# ------------------------------------------------------------------------------------------ the figure

# label -> (figure text, baseline's equivalent)
LABELS: dict[str, str] = {
    "cursor": "keys: `↓`/`↑` moves the job table's cursor",
    "detail open": "keys: `enter` opens the job detail",
    "detail close": "keys: `esc` leaves the job detail",
    "help open": "keys: `?` opens the help",
    "help close": "keys: `esc` leaves the help",
    "new form open": "keys: `n` opens the new-profile form",
    "edit form open": "keys: `E` opens the edit-profile form",
    "form close": "keys: `esc` leaves the profile form",
}
# The first press of a key in a process (a screen's first open; also counted in its row above), its own row: its
# figure is the median over the runs of that one press, which a p99 over every press hides.
FIRST_OF: dict[str, str] = {
    "detail open first": "detail open",
    "help open first": "help open",
    "new form open first": "new form open",
}
FIRST_LABELS: dict[str, str] = {
    "detail open first": "keys: first `enter` in a process (the job detail's first open)",
    "help open first": "keys: first `?` in a process (the help's first open)",
    "new form open first": "keys: first `n` in a process (the profile form's first open)",
}


def _rows(ours: list[dict[str, list[float]]], base: list[dict[str, list[float]]]) -> list[Row]:
    rows = []
    for label, figure in LABELS.items():
        ours_p50 = Stat.of([percentile(run[label], 50) for run in ours], "ms")
        base_p50 = Stat.of([percentile(run[label], 50) for run in base], "ms")
        ours_all = [value for run in ours for value in run[label]]
        base_all = [value for run in base for value in run[label]]
        p99_ours, p99_base = percentile(ours_all, 99), percentile(base_all, 99)
        ratio = ours_p50.median / base_p50.median if base_p50.median > 0 else None
        rows.append(
            Row(f"{figure} (p50)", ours_p50, base_p50, ratio, "× stock app", f"≤ {TARGET_MS:g} ms",
                ours_p50.median <= TARGET_MS,
                note=f"p99 {p99_ours:.0f} ms (stock {p99_base:.0f} ms) over {len(ours_all)} presses; "
                     "key bytes → screen changed, in a 120×36 pty",
                extra={"comfyq_ms": ours_all, "baseline_ms": base_all, "p99_comfyq_ms": p99_ours,
                       "p99_baseline_ms": p99_base}),
        )
    for label, figure in FIRST_LABELS.items():
        ours_first = Stat.of([run[label][0] for run in ours], "ms")
        base_first = Stat.of([run[label][0] for run in base], "ms")
        ratio = ours_first.median / base_first.median if base_first.median > 0 else None
        rows.append(
            Row(figure, ours_first, base_first, ratio, "× stock app", f"≤ {TARGET_MS:g} ms",
                ours_first.median <= TARGET_MS,
                note=f"one press per process, {len(ours)} processes; {_SETTLE_SECONDS:g} s after both profiles "
                     "show connected",
                extra={"comfyq_ms": [run[label][0] for run in ours],
                       "baseline_ms": [run[label][0] for run in base]}),
        )
    return rows


def measure(runs: int = 3, presses: int = 20) -> list[Row]:
    from tui.core.locations import STORE_FILENAME

    comfyq = installed_comfyq()
    ours: list[dict[str, list[float]]] = []
    base: list[dict[str, list[float]]] = []
    with temp_dir("keys") as tmp, demo_emulators(Path(tmp)) as (root, config, env):
        data = root / "data"
        data.mkdir()
        # Finished jobs only: nothing for the engine to follow, the table still full (a user's history).
        fill_store(data / STORE_FILENAME, make_jobs(JOBS, active=0, profile="sim-dedicated"))
        comfyq_argv = [str(comfyq), "--config", str(config), "--data-dir", str(data)]
        stock_argv = [sys.executable, str(STOCK_APP)]
        run_program(comfyq_argv, env, root, 1, connected=True)  # warm-up: compiles into the private cache
        run_program(stock_argv, env, root, 1, connected=False)
        for _ in range(runs):
            ours.append(run_program(comfyq_argv, env, root, presses, connected=True))
            base.append(run_program(stock_argv, env, root, presses, connected=False))
    return _rows(ours, base)


def run(runs: int = 3, presses: int = 20) -> list[Row]:
    return measure(runs, presses)
