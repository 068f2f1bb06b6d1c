"""submission: 1,000 prompts with the real `comfyq submit -n 1000`, vs the seed's sequential POST loop.

Method: the EAS queue emulator (API edition) on loopback in this process (its one worker is kept busy on a long
first job, so it does not execute anything while prompts arrive: only the submissions are measured). Both sides
run as subprocesses, and the clock is wall time from spawn to exit — what the user waits for:
- comfyq: `python -m tui --config CFG --data-dir DIR submit seed.json -p bench -n 1000` (the real CLI: it stores
  every job before sending — write-ahead — then sends with the profile's max_concurrent_submits = 8, and prints
  its table of jobs);
- baseline: `python -m bench.seed_submit URL 1000 seed.json`: the seed's API-edition sample (`requests.post` in a
  plain sequential loop, here httpx.Client of the same shape, printing each index).
Each run checks the emulator received exactly `prompts` new items on the input queue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench._common import PROFILE, Row, Stat, temp_dir
from bench._servers import SimLoop

FIGURE = "submission"
TARGET_RATIO = 5.0
SERVICE = "bench-submit"
REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")}
    env["COLUMNS"] = "200"
    return env


def _input_length(sim: SimLoop) -> int:
    return int(sim.call(lambda: sim.server.queues.input_queue(SERVICE).next_index - 1))


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}… exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed


def measure(prompts: int = 1000, runs: int = 5) -> list[Row]:
    from tui.core.workflow import seed_workflow

    ours: list[float] = []
    base: list[float] = []
    with temp_dir("submit") as tmp:
        root = Path(tmp)
        workflow_file = root / "seed.json"
        workflow_file.write_text(json.dumps(seed_workflow().to_dict()), encoding="utf-8")
        # One worker, and a step so long that it stays on its first job: nothing executes while we submit.
        sim = SimLoop(instances=1, service=SERVICE, step_seconds=3600.0)
        server = sim.start()
        try:
            input_url = f"{server.base_url}/api/predict/{SERVICE}"
            config = root / "config.toml"
            config.write_text(f"[profiles.{PROFILE}]\nedition = \"api\"\ninput_url = \"{input_url}\"\n", encoding="utf-8")
            for number in range(runs):
                data_dir = root / f"data-{number}"
                before = _input_length(sim)
                ours.append(_timed([sys.executable, "-m", "tui", "--config", str(config), "--data-dir", str(data_dir),
                                    "submit", str(workflow_file), "-p", PROFILE, "-n", str(prompts)]))
                middle = _input_length(sim)
                base.append(_timed([sys.executable, "-m", "bench.seed_submit", input_url, str(prompts),
                                    str(workflow_file)]))
                after = _input_length(sim)
                if middle - before != prompts or after - middle != prompts:
                    raise RuntimeError(f"the emulator received {middle - before} and {after - middle} prompts, "
                                       f"expected {prompts} each")
        finally:
            sim.stop()
    ours_stat = Stat.of(ours, "s")
    base_stat = Stat.of(base, "s")
    ratio = base_stat.median / ours_stat.median
    return [
        Row(f"submit {prompts:,} prompts (wall, incl. process start)", ours_stat, base_stat, ratio, "× faster",
            f"≥ {TARGET_RATIO:g}× seed loop", ratio >= TARGET_RATIO,
            note="real CLI subprocess vs seed loop subprocess, loopback")
    ]


def run(runs: int = 5, prompts: int = 1000) -> list[Row]:
    return measure(prompts, runs)
