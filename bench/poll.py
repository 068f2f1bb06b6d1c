"""poll efficiency: HTTP requests to follow 1,000 in-flight jobs on the dedicated edition, vs per-job polling.

Method: a fresh ComfyUIEmulator (tiny step times) per run and side — its history and output folder grow with every
job and slow it down — on loopback in its own thread, every request counted server-side by route
(bench/_servers.py). Its executor is held while the jobs are submitted, so both sides start with the same
`jobs` prompts queued; then it is released and the requests are counted until every job has finished.
- comfyq: the real Engine and DedicatedBackend (poll_interval 1 s, its websocket on the profile's client_id),
  one `engine.submit(SubmissionRequest(profile, workflow))` per job (concurrently), then the store is watched
  until no job of the profile is active (as the TUI follows jobs). Cycles are the backend's own `poll_cycles` counter.
- baseline: the seed's dedicated-edition sample in a loop — after posting every prompt, each cycle GETs
  `/history/<prompt_id>` for every job not finished yet (httpx.Client, sequential, as `requests` would), then
  sleeps the same 1 s.
comfyq runs with `external = true` (other clients' jobs imported): each cycle also reads the newest
`/history?max_items=K` entries, which settle most finished jobs without a look of their own.
Poll requests = `GET /queue` + `GET /history` (the newest entries) + `GET /history/<id>` (submissions and the one
websocket are not polls). "poll overhead per cycle" = (poll requests − `/history/<id>` looks) / cycles: what a
cycle costs besides the looks at single finished jobs; those are at most one per finished job (the second row's
budget). The target: ≤ 2 per cycle (+ 1 per finished job).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench._common import PROFILE, Row, Stat, speedup, temp_dir
from bench._servers import CountingComfyUI

FIGURE = "poll efficiency"
POLL_INTERVAL = 1.0
STEP_SECONDS = 0.0005  # per node: a job takes a few ms, 1,000 jobs a few seconds
TARGET_OVERHEAD = 2.0
TARGET_RATIO = 100.0
WAIT_SECONDS = 300.0
PER_JOB_ROUTE = "GET /history/{prompt_id}"
POLL_ROUTES = ("GET /queue", "GET /history", PER_JOB_ROUTE)


def _workflow(color: int) -> Any:
    """A two-node graph (EmptyImage → SaveImage): few websocket events per job, so the emulator sharing this
    process stays quick. The colour differs per job so nothing is served from ComfyUI's cache."""
    from tui.core.workflow import workflow_from_dict

    return workflow_from_dict(
        {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}},
        },
        source="bench",
    )


class _Gate:
    """Holds the emulator's executor until released (wraps the instance's `_execute`; benchmark only)."""

    def __init__(self, server: CountingComfyUI) -> None:
        self.server = server
        self.event: asyncio.Event | None = None

    def close(self) -> None:
        async def install() -> None:
            emulator = self.server.emulator
            self.event = asyncio.Event()
            event = self.event
            original = type(emulator)._execute

            async def held(item: Any) -> Any:
                await event.wait()
                return await original(emulator, item)

            emulator._execute = held

        self.server.call(install)

    def open(self) -> None:
        async def release() -> None:
            assert self.event is not None
            self.event.set()
            del self.server.emulator._execute  # back to the class's own

        self.server.call(release)


def _poll_requests(snapshot: dict[str, int]) -> int:
    return sum(snapshot.get(route, 0) for route in POLL_ROUTES)


def _config(url: str) -> Any:
    from tui.core.config import parse_config_text

    text = (
        f"[defaults]\npoll_interval = {POLL_INTERVAL}\nidle_poll_interval = 10\nlost_after = 600\n\n"
        f"[profiles.{PROFILE}]\nedition = \"dedicated\"\nurl = \"{url}\"\nexternal = true\n"
    )
    return parse_config_text(text)


def comfyq_run(server: CountingComfyUI, data_dir: Path, jobs: int) -> dict[str, Any]:
    from tui.core.engine import Engine, SubmissionRequest
    from tui.core.jobs import ACTIVE_STATES
    from tui.core.store import JobFilter, JobStore

    store = JobStore(data_dir / f"poll-{uuid.uuid4().hex[:8]}.sqlite3")
    engine = Engine(_config(server.url), store)
    gate = _Gate(server)
    rng = random.Random()

    async def main() -> dict[str, Any]:
        await engine.start([PROFILE])
        backend = engine.backend(PROFILE)
        try:
            gate.close()
            batches = await asyncio.gather(
                *(engine.submit(SubmissionRequest(PROFILE, _workflow(rng.randrange(1 << 24)))) for _ in range(jobs))
            )
            accepted = [job.id for batch in batches for job in batch if job.state.is_active]
            await asyncio.sleep(0)
            server.counter.reset()
            # A cycle under way now is counted (at its start) before the reset, but its requests after it may be
            # counted: it belongs to the measured ones.
            cycles_before = backend.poll_cycles - int(backend.polling)  # type: ignore[attr-defined]
            start = time.perf_counter()
            gate.open()
            # Watch the store the way the TUI does (engine.wait re-reads every job on each change: not what is
            # measured here, and slow with 1,000 jobs).
            in_flight = JobFilter(states=frozenset(ACTIVE_STATES), profile=PROFILE)
            deadline = time.monotonic() + WAIT_SECONDS
            while store.count(in_flight) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - start
            counts = server.counter.snapshot()
            cycles = backend.poll_cycles - cycles_before  # type: ignore[attr-defined]
            finished = sum(1 for job in store.get_many(accepted).values() if job.state.is_terminal)
        finally:
            await engine.stop()
        return {"counts": counts, "cycles": cycles, "finished": finished, "elapsed": elapsed, "jobs": len(accepted)}

    try:
        return asyncio.run(main())
    finally:
        store.close()


def baseline_run(server: CountingComfyUI, jobs: int) -> dict[str, Any]:
    """The seed's sample: POST /prompt, then GET /history/<prompt_id> — here in a loop over every job, every cycle."""
    rng = random.Random()
    gate = _Gate(server)
    with httpx.Client(base_url=server.url, timeout=30) as session:
        gate.close()
        prompt_ids: list[str] = []
        for _ in range(jobs):
            prompt = _workflow(rng.randrange(1 << 24)).to_dict()
            response = session.post("/prompt", json={"prompt": prompt})
            if response.status_code != 200:
                raise RuntimeError(f"the emulator refused a prompt: {response.text[:200]}")
            prompt_ids.append(response.json()["prompt_id"])
        server.counter.reset()
        start = time.perf_counter()
        gate.open()
        unfinished = list(prompt_ids)
        cycles = 0
        while unfinished:
            cycles += 1
            still: list[str] = []
            for prompt_id in unfinished:
                data = session.get(f"/history/{prompt_id}").json()
                if not data.get(prompt_id):  # `{}`: not finished yet (the seed's sample would print it and stop)
                    still.append(prompt_id)
            unfinished = still
            if unfinished:
                time.sleep(POLL_INTERVAL)
        elapsed = time.perf_counter() - start
    return {"counts": server.counter.snapshot(), "cycles": cycles, "finished": jobs, "elapsed": elapsed, "jobs": jobs}


def measure(jobs: int = 1000, runs: int = 5) -> list[Row]:
    ours: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    with temp_dir("poll") as tmp:
        root = Path(tmp)
        for number in range(runs):
            # A fresh emulator per run: its history and output folder grow with every job, and slow it down.
            with CountingComfyUI(root / f"output-{number}-comfyq", step_seconds=STEP_SECONDS) as server:
                ours.append(comfyq_run(server, root, jobs))
            with CountingComfyUI(root / f"output-{number}-seed", step_seconds=STEP_SECONDS) as server:
                base.append(baseline_run(server, jobs))

    def overhead(result: dict[str, Any]) -> float:
        counts = result["counts"]
        if "GET /history" in counts:  # comfyq: the per-cycle requests, besides looks at single finished jobs
            return (_poll_requests(counts) - counts.get(PER_JOB_ROUTE, 0)) / max(1, result["cycles"])
        # the per-job baseline: everything beyond one look per finished job
        return (_poll_requests(counts) - result["finished"]) / max(1, result["cycles"])

    def total(result: dict[str, Any]) -> float:
        return float(_poll_requests(result["counts"]))

    over_ours = Stat.of([overhead(r) for r in ours], "req/cycle")
    over_base = Stat.of([overhead(r) for r in base], "req/cycle")
    total_ours = Stat.of([total(r) for r in ours], "requests")
    total_base = Stat.of([total(r) for r in base], "requests")
    budget_met = all(total(r) <= TARGET_OVERHEAD * r["cycles"] + r["finished"] for r in ours)
    over_ratio = speedup(over_base, over_ours) if over_ours.median > 0 else float("inf")
    incomplete = [r for r in ours if r["finished"] < r["jobs"]]
    note = f"{len(incomplete)} comfyq run(s) timed out before every job finished" if incomplete else ""
    extra = {
        "comfyq": [{k: r[k] for k in ("counts", "cycles", "finished", "elapsed")} for r in ours],
        "baseline": [{k: r[k] for k in ("counts", "cycles", "finished", "elapsed")} for r in base],
    }
    label = f"poll {jobs:,} in-flight jobs"
    return [
        Row(f"{label}: overhead per cycle", over_ours, over_base, over_ratio, "× fewer",
            f"≤ {TARGET_OVERHEAD:g}/cycle, ≥ {TARGET_RATIO:g}× fewer",
            over_ours.median <= TARGET_OVERHEAD and (over_ratio or 0) >= TARGET_RATIO, note=note, extra=extra),
        Row(f"{label}: requests until all finish", total_ours, total_base, speedup(total_base, total_ours),
            "× fewer", "≤ 2/cycle + 1/finished job", budget_met and not incomplete),
    ]


def run(runs: int = 5, jobs: int = 1000) -> list[Row]:
    return measure(jobs, runs)
