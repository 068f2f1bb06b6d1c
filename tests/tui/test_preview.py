"""The output preview in the job detail, on the real app and the real emulators (ComfyUI /view, OSS with the SDK).

A job's output is a 1024×1024 PNG the emulator serves (written where the emulator keeps its outputs, so it is the
object at the job's composed OSS path too). Opening the job shows it: the image widget gets the decoded picture.
The pane following the table's cursor fetches nothing until `p`.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.tui.conftest import SIM_TOKEN, running, wait_for
from tui.app import ComfyqApp, LaunchOptions
from tui.core.config import load_config
from tui.core.jobs import Edition, Job, JobState, Output, new_job_id
from tui.core.locations import resolve_locations
from tui.core.preview_cache import preview_dir
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimServer, SimThread
from tui.widgets.job_detail import JobDetail
from tui.widgets.output_preview import HALF_BLOCK_MAX_PIXELS, OutputPreview

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimServer]:
    with SimThread(token=SIM_TOKEN, output_dir=tmp_path / "sim-output") as running_server:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", running_server.oss.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", running_server.oss.access_key_secret)
        yield running_server


def png_bytes(size: int = 1024) -> bytes:
    image = Image.new("RGB", (size, size))
    image.putdata([((x * 7) % 256, (y * 3) % 256, (x ^ y) % 256) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_app(tmp_path: Path, server: SimServer, filename: str, data: bytes, profile: str) -> tuple[ComfyqApp, Job]:
    locations = resolve_locations(tmp_path / "config.toml", tmp_path / "data")
    locations.data_dir.mkdir(parents=True, exist_ok=True)
    locations.config_file.write_text(server.config_snippet(), encoding="utf-8")
    (server.output_dir / filename).write_bytes(data)
    store = JobStore(locations.store_file)
    job = Job(
        id=new_job_id(), profile=profile, edition=Edition.API if profile == "sim-api" else Edition.DEDICATED,
        workflow=None, state=JobState.SUCCEEDED, outputs=(Output("9", "output", "", filename),),
    )
    store.add(job)
    options = LaunchOptions(
        config=load_config(locations.config_file, explicit=True), locations=locations, workflow=seed_workflow(),
        start_engine=False,
    )
    return ComfyqApp(options, store=store), job


def cached_files(tmp_path: Path) -> list[Path]:
    directory = preview_dir(tmp_path / "data")
    return sorted(directory.iterdir()) if directory.is_dir() else []


@pytest.mark.parametrize("profile", ["sim-dedicated", "sim-api"])
async def test_opening_a_job_previews_its_image(tmp_path: Path, server: SimServer, profile: str) -> None:
    data = png_bytes()
    app, job = make_app(tmp_path, server, "ComfyUI_00001_.png", data, profile)
    async with running(app) as pilot:
        app.screen.open_detail(job.id)
        await wait_for(pilot, lambda: app.screen.query(OutputPreview), "the preview to be built")
        preview = app.screen.query_one(OutputPreview)
        await wait_for(pilot, lambda: preview.image_shown is not None, lambda: preview.last_caption)
        widget = preview.query_one("#preview-image")
        assert widget.image is preview.image_shown  # the image widget holds the decoded picture
        side = HALF_BLOCK_MAX_PIXELS  # no terminal here: half-blocks, so the picture is scaled for them
        assert preview.image_shown.size == (side, side)
        original = Image.open(io.BytesIO(data)).convert("RGB").resize((side, side))
        assert preview.image_shown.convert("RGB").getpixel((side // 2, side // 8)) == pytest.approx(
            original.getpixel((side // 2, side // 8)), abs=12
        )
        assert "1024×1024" in preview.last_caption  # the caption gives the real size
        await pilot.pause()
    files = cached_files(tmp_path)
    assert len(files) == 1 and hashlib.sha256(files[0].read_bytes()).digest() == hashlib.sha256(data).digest()
    if profile == "sim-api":
        assert ("GET", "artlab/output/ComfyUI_00001_.png") in server.oss.requests


async def test_the_pane_fetches_nothing_until_p(tmp_path: Path, server: SimServer) -> None:
    app, job = make_app(tmp_path, server, "ComfyUI_00002_.png", png_bytes(256), "sim-api")
    async with running(app) as pilot:
        detail = app.screen.query_one(JobDetail)
        await wait_for(pilot, lambda: detail.job is not None and detail.job.id == job.id, "the pane to show the job")
        await pilot.pause(0.3)
        assert server.oss.requests == [] and cached_files(tmp_path) == []
        detail.focus()
        await pilot.press("p")
        preview = app.screen.query_one(OutputPreview)
        await wait_for(pilot, lambda: preview.image_shown is not None, lambda: preview.last_caption)
        await pilot.press("p")  # off again
        await pilot.pause()
        assert not preview.display


async def test_a_non_image_output_shows_name_type_and_size(tmp_path: Path, server: SimServer) -> None:
    app, job = make_app(tmp_path, server, "clip_00001_.mp4", os.urandom(3000), "sim-dedicated")
    async with running(app) as pilot:
        app.screen.open_detail(job.id)
        await wait_for(pilot, lambda: app.screen.query(OutputPreview), "the preview")
        preview = app.screen.query_one(OutputPreview)
        await wait_for(pilot, lambda: "video/mp4" in preview.last_caption, lambda: preview.last_caption)
        assert "clip_00001_.mp4" in preview.last_caption and "2.9 KB" in preview.last_caption
        assert preview.image_shown is None


async def test_wrong_oss_keys_are_said_in_the_preview(
    tmp_path: Path, server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "wrong-secret")
    app, job = make_app(tmp_path, server, "ComfyUI_00003_.png", png_bytes(64), "sim-api")
    async with running(app) as pilot:
        app.screen.open_detail(job.id)
        await wait_for(pilot, lambda: app.screen.query(OutputPreview), "the preview")
        preview = app.screen.query_one(OutputPreview)
        await wait_for(pilot, lambda: "SignatureDoesNotMatch" in preview.last_caption, lambda: preview.last_caption)
        assert "OSS_ACCESS_KEY_SECRET" in preview.last_caption and "wrong-secret" not in preview.last_caption


async def test_d_saves_the_output_to_the_download_dir(tmp_path: Path, server: SimServer) -> None:
    data = png_bytes(64)
    app, job = make_app(tmp_path, server, "ComfyUI_00004_.png", data, "sim-dedicated")
    target = tmp_path / "downloads"
    app.config = app.options.config = load_config(app.options.locations.config_file, explicit=True)
    object.__setattr__(app.config.defaults, "download_dir", str(target))
    async with running(app) as pilot:
        app.screen.open_detail(job.id)
        await wait_for(pilot, lambda: app.screen.query(OutputPreview), "the preview")
        await pilot.press("d")
        await wait_for(pilot, lambda: (target / "ComfyUI_00004_.png").exists(), "the download")
    assert (target / "ComfyUI_00004_.png").read_bytes() == data
