"""sink throughput: results/s taken off the EAS sink queue, parsed, stored and committed, vs the seed's sample loop.

Method: the EAS queue emulator (tui.sim SimServer) on loopback in its own thread. Before each run `results` sink
items are put straight into `<service>/sink` on the emulator's own loop (its put API, no HTTP: the fill is not
what is measured). Each item is what an API-edition worker writes: a ComfyUI `executed` event plus the final outputs
object, tagged with the task_id of a job comfyq has stored as queued (the store holds those `results` jobs).
- comfyq: the real Engine with one API-edition profile; its EasQueueBackend starts the SinkWatcher thread (window 5:
  frames are parsed, stored in one transaction per batch, published, then committed in one call). The clock runs
  from `engine.start()` to the moment the watcher has committed every index.
- baseline: the seed's loop — `QueueClient.watch(0, 1, auto_commit=False)`, then for each frame `json.loads` its
  data (the seed prints it) and `commit(index)`, one commit per message. It stores nothing, which favours it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

from bench._common import PROFILE, Row, Stat, bench_workflow, make_jobs, temp_dir, wait_for
from bench._servers import SimLoop
from tui.core.jobs import Edition, Job

FIGURE = "sink throughput"
TARGET_RATIO = 3.0
SERVICE = "bench-sink"
WAIT_SECONDS = 300.0


def sink_payload(number: int, prompt_id: str) -> bytes:
    image = {"filename": f"ComfyUI_{number:08d}_.png", "subfolder": "", "type": "output"}
    return json.dumps(
        [
            {"type": "executed", "data": {"node": "9", "output": {"images": [image]}, "prompt_id": prompt_id}},
            {"9": {"images": [image]}},
        ]
    ).encode()


def fill_sink(sim: SimLoop, jobs: list[Job]) -> None:
    """Put one result per job into the sink, on the emulator's loop."""
    server = sim.server

    def put_all() -> None:
        sink = server.queues.sink_queue(SERVICE)
        for number, job in enumerate(jobs):
            sink.put(sink_payload(number, str(uuid.uuid4())), {"task_id": str(job.task_id)})

    sim.call(put_all)


def sink_length(sim: SimLoop) -> int:
    return int(sim.call(lambda: len(sim.server.queues.sink_queue(SERVICE))))


def comfyq_run(sim: SimLoop, data_dir: Path, results: int) -> float:
    """Seconds for comfyq's sink watcher to parse, store and commit `results` items."""
    from tui.core.config import parse_config_text
    from tui.core.engine import Engine
    from tui.core.store import JobStore

    server = sim.server
    store = JobStore(data_dir / f"sink-{uuid.uuid4().hex[:8]}.sqlite3")
    jobs = make_jobs(results, active=results, edition=Edition.API, workflow=bench_workflow(),
                     seed=int(time.time() * 1000) % 100000)
    store.add_many(jobs)
    fill_sink(sim, jobs)
    config = parse_config_text(
        f"[profiles.{PROFILE}]\nedition = \"api\"\n"
        f"input_url = \"{server.base_url}/api/predict/{SERVICE}\"\n"
    )
    engine = Engine(config, store)

    async def main() -> float:
        start = time.perf_counter()
        await engine.start([PROFILE])
        backend = engine.backend(PROFILE)
        watcher = backend.watcher  # type: ignore[attr-defined]
        deadline = time.monotonic() + WAIT_SECONDS
        while len(watcher.committed) < results:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(watcher.committed)} of {results} sink results committed")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        await engine.stop()
        return elapsed

    try:
        elapsed = asyncio.run(main())
        stored = sum(1 for job in store.get_many([job.id for job in jobs]).values() if job.state.is_terminal)
        if stored != results:
            raise RuntimeError(f"{stored} of {results} results stored")
    finally:
        store.close()
    wait_for(lambda: sink_length(sim) == 0, 10, "the sink to be empty")
    return elapsed


def seed_run(sim: SimLoop, results: int) -> float:
    """The seed's sample loop: watch with window 1, parse each frame, commit it alone."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from eas_prediction import QueueClient

    server = sim.server
    jobs = make_jobs(results, active=results, edition=Edition.API, seed=int(time.time() * 1000) % 100000 + 1)
    fill_sink(sim, jobs)
    start = time.perf_counter()
    sink_queue = QueueClient(server.endpoint, f"{SERVICE}/sink")
    logging.getLogger(f"{server.endpoint}/{SERVICE}/sink").handlers.clear()
    sink_queue.set_token("")
    sink_queue.init()
    watcher = sink_queue.watch(0, 1, auto_commit=False)
    seen = 0
    for frame in watcher.run():
        json.loads(frame.data)  # the seed prints task_id and data; parsing is the least a user would do
        sink_queue.commit(frame.index)
        seen += 1
        if seen >= results:
            break
    elapsed = time.perf_counter() - start
    watcher.close()
    sink_queue.destroy()
    wait_for(lambda: sink_length(sim) == 0, 10, "the sink to be empty")
    return elapsed


def measure(results: int = 10_000, runs: int = 5) -> list[Row]:
    ours: list[float] = []
    base: list[float] = []
    logging.getLogger("eas_prediction").setLevel(logging.ERROR)
    with temp_dir("sink") as tmp:
        sim = SimLoop(instances=1, service=SERVICE, step_seconds=0.0)
        sim.start()
        try:
            for _ in range(runs):
                ours.append(results / comfyq_run(sim, Path(tmp), results))
                base.append(results / seed_run(sim, results))
        finally:
            sim.stop()
    ours_stat = Stat.of(ours, "results/s")
    base_stat = Stat.of(base, "results/s")
    ratio = ours_stat.median / base_stat.median
    return [
        Row(f"sink {results:,} results: parsed, stored, committed", ours_stat, base_stat, ratio, "× faster",
            f"≥ {TARGET_RATIO:g}× seed loop", ratio >= TARGET_RATIO,
            note="baseline stores nothing (json.loads + one commit per message)")
    ]


def run(runs: int = 5, results: int = 10_000) -> list[Row]:
    return measure(results, runs)
