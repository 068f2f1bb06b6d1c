"""preview: a 1024×1024 PNG output on screen after its job is opened (targets: ≤ 300 ms; cached ≤ 50 ms; no frame
in between over 50 ms).

Method: the emulator (SimServer) in a thread serves the PNG from its OSS endpoint (signature checked); the app runs
headless in this process (`App.run_test(size=SCREEN_SIZE)`) on a job of the API-edition profile whose output is
that PNG. The clock starts when the job is opened (`MainScreen.open_detail`, what `enter` does) and stops at the
end of the first frame painted after the image widget got the decoded picture (bench/_probe.py hooks Textual's
paint). Every frame's update (layout + paint, `Screen._on_timer_update`) in between is timed; the longest is the
"longest frame" row. Uncached: a fresh cache each run; the first run of the process also imports textual-image
(numpy) in the worker, as a user's first preview does, and is not counted (one warm-up). Cached: the job opened a
second time.

Baseline, in the same run: the same work without the app — the SDK's `get_object` of the same object and Pillow
decoding it — so the ratio says what the app adds to the unavoidable fetch and decode.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench._common import SCREEN_SIZE, Row, Stat, temp_dir
from bench._probe import FrameProbe

FIGURE = "preview"
TARGET_S = 0.300
TARGET_CACHED_S = 0.050
TARGET_FRAME_S = 0.050
FILENAME = "ComfyUI_00001_.png"


def _png(size: int = 1024) -> bytes:
    from PIL import Image

    image = Image.frombytes("RGB", (size, size), os.urandom(size * size // 16) * 48)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def _open_once(app: Any, job_id: str, probe: FrameProbe) -> tuple[float, float]:
    """(seconds from open to the first frame showing the image, longest frame update in between)."""
    from tui.widgets.output_preview import OutputPreview

    screen = app.screen
    probe.update_durations.clear()
    start = time.perf_counter()
    screen.open_detail(job_id)
    deadline = start + 30
    preview = None
    shown_at: float | None = None
    while time.perf_counter() < deadline:
        if preview is None and app.screen.query(OutputPreview):
            preview = app.screen.query_one(OutputPreview)
        if preview is not None and preview.image_shown is not None and shown_at is None:
            shown_at = time.perf_counter()
        if shown_at is not None and probe.paint_ends and probe.paint_ends[-1] > shown_at:
            elapsed = probe.paint_ends[-1] - start
            longest = max(probe.update_durations, default=0.0)
            app.pop_screen()
            await asyncio.sleep(0.05)
            return elapsed, longest
        await asyncio.sleep(0.002)
    raise RuntimeError(f"no preview within 30 s: {preview.last_caption if preview else 'no preview widget'}")


def _baseline(server: Any, runs: int) -> list[float]:
    import alibabacloud_oss_v2 as oss
    from PIL import Image

    config = oss.config.load_default()
    config.region = "cn-hangzhou"
    config.endpoint = server.base_url
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.oss.access_key_id, server.oss.access_key_secret
    )
    client = oss.Client(config)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        body = client.get_object(oss.GetObjectRequest(bucket=server.oss.bucket, key=f"artlab/output/{FILENAME}")).body.read()
        with Image.open(io.BytesIO(body)) as image:
            image.load()
        times.append(time.perf_counter() - start)
    return times[1:]


async def _measure(runs: int) -> list[Row]:
    from tui.app import ComfyqApp, LaunchOptions
    from tui.core.config import load_config
    from tui.core.jobs import Edition, Job, JobState, Output, new_job_id
    from tui.core.locations import resolve_locations
    from tui.core.preview_cache import preview_dir
    from tui.core.store import JobStore
    from tui.core.workflow import seed_workflow
    from tui.sim.server import SimThread

    uncached: list[float] = []
    cached: list[float] = []
    frames: list[float] = []
    with temp_dir("preview") as tmp, SimThread(output_dir=Path(tmp) / "emulator-out") as server:
        root = Path(tmp)
        (server.output_dir / FILENAME).write_bytes(_png())
        saved = {name: os.environ.get(name) for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET")}
        os.environ["OSS_ACCESS_KEY_ID"] = server.oss.access_key_id
        os.environ["OSS_ACCESS_KEY_SECRET"] = server.oss.access_key_secret
        locations = resolve_locations(root / "config.toml", root / "data")
        locations.data_dir.mkdir(parents=True)
        locations.config_file.write_text(server.config_snippet(), encoding="utf-8")
        store = JobStore(locations.store_file)
        job = Job(id=new_job_id(), profile="sim-api", edition=Edition.API, workflow=None, state=JobState.SUCCEEDED,
                  outputs=(Output("9", "output", "", FILENAME),))
        store.add(job)
        options = LaunchOptions(config=load_config(locations.config_file, explicit=True), locations=locations,
                                workflow=seed_workflow(), start_engine=False)
        app = ComfyqApp(options, store=store)
        probe = FrameProbe()
        with probe.installed():
            async with app.run_test(size=SCREEN_SIZE) as pilot:
                await pilot.pause()  # the main screen's first frame (r12e: panes are composed with it)
                for run in range(runs + 1):
                    shutil.rmtree(preview_dir(locations.data_dir), ignore_errors=True)
                    elapsed, longest = await _open_once(app, job.id, probe)
                    again, longest_cached = await _open_once(app, job.id, probe)
                    if run > 0:  # run 0 imports textual-image: a first preview's one-off
                        uncached.append(elapsed)
                        cached.append(again)
                        frames.extend((longest, longest_cached))
        store.close()
        for name, value in saved.items():  # the other figures run in this process
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        baseline = _baseline(server, runs)
    base = Stat.of([t * 1000 for t in baseline], "ms")
    first = Stat.of([t * 1000 for t in uncached], "ms")
    second = Stat.of([t * 1000 for t in cached], "ms")
    frame = Stat.of([t * 1000 for t in frames], "ms")
    return [
        Row("preview 1024×1024 PNG from OSS: opened → on screen", first, base, first.median / base.median,
            "× fetch+decode", f"≤ {TARGET_S * 1000:g} ms", first.median <= TARGET_S * 1000,
            note="headless app, emulator's OSS endpoint on loopback; baseline: SDK get_object + Pillow decode only"),
        Row("preview, cached: opened → on screen", second, base, second.median / base.median, "× fetch+decode",
            f"≤ {TARGET_CACHED_S * 1000:g} ms", second.median <= TARGET_CACHED_S * 1000),
        Row("preview: longest frame update while it loads", frame, None, None, "", f"≤ {TARGET_FRAME_S * 1000:g} ms",
            frame.high <= TARGET_FRAME_S * 1000, note="max over both opens of every run (layout + paint)"),
    ]


def run(runs: int = 5) -> list[Row]:
    return asyncio.run(_measure(runs))
