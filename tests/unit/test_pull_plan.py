"""Where `comfyq pull` puts each file (layouts), what it refuses, and the preview cache's size cap."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tui.core.jobs import Edition, Job, JobState, Output
from tui.core.preview_cache import PreviewCache, is_image, kind_of
from tui.core.pull import PullResult, exit_code, plan
from tui.core.fetch import FetchError

BUCKETS = {"p": "oss://bkt/pre"}


def job(job_id: str, *outputs: Output, state: JobState = JobState.SUCCEEDED) -> Job:
    return Job(id=job_id, profile="p", edition=Edition.API, workflow=None, state=state, outputs=outputs)


def test_layouts(tmp_path: Path) -> None:
    output = Output("9", "output", "portraits", "a.png")
    for layout, expected in (
        ("flat", "a.png"),
        ("job", "j1/portraits/a.png"),
        ("oss", "bkt/pre/output/portraits/a.png"),
    ):
        items, skipped = plan([job("j1", output)], tmp_path, layout, BUCKETS)
        assert skipped == [] and [item.relative for item in items] == [expected]
        assert items[0].target == tmp_path.resolve() / expected


def test_escaping_names_duplicates_and_jobs_without_outputs_are_skipped_with_why(tmp_path: Path) -> None:
    jobs = [
        job("j1", Output("9", "output", "../..", "x.png"), Output("9", "output", "", "/etc/passwd"),
            Output("9", "output", "", "ok.png")),
        job("j2", Output("9", "output", "", "ok.png")),
        job("j3", state=JobState.FAILED),
    ]
    items, skipped = plan(jobs, tmp_path, "flat", BUCKETS)
    assert [item.relative for item in items] == ["ok.png"]
    reasons = [entry.reason for entry in skipped]
    assert reasons[0].startswith("refused:") and "'..'" in reasons[0]
    assert reasons[1].startswith("refused:") and "absolute" in reasons[1]
    assert reasons[2] == "same name as an output of job j1 (use --layout job)"
    assert reasons[3] == "failed: no outputs"


def test_a_symlink_inside_the_folder_cannot_lead_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (out / "j1").symlink_to(tmp_path / "elsewhere")
    items, skipped = plan([job("j1", Output("9", "output", "", "a.png"))], out, "job", BUCKETS)
    assert items == [] and "outside the output folder" in skipped[0].reason


def test_exit_codes(tmp_path: Path) -> None:
    items, _ = plan([job("j1", Output("9", "output", "", "a.png"))], tmp_path, "flat", BUCKETS)
    item = items[0]
    assert exit_code([PullResult(item, "fetched", 3)], []) == 0
    assert exit_code([PullResult(item, "skipped", 3)], []) == 0
    assert exit_code([PullResult(item, "failed", error=FetchError("missing", "404"))], []) == 1
    assert exit_code([PullResult(item, "failed", error=FetchError("auth", "no"))], []) == 3
    assert exit_code([PullResult(item, "failed", error=FetchError("unreachable", "no"))], []) == 3
    assert exit_code([PullResult(item, "failed", error=FetchError("config", "add oss_region"))], []) == 2


def test_preview_cache_keeps_under_its_cap_least_recently_used_out(tmp_path: Path) -> None:
    cache = PreviewCache(tmp_path / "previews", cap_bytes=2500)
    cache.directory.mkdir()
    jobs = [job(f"j{n}", Output("9", "output", "", f"{n}.png")) for n in range(4)]
    paths = [cache.path_for(j, j.outputs[0]) for j in jobs]
    for number, path in enumerate(paths[:3]):
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 100 + number, time.time() - 100 + number))
    assert cache.lookup(jobs[0], jobs[0].outputs[0]) == paths[0]  # used now: the newest
    paths[3].write_bytes(b"x" * 1000)
    cache.trim(keep=paths[3])
    assert sorted(p.name for p in cache.directory.iterdir()) == sorted([paths[0].name, paths[3].name])
    assert cache.lookup(jobs[1], jobs[1].outputs[0]) is None


def test_output_kinds() -> None:
    assert is_image(Output("9", "output", "", "a.PNG")) and not is_image(Output("9", "output", "", "a.mp4"))
    assert kind_of(Output("9", "output", "", "a.mp4")) == "video/mp4"
    assert kind_of(Output("9", "output", "", "mesh.glb")) == "model/gltf-binary"


@pytest.mark.parametrize("name", ["a.png", "we ird\u202e.png"])
def test_cache_names_are_hashes_with_a_plain_suffix(tmp_path: Path, name: str) -> None:
    path = PreviewCache(tmp_path).path_for(job("j", Output("9", "output", "", name)), Output("9", "output", "", name))
    assert path.parent == tmp_path and path.suffix == ".png" and len(path.stem) == 32
