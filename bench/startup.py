"""startup: `comfyq` typed to every pane painted, as a process in a 120×36 terminal, vs a stock Textual app.

What a user waits for is the process, not an app object: the clock starts just before exec and stops when the
bytes of the frame that completes the screen arrive on the terminal — imports, config, store, first frames and
deferred panes included. Both programs run in a pseudo-terminal read by a terminal emulator (bench/_pty.py), and the
same checks on the painted text decide "every pane painted" for both (`PANE_CHECKS`: they look at what a person
sees — the profile names, the workflow's prompt, the job table's header, the footer's keys — never at widget
classes, so they hold while the widgets change).

- comfyq: the installed console script, `comfyq --config demo-config.toml --data-dir DIR`: the demo's config (its
  two emulator profiles, sim-api and sim-dedicated, written the way `comfyq demo` writes it on a first start)
  pointing at the demo's emulators started in this process; the data dir is the same on every run, so after the
  warm-up it holds an empty job store.
- baseline: `python bench/stock_app.py`, the same panes from Textual's stock widgets only (Header, a profiles
  Static, a TabbedContent with the 12 parameter Inputs, a DataTable with the job columns, a detail Static, Footer).

Both compile their modules into a private cache filled by one unmeasured warm-up run each (an installed program has
its bytecode); runs alternate. A second row gives the first frame with anything painted (information).

Idle: in the first `idle_runs` runs the program is then left alone — comfyq once both profiles show connected (its
EAS watcher and ComfyUI websocket open on the emulators) — and the CPU it uses (user + system, every thread, from
/proc) over `idle_seconds` is its idle cost as a share of one core, beside the stock app's over the same window.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._common import Row, Stat, compiled_env, not_measured, temp_dir
from bench._pty import TerminalProcess

FIGURE = "startup"
TARGET_RATIO = 1.2
TARGET_IDLE_PERCENT = 1.0
TERMINAL_SIZE = (120, 36)
PROFILE_NAMES = ("sim-api", "sim-dedicated")  # the demo config's profiles (SimServer.config_snippet)
PROMPT_MARK = "beautiful scenery"  # the seed workflow's positive prompt: on screen in the Parameters form or the JSON
DEMO_OSS_ENV_PREFIX = "COMFYQ_DEMO_OSS"  # as `comfyq demo` names its key variables
_WAIT_SECONDS = 60.0
_SETTLE_SECONDS = 2.0
_IDLE_READY_SECONDS = 30.0
STOCK_APP = Path(__file__).with_name("stock_app.py")


# ------------------------------------------------------------------------------------------ what is on screen


def _profiles_listed(lines: Sequence[str]) -> bool:
    """Each profile on a line of its own (a status line naming them all in one line does not count)."""
    return all(
        any(name in line and not any(other in line for other in PROFILE_NAMES if other != name) for line in lines)
        for name in PROFILE_NAMES
    )


def _editor_shows_workflow(lines: Sequence[str]) -> bool:
    return any(PROMPT_MARK in line for line in lines)


def _job_table_header(lines: Sequence[str]) -> bool:
    return any({"state", "id", "profile"} <= set(line.replace("│", " ").split()) for line in lines)


def _footer_keys(lines: Sequence[str]) -> bool:
    return any("Submit" in line and "Quit" in line for line in lines)


PANE_CHECKS: dict[str, Callable[[Sequence[str]], bool]] = {
    "profiles": _profiles_listed,
    "editor": _editor_shows_workflow,
    "job table": _job_table_header,
    "footer keys": _footer_keys,
}


def missing_panes(lines: Sequence[str]) -> list[str]:
    return [name for name, check in PANE_CHECKS.items() if not check(lines)]


def every_pane_painted(lines: Sequence[str]) -> bool:
    return not missing_panes(lines)


def anything_painted(lines: Sequence[str]) -> bool:
    return any(line.strip() for line in lines)


def profiles_connected(lines: Sequence[str]) -> bool:
    """Both profiles say connected (the profile list shows one "✔ connected" per profile, the status line too)."""
    return sum(line.count("✔ connected") for line in lines) >= len(PROFILE_NAMES)


# ------------------------------------------------------------------------------------------ one run


def run_in_terminal(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    *,
    idle_seconds: float = 0.0,
    ready_for_idle: Callable[[Sequence[str]], bool] | None = None,
) -> dict[str, Any]:
    """Start `argv` in a 120×36 pty: seconds from exec to the first frame and to every pane painted; with
    `idle_seconds`, also the share of one core (in %) it uses while left alone that long (after `ready_for_idle`
    holds and a settling pause; if it never holds, `idle_skipped` says why and the start-up figures stand)."""
    columns, lines = TERMINAL_SIZE
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the reader thread timestamps a chunk within 0.5 ms, even while pyte parses
    try:
        with TerminalProcess(argv, columns=columns, lines=lines, env=env, cwd=cwd) as terminal:
            first = terminal.wait_for(anything_painted, _WAIT_SECONDS, "first frame")
            try:
                painted = terminal.wait_for(every_pane_painted, _WAIT_SECONDS, "frame with every pane painted")
            except TimeoutError as error:
                raise TimeoutError(f"{error} (missing: {', '.join(missing_panes(terminal.display()))})") from None
            result: dict[str, Any] = {"first_s": first - terminal.started, "painted_s": painted - terminal.started}
            try:
                if idle_seconds > 0 and ready_for_idle is not None:
                    terminal.wait_for(ready_for_idle, _IDLE_READY_SECONDS, "both profiles connected")
            except TimeoutError as error:
                result["idle_skipped"] = str(error)
                idle_seconds = 0.0
            if idle_seconds > 0:
                time.sleep(_SETTLE_SECONDS)
                cpu_before, main_before = terminal.cpu_seconds(), terminal.main_thread_cpu_seconds()
                clock_before = time.perf_counter()
                time.sleep(idle_seconds)
                cpu_after, main_after = terminal.cpu_seconds(), terminal.main_thread_cpu_seconds()
                elapsed = time.perf_counter() - clock_before
                result["idle_percent"] = 100.0 * (cpu_after - cpu_before) / elapsed
                result["idle_main_thread_percent"] = 100.0 * (main_after - main_before) / elapsed
                if terminal.process.poll() is not None:
                    raise RuntimeError(f"{argv[0]} exited while idle ({terminal.process.returncode})")
            terminal.send("q")  # both quit on q; close() ends it by signal if it did not
            try:
                terminal.process.wait(5.0)
            except Exception:  # noqa: BLE001 - close() below stops it either way
                pass
    finally:
        sys.setswitchinterval(previous)
    return result


def installed_comfyq() -> Path:
    script = Path(sys.executable).parent / "comfyq"
    if not script.exists():
        raise FileNotFoundError(f"no installed comfyq beside {sys.executable} (pip install -e .)")
    return script


# ------------------------------------------------------------------------------------------ the figure


def _rows(ours: list[dict[str, Any]], base: list[dict[str, Any]]) -> list[Row]:
    painted_ours = Stat.of([r["painted_s"] * 1000 for r in ours], "ms")
    painted_base = Stat.of([r["painted_s"] * 1000 for r in base], "ms")
    first_ours = Stat.of([r["first_s"] * 1000 for r in ours], "ms")
    first_base = Stat.of([r["first_s"] * 1000 for r in base], "ms")
    ratio = painted_ours.median / painted_base.median
    extra: dict[str, Any] = {"comfyq": ours, "baseline": base, "terminal": "%d×%d" % TERMINAL_SIZE}
    rows = [
        Row("startup: `comfyq` to every pane painted", painted_ours, painted_base, ratio, "× stock app",
            f"≤ {TARGET_RATIO:g}× stock app", ratio <= TARGET_RATIO,
            note="process in a 120×36 pty, exec → profiles, editor, job table and footer keys on screen; demo "
                 "config, empty store; baseline: the same panes in stock Textual widgets; imports included",
            extra=extra),
        Row("startup: first frame on screen", first_ours, first_base, first_ours.median / first_base.median,
            "× stock app", "—", None, note="exec → anything painted"),
    ]
    idle_ours = [r["idle_percent"] for r in ours if "idle_percent" in r]
    idle_base = [r["idle_percent"] for r in base if "idle_percent" in r]
    skipped = [r["idle_skipped"] for r in ours if "idle_skipped" in r]
    if skipped and not idle_ours:
        rows.append(not_measured("idle CPU, two connected profiles", f"≤ {TARGET_IDLE_PERCENT:g} % of a core",
                                 skipped[0][:300]))
    elif idle_ours and idle_base:
        ours_stat, base_stat = Stat.of(idle_ours, "% core"), Stat.of(idle_base, "% core")
        rows.append(
            Row("idle CPU, two connected profiles", ours_stat, base_stat,
                ours_stat.median / base_stat.median if base_stat.median > 0 else None, "× stock app",
                f"≤ {TARGET_IDLE_PERCENT:g} % of a core", ours_stat.median <= TARGET_IDLE_PERCENT,
                note="the same processes left alone after start-up (comfyq once both profiles show connected); "
                     "user + system CPU of every thread, from /proc",
                extra={"comfyq_main_thread_percent": [r["idle_main_thread_percent"] for r in ours
                                                      if "idle_main_thread_percent" in r],
                       "runs_skipped": skipped}),
        )
    return rows


@contextmanager
def demo_emulators(root: Path) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """What `comfyq demo` starts, for a program run in a pty: the emulators (three instances, OSS with its own
    key), their config written to `root`, and the environment (a private pycache, the demo's OSS key variables).
    Yields (root, config file, environment)."""
    from tui.sim.server import SimThread

    oss_key = ("LTAIbench" + secrets.token_hex(6), secrets.token_urlsafe(24))
    with SimThread(
        instances=3,
        step_seconds=0.15,
        token="demo-" + secrets.token_hex(6),
        output_dir=root / "emulator-output",
        oss_bucket_path="oss://comfyq-demo/artlab",
        oss_key=oss_key,
    ) as server:
        config = root / "demo-config.toml"
        config.write_text(server.config_snippet(oss_env_prefix=DEMO_OSS_ENV_PREFIX), encoding="utf-8")
        env = compiled_env(root / "pycache")
        env[f"{DEMO_OSS_ENV_PREFIX}_ACCESS_KEY_ID"], env[f"{DEMO_OSS_ENV_PREFIX}_ACCESS_KEY_SECRET"] = oss_key
        yield root, config, env


def measure(runs: int = 5, idle_runs: int = 3, idle_seconds: float = 6.0) -> list[Row]:
    comfyq = installed_comfyq()
    ours: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    with temp_dir("startup") as tmp, demo_emulators(Path(tmp)) as (root, config, env):
        comfyq_argv = [str(comfyq), "--config", str(config), "--data-dir", str(root / "data")]
        stock_argv = [sys.executable, str(STOCK_APP)]
        run_in_terminal(comfyq_argv, env, root)  # warm-up: compiles into the private cache, creates the store
        run_in_terminal(stock_argv, env, root)
        for number in range(runs):
            idle = idle_seconds if number < idle_runs else 0.0
            ours.append(run_in_terminal(comfyq_argv, env, root, idle_seconds=idle, ready_for_idle=profiles_connected))
            base.append(run_in_terminal(stock_argv, env, root, idle_seconds=idle))
    return _rows(ours, base)


def run(runs: int = 5, idle_runs: int = 3, idle_seconds: float = 6.0) -> list[Row]:
    return measure(runs, idle_runs, idle_seconds)
