"""The ComfyUI emulator's newer generation (`comfyui_version="0.38.1"`), per protocols/comfyui-newer.md, and that
0.3.64 answers as before where they differ. Real HTTP over loopback with httpx."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_comfyui_sim
from tui.core.workflow import seed_workflow

pytestmark = pytest.mark.timeout(60)


def small(steps: int = 2) -> dict:
    workflow = seed_workflow()
    for assignment in ("5.width=32", "5.height=24", f"3.steps={steps}"):
        workflow = workflow.apply_assignment(assignment)
    return workflow.to_dict()


@pytest.fixture
async def newer(tmp_path: Path):
    sim = await start_comfyui_sim(tmp_path / "out-new", comfyui_version="0.38.1")
    yield sim
    await sim.stop()


@pytest.fixture
async def older(tmp_path: Path):
    sim = await start_comfyui_sim(tmp_path / "out-old")
    yield sim
    await sim.stop()


async def wait_done(client: httpx.AsyncClient, prompt_id: str) -> dict:
    for _ in range(500):
        body = (await client.get(f"/history/{prompt_id}")).json()
        if prompt_id in body:
            return body[prompt_id]
        await asyncio.sleep(0.02)
    raise AssertionError("never finished")


async def test_prompt_ids_must_be_canonical_uuids_on_the_newer_server_only(newer, older) -> None:
    async with httpx.AsyncClient(base_url=newer.base_url) as client:
        bad = await client.post("/prompt", json={"prompt": small(), "prompt_id": "my-own-prompt-id-0001"})
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "invalid_prompt_id" and bad.json()["node_errors"] == {}
        upper = str(uuid.uuid4()).upper()
        assert (await client.post("/prompt", json={"prompt": small(), "prompt_id": upper})).status_code == 400
        good = str(uuid.uuid4())
        answer = await client.post("/prompt", json={"prompt": small(), "prompt_id": good})
        assert answer.status_code == 200 and answer.json()["prompt_id"] == good
        assert answer.json()["number"] == 2  # the rejected ones advanced the counter
        entry = await wait_done(client, good)
        assert isinstance(entry["prompt"][3]["create_time"], int)
        image = entry["outputs"]["9"]["images"][0]
        assert image["metadata"] == {"kind": "image", "width": 32, "height": 24}
        stats = (await client.get("/system_stats")).json()
        assert stats["system"]["comfyui_version"] == "0.38.1"
    async with httpx.AsyncClient(base_url=older.base_url) as client:
        answer = await client.post("/prompt", json={"prompt": small(), "prompt_id": "my-own-prompt-id-0001"})
        assert answer.status_code == 200 and answer.json()["prompt_id"] == "my-own-prompt-id-0001"
        entry = await wait_done(client, "my-own-prompt-id-0001")
        assert "create_time" not in entry["prompt"][3]
        assert "metadata" not in entry["outputs"]["9"]["images"][0]


async def test_new_error_types(newer) -> None:
    async with httpx.AsyncClient(base_url=newer.base_url) as client:
        unknown = small()
        unknown["3"]["class_type"] = "NoSuchNode"
        body = (await client.post("/prompt", json={"prompt": unknown})).json()
        assert body["error"]["type"] == "missing_node_type" and body["node_errors"] == {}
        assert body["error"]["extra_info"]["node_id"] == "3"
        assert body["error"]["extra_info"]["class_type"] == "NoSuchNode"
        cycle = {
            "1": {"class_type": "ImageBlur", "inputs": {"image": ["2", 0], "blur_radius": 1, "sigma": 1.0}},
            "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": 1.0}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}},
        }
        body = (await client.post("/prompt", json={"prompt": cycle})).json()
        assert body["error"]["type"] == "prompt_outputs_failed_validation"
        assert set(body["node_errors"]) == {"1", "2"}
        error = body["node_errors"]["1"]["errors"][0]
        assert error["type"] == "dependency_cycle" and "ImageBlur" in error["details"]
        assert set(error["extra_info"]["cycle_nodes"]) == {"1", "2"}


async def test_jobs_api_lists_details_and_cancels(newer, older) -> None:
    async with httpx.AsyncClient(base_url=older.base_url) as client:
        assert (await client.get("/api/jobs?limit=1")).status_code == 404
    async with httpx.AsyncClient(base_url=newer.base_url) as client:
        assert (await client.get("/jobs")).status_code == 404  # only under /api
        ids = [(await client.post("/prompt", json={"prompt": small(steps=300)})).json()["prompt_id"] for _ in range(3)]
        listing = (await client.get("/api/jobs?status=pending,in_progress")).json()
        assert {job["id"]: job["status"] for job in listing["jobs"]} == {
            ids[0]: "in_progress", ids[1]: "pending", ids[2]: "pending"
        }
        assert (await client.get("/api/jobs?status=bogus")).status_code == 400
        assert (await client.get("/api/jobs?limit=0")).status_code == 400
        assert (await client.post(f"/api/jobs/{ids[2]}/cancel")).json() == {"cancelled": True}
        assert (await client.get(f"/api/jobs/{ids[2]}")).status_code == 404
        assert (await client.post(f"/api/jobs/{ids[2]}/cancel")).json() == {"cancelled": False}
        bad = await client.post("/api/jobs/cancel", json={"job_ids": ["not-a-uuid"]})
        assert bad.status_code == 400 and bad.json()["invalid_ids"] == ["not-a-uuid"]
        assert (await client.post("/api/jobs/cancel", json={"job_ids": []})).json() == {"cancelled": False}
        assert (await client.post(f"/api/jobs/{ids[0]}/cancel")).json() == {"cancelled": True}
        entry = await wait_done(client, ids[0])
        assert entry["status"]["status_str"] == "error"
        detail = (await client.get(f"/api/jobs/{ids[0]}")).json()
        assert detail["status"] == "cancelled" and "workflow" in detail
        assert (await client.post(f"/api/jobs/{ids[1]}/cancel")).json() == {"cancelled": True}  # (running by now)
        await wait_done(client, ids[1])
        limited = (await client.get("/api/jobs?limit=1")).json()
        assert len(limited["jobs"]) == 1 and limited["pagination"]["total"] == 2  # the deleted one is gone
        assert {job["status"] for job in (await client.get("/api/jobs")).json()["jobs"]} == {"cancelled"}
