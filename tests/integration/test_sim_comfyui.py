"""Fidelity of the ComfyUI emulator against the captured real server (tests/fixtures/comfyui), over loopback.

Every request goes over real HTTP (httpx) and real websockets (aiohttp's client) to the emulator started by the
`comfyui_sim` fixtures. "Same shape" means the same keys and JSON value types, recursively (`shape()`); values
that depend on the run (ids, numbers, timestamps) are free, values that do not are compared exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests.integration.conftest import ComfyUISimFactory, RunningComfyUISim
from tests.waiting import wait_until
from tui.sim.comfyui import SERVER_ERROR_TEXT
from tui.sim.png import PNG_SIGNATURE, read_png_info

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui"
WORKFLOWS = FIXTURES / "workflows"
DEDICATED_SAMPLE = Path(__file__).with_name("seed_samples") / "dedicated_sample.py"
DEADLINE_SECONDS = 30.0


# ----- helpers -------------------------------------------------------------------------------------------------

def shape(value: Any) -> Any:
    """Keys and JSON value types, recursively. A list whose items all have one shape collapses to [that shape]
    (so a traceback of 5 or 7 lines compares equal); mixed lists (the 5-element prompt array) keep positions."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = [shape(item) for item in value]
        if shapes and all(item == shapes[0] for item in shapes):
            return [shapes[0]]
        return shapes
    return type(value).__name__


def without_graph(value: Any) -> Any:
    """A history entry or /queue body with each item's API graph (node ids of another workflow) left out."""
    if isinstance(value, dict) and "prompt" in value:
        return {**value, "prompt": [*value["prompt"][:2], "graph", *value["prompt"][3:]]}
    if isinstance(value, dict) and "queue_running" in value:
        return {key: [[*item[:2], "graph", *item[3:]] for item in items] for key, items in value.items()}
    return value


def meta(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.meta.json").read_text(encoding="utf-8"))


def fixture_body(name: str) -> Any:
    return json.loads((FIXTURES / meta(name)["response"]["body_file"]).read_text(encoding="utf-8"))


def request_body(name: str) -> Any:
    return json.loads(meta(name)["request"]["body"])


def ws_fixture(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def workflow(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / name).read_text(encoding="utf-8"))


def event_key(message: dict[str, Any]) -> str:
    """A message's type, plus the node for executing/executed (the order of nodes matters too)."""
    if message["type"] in ("executing", "executed"):
        return f"{message['type']}:{message['data'].get('node')}"
    return message["type"]


def entry_of(history: dict[str, Any]) -> dict[str, Any]:
    assert len(history) == 1, history
    return next(iter(history.values()))


async def replay(client: httpx.AsyncClient, name: str, *, headers: dict[str, str] | None = None,
                 body: Any = None) -> httpx.Response:
    request = meta(name)["request"]
    raw = request["body"] if body is None else json.dumps(body)
    return await client.request(request["method"], request["path"], content=raw.encode() if raw is not None else None,
                                headers={**request["headers"], **(headers or {})})


async def history_of(client: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    response = await client.get(f"/history/{prompt_id}")
    assert response.status_code == 200
    return response.json()


async def wait_history(client: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    async def done() -> bool:
        return await history_of(client, prompt_id) != {}

    await wait_until(done, DEADLINE_SECONDS, f"history of {prompt_id}")
    return entry_of(await history_of(client, prompt_id))


class Socket:
    """A websocket client collecting text messages (and counting binary frames)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.binary: list[bytes] = []

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Read until a message satisfies `predicate`; return everything read so far (it included)."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"websocket: condition never met; got {[event_key(m) for m in self.messages]}")
            frame = await self.ws.receive(timeout=remaining)
            if frame.type == aiohttp.WSMsgType.BINARY:
                self.binary.append(frame.data)
                continue
            if frame.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"websocket closed: {frame.type}")
            message = json.loads(frame.data)
            self.messages.append(message)
            if predicate(message):
                return self.messages

    async def until_done(self, prompt_id: str) -> list[dict[str, Any]]:
        return await self.until(lambda m: m["type"] == "executing" and m["data"] == {"node": None,
                                                                                        "prompt_id": prompt_id})


async def open_socket(session: aiohttp.ClientSession, sim: RunningComfyUISim, client_id: str | None,
                      headers: dict[str, str] | None = None) -> Socket:
    socket = Socket(await session.ws_connect(sim.ws_url(client_id), headers=headers))
    await socket.until(lambda m: m["type"] == "status")  # the greeting
    return socket


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def http(sim: RunningComfyUISim, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": token} if token else {}
    return httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=DEADLINE_SECONDS)


SEED_PROMPT: dict[str, Any] = request_body("02_post_prompt_sd15_missing_checkpoint")["prompt"]


# ----- stateless GETs --------------------------------------------------------------------------------------------

STATELESS_GETS = [
    "00_get_system_stats", "00_get_features", "00_get_prompt_idle", "00_get_queue_idle", "00_get_history_empty",
    "00_get_history_unknown_id", "00_get_object_info_SaveImage", "00_get_object_info_KSampler",
    "00_get_object_info_CheckpointLoaderSimple", "00_get_object_info_EmptyImage", "00_get_object_info_unknown",
    "00_get_embeddings", "00_get_models_checkpoints",
]


@pytest.mark.parametrize("name", STATELESS_GETS)
@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_fresh_server_gets_answer_like_the_real_one(comfyui_sim_factory: ComfyUISimFactory, name: str,
                                                          prefix: str) -> None:
    sim = await comfyui_sim_factory(models=())  # the capture had no model installed
    async with http(sim) as client:
        response = await client.get(prefix + meta(name)["request"]["path"])
    assert response.status_code == meta(name)["response"]["status"]
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    expected = fixture_body(name)
    assert shape(response.json()) == shape(expected)
    if name.startswith("00_get_object_info") or name in ("00_get_features", "00_get_queue_idle",
                                                         "00_get_prompt_idle", "00_get_history_empty"):
        assert response.json() == expected  # nothing run-dependent in these


async def test_object_info_covers_every_node_it_runs_and_lists_the_models(comfyui_sim: RunningComfyUISim) -> None:
    async with http(comfyui_sim) as client:
        everything = (await client.get("/object_info")).json()
        checkpoints = (await client.get("/models/checkpoints")).json()
    real = fixture_body("00_get_object_info_all")
    for name, info in everything.items():
        if name != "CheckpointLoaderSimple":
            assert info == real[name]
    assert everything["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
        "3dAnimationDiffusion_v10.safetensors"]
    assert checkpoints == ["3dAnimationDiffusion_v10.safetensors"]
    nodes_used = {node["class_type"] for path in WORKFLOWS.glob("*.json")
                  for node in json.loads(path.read_text()).values()}
    assert nodes_used <= set(everything)


# ----- POST /prompt validation -----------------------------------------------------------------------------------

EXACT_400 = [
    "02_post_prompt_sd15_missing_checkpoint", "03_post_prompt_cycle", "03_post_prompt_empty_prompt",
    "03_post_prompt_missing_class_type", "03_post_prompt_missing_prompt", "03_post_prompt_no_output_node",
    "03_post_prompt_unknown_class_type", "03_post_prompt_type_mismatch", "03_post_prompt_link_to_missing_node",
    "03_post_prompt_link_bad_output_index",
]


@pytest.mark.parametrize("name", EXACT_400)
async def test_validation_failures_give_the_real_400_bodies(comfyui_sim_factory: ComfyUISimFactory,
                                                            name: str) -> None:
    sim = await comfyui_sim_factory(models=())
    async with http(sim) as client:
        response = await replay(client, name)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == fixture_body(name)


async def test_several_errors_on_several_nodes_are_reported_at_once(comfyui_sim: RunningComfyUISim) -> None:
    async with http(comfyui_sim) as client:
        response = await replay(client, "03_post_prompt_bad_values")
    assert response.status_code == 400
    expected = fixture_body("03_post_prompt_bad_values")
    body = response.json()

    def by_type(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:  # ComfyUI walks inputs in set order
        return sorted(errors, key=lambda error: error["type"])

    assert body["error"] == expected["error"]
    assert set(body["node_errors"]) == set(expected["node_errors"])
    for node_id, node_error in expected["node_errors"].items():
        assert by_type(body["node_errors"][node_id]["errors"]) == by_type(node_error["errors"])
        assert body["node_errors"][node_id]["dependent_outputs"] == node_error["dependent_outputs"]


@pytest.mark.parametrize("name", ["03_post_prompt_invalid_json", "03_post_prompt_empty_body",
                                  "03_post_prompt_prompt_is_string", "03_post_prompt_ui_format_workflow",
                                  "06_post_queue_invalid_json", "06_post_history_invalid_json",
                                  "04_get_history_bad_max_items"])
async def test_malformed_requests_get_aiohttps_stock_500(comfyui_sim: RunningComfyUISim, name: str) -> None:
    async with http(comfyui_sim) as client:
        response = await replay(client, name)
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["connection"] == "close"
    assert response.text == SERVER_ERROR_TEXT == (FIXTURES / meta(name)["response"]["body_file"]).read_text()


async def test_partly_valid_prompt_is_accepted_with_node_errors_and_runs_the_good_output(
        comfyui_sim: RunningComfyUISim) -> None:
    async with http(comfyui_sim) as client:
        response = await replay(client, "03_post_prompt_partially_valid")
        assert response.status_code == 200
        body = response.json()
        expected = fixture_body("03_post_prompt_partially_valid")
        assert shape(body) == shape(expected)
        assert body["node_errors"] == expected["node_errors"]
        entry = await wait_history(client, body["prompt_id"])
    assert shape(entry) == shape(entry_of(fixture_body("03_get_history_id_partially_valid")))
    assert entry["status"]["status_str"] == "success"
    assert list(entry["outputs"]) == ["4"]
    assert entry["prompt"][4] == ["4"]


async def test_number_counts_every_parsed_post_and_front_is_negative_and_runs_first(
        comfyui_sim_factory: ComfyUISimFactory) -> None:
    # A long sampler job keeps the executor busy so the two later prompts are both pending when it ends.
    sim = await comfyui_sim_factory(step_seconds=0.01)
    long_job = {**SEED_PROMPT, "3": {**SEED_PROMPT["3"], "inputs": {**SEED_PROMPT["3"]["inputs"], "steps": 10000}}}
    async with http(sim) as client:
        first = (await client.post("/prompt", json={"prompt": long_job})).json()
        assert first["number"] == 0

        async def first_running() -> bool:
            return [item[1] for item in (await client.get("/queue")).json()["queue_running"]] == [first["prompt_id"]]

        await wait_until(first_running, DEADLINE_SECONDS, "the long job running")  # so the later prompts are all pending
        assert (await client.post("/prompt", json={"prompt": {}})).status_code == 400  # number 1 is used up
        assert (await client.post("/prompt", json={"prompt": "text"})).status_code == 500  # and 2
        assert (await client.post("/prompt", content=b"{not json")).status_code == 500  # not parsed: no number
        back = (await client.post("/prompt", json={"prompt": workflow("single_emptyimage_blur_scale_save.json")}))
        body = request_body("01f_post_prompt_custom_prompt_id")
        front = await client.post("/prompt", json=body)
        assert back.json()["number"] == 3
        assert front.json() == {"prompt_id": "my-own-prompt-id-0001", "number": -4, "node_errors": {}}
        queue = (await client.get("/queue")).json()
        assert [item[1] for item in queue["queue_pending"]][0] == "my-own-prompt-id-0001"
        assert (await client.post("/interrupt", json={"prompt_id": first["prompt_id"]})).status_code == 200
        custom = await wait_history(client, "my-own-prompt-id-0001")
        later = await wait_history(client, back.json()["prompt_id"])
        completion_order = list((await client.get("/history")).json())
    assert completion_order == [first["prompt_id"], "my-own-prompt-id-0001", back.json()["prompt_id"]]
    assert custom["prompt"][3] == {"note": "anything", "client_id": "fixture-client-1"}
    assert shape(custom) == shape(entry_of(fixture_body("01f_get_history_custom_prompt_id")))
    assert later["status"]["status_str"] == "success"


async def test_foreign_origin_is_refused_and_a_matching_one_accepted(comfyui_sim: RunningComfyUISim) -> None:
    async with http(comfyui_sim) as client:
        refused = await replay(client, "03_post_prompt_origin_mismatch")
        accepted = await replay(client, "03_post_prompt_origin_match",
                                headers={"Origin": f"http://127.0.0.1:{comfyui_sim.port}"})
        no_origin = await client.get("/queue")
    assert refused.status_code == 403 and refused.content == b""
    assert "content-type" not in refused.headers
    assert accepted.status_code == 200
    assert shape(accepted.json()) == shape(fixture_body("03_post_prompt_origin_match"))
    assert no_origin.status_code == 200


# ----- jobs and their websocket messages ---------------------------------------------------------------------

async def run_job(client: httpx.AsyncClient, socket: Socket, body: dict[str, Any]) -> tuple[dict[str, Any],
                                                                                            list[dict[str, Any]]]:
    start = len(socket.messages)
    response = await client.post("/prompt", json=body)
    assert response.status_code == 200, response.text
    prompt_id = response.json()["prompt_id"]
    messages = (await socket.until_done(prompt_id))[start:]
    return response.json(), messages


def without_greeting(name: str) -> list[str]:
    return [event_key(m) for m in ws_fixture(name)[1:]]


async def test_single_job_messages_history_and_files_match(comfyui_sim: RunningComfyUISim,
                                                           session: aiohttp.ClientSession) -> None:
    client_socket = await open_socket(session, comfyui_sim, "fixture-client-1")
    bystander = await open_socket(session, comfyui_sim, "fixture-bystander")
    async with http(comfyui_sim) as client:
        posted, messages = await run_job(client, client_socket, request_body("01_post_prompt_valid"))
        assert shape(posted) == shape(fixture_body("01_post_prompt_valid"))
        assert [event_key(m) for m in messages] == without_greeting("01_ws_single_job")
        for ours, real in zip(messages, ws_fixture("01_ws_single_job")[1:]):
            assert shape(ours) == shape(real), ours["type"]
        entry = entry_of(await history_of(client, posted["prompt_id"]))
        view = await client.get("/view", params={"filename": "fixture_single_00001_.png", "type": "output",
                                                 "subfolder": ""})
    real_entry = entry_of(fixture_body("01_get_history_id_success"))
    assert shape(entry) == shape(real_entry)
    assert entry["outputs"] == real_entry["outputs"] and entry["meta"] == real_entry["meta"]
    assert entry["prompt"][2:] == real_entry["prompt"][2:]
    assert [m[0] for m in entry["status"]["messages"]] == ["execution_start", "execution_cached", "execution_success"]
    await bystander.until(lambda m: m["type"] == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 0
                          and len(bystander.messages) >= 4)
    expected_bystander = [event_key(m) for m in ws_fixture("01_ws_single_job_bystander")]
    assert [event_key(m) for m in bystander.messages] == expected_bystander
    assert view.status_code == 200
    assert view.headers["content-type"] == "image/png"
    assert view.headers["content-disposition"] == 'filename="fixture_single_00001_.png"'
    assert "etag" in view.headers and "last-modified" in view.headers
    width, height, text = read_png_info(view.content)
    assert view.content.startswith(PNG_SIGNATURE) and (width, height) == (128, 96)
    assert json.loads(text["prompt"]) == request_body("01_post_prompt_valid")["prompt"]


async def test_identical_resubmission_is_cached_and_reuses_the_old_file(comfyui_sim: RunningComfyUISim,
                                                                        session: aiohttp.ClientSession) -> None:
    socket = await open_socket(session, comfyui_sim, "fixture-client-1")
    async with http(comfyui_sim) as client:
        first, _ = await run_job(client, socket, request_body("01_post_prompt_valid"))
        again, messages = await run_job(client, socket, request_body("01d_post_prompt_resubmit_identical"))
        entry = entry_of(await history_of(client, again["prompt_id"]))
    assert [event_key(m) for m in messages] == without_greeting("01d_ws_cached_job")
    for ours, real in zip(messages, ws_fixture("01d_ws_cached_job")[1:]):
        assert shape(ours) == shape(real), ours["type"]
    real_entry = entry_of(fixture_body("01d_get_history_id_cached"))
    assert shape(entry) == shape(real_entry)
    assert entry["status"]["messages"][1][1]["nodes"] == ["1", "2", "3", "4"]
    assert entry["outputs"] == real_entry["outputs"]
    assert sorted(p.name for p in comfyui_sim.output_dir.iterdir()) == ["fixture_single_00001_.png"]


async def test_batch_with_save_and_preview(comfyui_sim: RunningComfyUISim, session: aiohttp.ClientSession) -> None:
    socket = await open_socket(session, comfyui_sim, "fixture-client-1")
    async with http(comfyui_sim) as client:
        posted, messages = await run_job(client, socket, request_body("01b_post_prompt_batch"))
        entry = entry_of(await history_of(client, posted["prompt_id"]))
        temp_name = entry["outputs"]["4"]["images"][0]["filename"]
        temp_view = await client.get("/view", params={"filename": temp_name, "type": "temp", "subfolder": ""})
    assert [event_key(m) for m in messages] == without_greeting("01b_ws_batch_job")
    real_entry = entry_of(fixture_body("01b_get_history_id_batch_success"))
    assert shape(entry) == shape(real_entry)
    assert list(entry["outputs"]) == list(real_entry["outputs"])  # execution order: preview first
    assert entry["outputs"]["3"] == real_entry["outputs"]["3"]
    real_temp = real_entry["outputs"]["4"]["images"][0]["filename"]  # ComfyUI_temp_<5 random letters>_00001_.png
    assert temp_name[:13] == real_temp[:13] and temp_name[18:] == real_temp[18:] and len(temp_name) == len(real_temp)
    assert len({image["filename"][13:18] for image in entry["outputs"]["4"]["images"]}) == 1
    assert temp_view.status_code == 200 and read_png_info(temp_view.content)[:2] == (48, 32)
    saved = sorted(p.name for p in comfyui_sim.output_dir.iterdir())
    assert saved == [f"fixture_batch_0000{i}_.png" for i in range(1, 5)]


async def test_counter_continues_across_prompts_per_prefix(comfyui_sim: RunningComfyUISim,
                                                           session: aiohttp.ClientSession) -> None:
    socket = await open_socket(session, comfyui_sim, "c")
    async with http(comfyui_sim) as client:
        for color in (1, 2, 3):  # different colours: never cached
            prompt = workflow("single_emptyimage_blur_scale_save.json")
            prompt["1"]["inputs"]["color"] = color
            await run_job(client, socket, {"prompt": prompt, "client_id": "c"})
    assert sorted(p.name for p in comfyui_sim.output_dir.iterdir()) == [
        f"fixture_single_0000{i}_.png" for i in (1, 2, 3)]


async def test_job_without_client_id_only_broadcasts_progress_state(comfyui_sim: RunningComfyUISim,
                                                                    session: aiohttp.ClientSession) -> None:
    socket = await open_socket(session, comfyui_sim, "fixture-bystander")
    async with http(comfyui_sim) as client:
        response = await replay(client, "01e_post_prompt_no_client_id")
        prompt_id = response.json()["prompt_id"]
        entry = await wait_history(client, prompt_id)
    await socket.until(lambda m: m["type"] == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 0
                       and any(x["type"] == "progress_state" for x in socket.messages))
    assert [event_key(m) for m in socket.messages[1:]] == without_greeting("01e_ws_job_without_client_id")
    assert entry["prompt"][3] == {}
    assert shape(entry) == shape(entry_of(fixture_body("01e_get_history_id_no_client_id")))


async def test_progress_and_binary_frames_with_and_without_feature_flags(comfyui_sim: RunningComfyUISim,
                                                                         session: aiohttp.ClientSession) -> None:
    plain = await open_socket(session, comfyui_sim, "fixture-client-1")
    async with http(comfyui_sim) as client:
        posted, messages = await run_job(client, plain, request_body("01c_post_prompt_ws_binary"))
        entry = entry_of(await history_of(client, posted["prompt_id"]))
        assert [event_key(m) for m in messages] == without_greeting("01c_ws_progress_and_binary")
        assert [m["data"] for m in messages if m["type"] == "progress"] == [
            {"value": v, "max": 3, "prompt_id": posted["prompt_id"], "node": "4"} for v in range(3)]
        assert plain.binary[0] == (FIXTURES / "01c_ws_progress_and_binary.bin00.bin").read_bytes()  # TEXT frame
        assert [frame[:8] for frame in plain.binary[1:]] == [b"\x00\x00\x00\x01\x00\x00\x00\x02"] * 3
        assert all(frame[8:].startswith(PNG_SIGNATURE) for frame in plain.binary[1:])
        assert entry["outputs"] == {} and entry["status"]["status_str"] == "success"
        await plain.ws.close()

        flagged = Socket(await session.ws_connect(comfyui_sim.ws_url("fixture-client-1")))
        await flagged.ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        await flagged.until(lambda m: m["type"] == "feature_flags")
        again, messages = await run_job(client, flagged, request_body("01c_post_prompt_ws_binary_flags"))
    expected = ws_fixture("01c_ws_progress_and_binary_feature_flags")
    assert [event_key(m) for m in flagged.messages] == [event_key(m) for m in expected]
    assert flagged.messages[1] == expected[1]
    with_metadata = [frame for frame in flagged.binary if frame[:4] == b"\x00\x00\x00\x04"]
    assert len(with_metadata) == 3
    length = int.from_bytes(with_metadata[0][4:8], "big")
    assert json.loads(with_metadata[0][8:8 + length])["prompt_id"] == again["prompt_id"]


@pytest.mark.parametrize(("post", "history"), [
    ("05_post_prompt_exec_error_blend", "05_get_history_id_exec_error_blend"),
    ("05_post_prompt_exec_error_scaleby", "05_get_history_id_exec_error_scaleby"),
    ("05_post_prompt_mixed_good_and_failing", "05_get_history_id_mixed_good_and_failing"),
])
async def test_execution_errors_match(comfyui_sim: RunningComfyUISim, session: aiohttp.ClientSession, post: str,
                                      history: str) -> None:
    socket = await open_socket(session, comfyui_sim, "fixture-client-1")
    async with http(comfyui_sim) as client:
        posted, messages = await run_job(client, socket, request_body(post))
        entry = entry_of(await history_of(client, posted["prompt_id"]))
    real_entry = entry_of(fixture_body(history))
    if post.endswith("blend"):
        assert [event_key(m) for m in messages] == without_greeting("05_ws_execution_error")
    assert shape(entry) == shape(real_entry)
    ours, real = entry["status"]["messages"][2][1], real_entry["status"]["messages"][2][1]
    for key in ("node_id", "node_type", "exception_message", "exception_type", "traceback"):
        assert ours[key] == real[key], key
    assert sorted(ours["executed"]) == sorted(real["executed"])
    assert sorted(ours["current_outputs"]) == sorted(real["current_outputs"])
    assert entry["outputs"] == {} and entry["status"]["completed"] is False


# ----- history listing ----------------------------------------------------------------------------------------

async def test_history_listing_max_items_and_offset(comfyui_sim: RunningComfyUISim) -> None:
    async with http(comfyui_sim) as client:
        ids = []
        for color in range(6):
            prompt = workflow("single_emptyimage_blur_scale_save.json")
            prompt["1"]["inputs"]["color"] = color
            ids.append((await client.post("/prompt", json={"prompt": prompt})).json()["prompt_id"])
            await wait_history(client, ids[-1])
        everything = (await client.get("/history")).json()
        last_five = (await client.get("/history", params={"max_items": 5})).json()
        window = (await client.get("/history", params={"max_items": 2, "offset": 1})).json()
        api_window = (await client.get("/api/history", params={"max_items": 2, "offset": 1})).json()
        zero = (await client.get("/history", params={"max_items": 0})).json()
    assert list(everything) == ids
    assert list(last_five) == ids[1:]
    assert list(window) == ids[1:3] == list(api_window)
    assert zero == {}
    real_entry = entry_of(fixture_body("01e_get_history_id_no_client_id"))  # the same workflow, no client_id
    assert all(shape(entry) == shape(real_entry) for entry in everything.values())


# ----- queue operations, interrupts and the four kinds of {} ------------------------------------------------------

LONG_JOB_MODELS = tuple(f"model_{number}.safetensors" for number in range(5))


def long_sampler(number: int) -> dict[str, Any]:
    """The seed workflow with a sampler long enough to still be running when the test acts on it. Every node
    differs between jobs (its own checkpoint, texts, size) so nothing is served from the cache, as in the capture."""
    prompt = json.loads(json.dumps(SEED_PROMPT))
    prompt["3"]["inputs"].update({"steps": 10000, "seed": number})
    prompt["4"]["inputs"]["ckpt_name"] = LONG_JOB_MODELS[number]
    prompt["5"]["inputs"].update({"width": 64 + 8 * number, "height": 64})
    prompt["6"]["inputs"]["text"] += f" {number}"
    prompt["7"]["inputs"]["text"] += f" {number}"
    prompt["9"]["inputs"]["filename_prefix"] = f"long_{number}"
    return prompt


async def test_queue_operations_interrupts_and_empty_history(comfyui_sim_factory: ComfyUISimFactory,
                                                             session: aiohttp.ClientSession) -> None:
    comfyui_sim = await comfyui_sim_factory(models=LONG_JOB_MODELS)
    socket = await open_socket(session, comfyui_sim, "fixture-client-1")
    async with http(comfyui_sim) as client:
        ids = []
        for number in range(5):
            response = await client.post("/prompt", json={"prompt": long_sampler(number),
                                                          "client_id": "fixture-client-1"})
            ids.append(response.json()["prompt_id"])
        s1, s2, s3, s4, s5 = ids

        async def running(prompt_id: str) -> bool:
            queue = (await client.get("/queue")).json()
            return [item[1] for item in queue["queue_running"]] == [prompt_id]

        await wait_until(lambda: running(s1), DEADLINE_SECONDS, "S1 running")
        queue = (await client.get("/queue")).json()
        assert shape(without_graph(queue)) == shape(without_graph(fixture_body("06_get_queue_running_and_pending")))
        assert (await client.get("/prompt")).json() == fixture_body("06_get_prompt_busy")
        assert await history_of(client, s1) == {}  # running
        assert await history_of(client, s3) == {}  # pending
        for name in ("06_post_queue_delete", "06_post_queue_delete_running", "06_post_queue_delete_unknown"):
            body = {"delete": [{"06_post_queue_delete": s3, "06_post_queue_delete_running": s1}.get(name,
                                                                                                    "not-a-real-id")]}
            response = await replay(client, name, body=body)
            assert (response.status_code, response.content) == (200, b"")
            assert "content-type" not in response.headers
        queue = (await client.get("/queue")).json()
        assert [item[1] for item in queue["queue_running"]] == [s1]
        assert [item[1] for item in queue["queue_pending"]] == [s2, s4, s5]
        assert shape(without_graph(queue)) == shape(without_graph(fixture_body("06_get_queue_after_delete")))

        response = await replay(client, "06_post_interrupt_global")
        assert (response.status_code, response.content) == (200, b"")
        interrupted = await wait_history(client, s1)
        assert shape(without_graph(interrupted)) == shape(
            without_graph(entry_of(fixture_body("06_get_history_id_interrupted_global"))))
        # Act once S2's sampler is stepping, so the interrupt lands inside KSampler (checked at each step).
        await socket.until(lambda m: m["type"] == "progress" and m["data"]["prompt_id"] == s2)
        await replay(client, "06_post_interrupt_other_prompt_id", body={"prompt_id": s4})  # pending: no-op
        assert shape(without_graph((await client.get("/queue")).json())) == shape(
            without_graph(fixture_body("06_get_queue_after_noop_interrupt")))
        await replay(client, "06_post_interrupt_targeted", body={"prompt_id": s2})
        targeted = await wait_history(client, s2)
        assert shape(without_graph(targeted)) == shape(
            without_graph(entry_of(fixture_body("06_get_history_id_interrupted_targeted"))))
        last = targeted["status"]["messages"][-1]
        assert last[0] == "execution_interrupted" and last[1]["node_id"] == "3" and last[1]["node_type"] == "KSampler"

        await wait_until(lambda: running(s4), DEADLINE_SECONDS, "S4 running")
        response = await replay(client, "06_post_queue_clear")
        assert (response.status_code, response.content) == (200, b"")
        queue = (await client.get("/queue")).json()
        assert shape(without_graph(queue)) == shape(without_graph(fixture_body("06_get_queue_after_clear")))
        assert [item[1] for item in queue["queue_running"]] == [s4] and queue["queue_pending"] == []
        await client.post("/interrupt", json={"prompt_id": s4})
        await wait_history(client, s4)
        await socket.until_done(s4)
        assert await history_of(client, s3) == {}  # deleted from the queue
        assert await history_of(client, s5) == {}  # cleared from the queue
        assert set((await client.get("/history")).json()) == {s1, s2, s4}

        response = await replay(client, "06_post_interrupt_idle")
        assert (response.status_code, response.content) == (200, b"")
        response = await replay(client, "06_post_history_delete", body={"delete": [s1]})
        assert (response.status_code, response.content) == (200, b"")
        assert await history_of(client, s1) == {}  # deleted from history
        response = await replay(client, "06_post_history_clear")
        assert (response.status_code, response.content) == (200, b"")
        assert (await client.get("/history")).json() == fixture_body("06_get_history_after_clear")
    terminal = [m["type"] for m in socket.messages if m["type"].startswith("execution_") and m["type"] not in
                ("execution_start", "execution_cached")]
    assert terminal == ["execution_interrupted"] * 3
    assert sum(1 for m in socket.messages if m["type"] == "progress") > 0


async def test_slow_blur_chain_runs_to_success_like_the_capture(comfyui_sim: RunningComfyUISim) -> None:
    async with http(comfyui_sim) as client:
        response = await replay(client, "06_post_prompt_slow_1")
        entry = await wait_history(client, response.json()["prompt_id"])
    assert shape(entry) == shape(entry_of(fixture_body("06_get_history_id_slow_success")))
    assert read_png_info((comfyui_sim.output_dir / entry["outputs"]["99"]["images"][0]["filename"]).read_bytes()
                         )[:2] == (1024, 1024)


# ----- /view -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["08_get_view_missing_file", "08_get_view_bad_type", "08_get_view_traversal",
                                  "08_get_view_no_filename"])
async def test_view_errors_are_empty(comfyui_sim: RunningComfyUISim, name: str) -> None:
    async with http(comfyui_sim) as client:
        response = await replay(client, name)
    assert response.status_code == meta(name)["response"]["status"]
    assert response.content == b"" and "content-type" not in response.headers


# ----- the seed's SD1.5 workflow, models, failures ---------------------------------------------------------------

async def test_seed_workflow_runs_with_the_default_models(comfyui_sim: RunningComfyUISim,
                                                          session: aiohttp.ClientSession) -> None:
    socket = await open_socket(session, comfyui_sim, "seed")
    async with http(comfyui_sim) as client:
        posted, messages = await run_job(client, socket, {"prompt": SEED_PROMPT, "client_id": "seed"})
        entry = entry_of(await history_of(client, posted["prompt_id"]))
        image = entry["outputs"]["9"]["images"][0]
        view = await client.get("/api/view", params={**image})
    assert [m["data"]["value"] for m in messages if m["type"] == "progress"] == list(range(1, 21))
    assert [event_key(m) for m in messages if m["type"] in ("executing", "executed")] == [
        "executing:4", "executing:5", "executing:7", "executing:6", "executing:3", "executing:8", "executing:9",
        "executed:9", "executing:None"]
    assert image == {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}
    assert view.status_code == 200 and view.headers["content-type"] == "image/png"
    assert read_png_info(view.content)[:2] == (512, 512)


async def test_missing_checkpoint_is_rejected_like_the_capture(comfyui_sim_factory: ComfyUISimFactory) -> None:
    sim = await comfyui_sim_factory(models=("other_model.safetensors",))
    async with http(sim) as client:
        response = await client.post("/prompt", json={"prompt": SEED_PROMPT})
    assert response.status_code == 400
    body = response.json()
    expected = fixture_body("02_post_prompt_sd15_missing_checkpoint")  # captured with no model installed
    error = body["node_errors"]["4"]["errors"][0]
    assert error["extra_info"]["input_config"][0] == ["other_model.safetensors"]
    error["extra_info"]["input_config"][0] = []
    error["details"], details = expected["node_errors"]["4"]["errors"][0]["details"], error["details"]
    assert body == expected
    assert error["type"] == "value_not_in_list"
    error["details"] = details
    assert error["details"] == "ckpt_name: '3dAnimationDiffusion_v10.safetensors' not in ['other_model.safetensors']"


async def fail_pattern(factory: ComfyUISimFactory, seed: int) -> list[str]:
    sim = await factory(fail_rate=0.5, seed=seed, step_seconds=0.001)
    pattern = []
    async with http(sim) as client:
        for number in range(8):
            prompt = json.loads(json.dumps(SEED_PROMPT))
            prompt["3"]["inputs"].update({"seed": number, "steps": 3})
            prompt["5"]["inputs"].update({"width": 64, "height": 64})
            response = await client.post("/prompt", json={"prompt": prompt})
            entry = await wait_history(client, response.json()["prompt_id"])
            pattern.append(entry["status"]["status_str"])
            if entry["status"]["status_str"] == "error":
                name, error = entry["status"]["messages"][-1]
                assert name == "execution_error"
                assert error["exception_type"] == "torch.OutOfMemoryError"
                assert error["exception_message"].startswith("CUDA out of memory. Tried to allocate 2.00 GiB")
                # "{exception}\n{tips}": for an OOM ComfyUI appends its advice after the newline
                assert "\nThis error means you ran out of memory on your GPU." in error["exception_message"]
                assert error["node_type"] == "KSampler"
                assert shape(error["traceback"]) == ["str"]  # a non-empty list of strings
                assert set(error["current_inputs"]) >= {"seed", "steps", "model", "latent_image"}
                assert entry["outputs"] == {}
    return pattern


async def test_fail_rate_is_deterministic_with_a_seed(comfyui_sim_factory: ComfyUISimFactory) -> None:
    first = await fail_pattern(comfyui_sim_factory, seed=2)
    second = await fail_pattern(comfyui_sim_factory, seed=2)
    other = await fail_pattern(comfyui_sim_factory, seed=5)
    assert first == second
    assert "error" in first and "success" in first  # seed 2 happens to draw both outcomes in 8 runs
    assert other != first


async def test_api_edition_file_names(comfyui_sim_factory: ComfyUISimFactory) -> None:
    sim = await comfyui_sim_factory(filename_style="api")
    status, _body, entry = await sim.emulator.run_prompt(SEED_PROMPT)
    assert status == 200 and entry is not None
    name = entry["outputs"]["9"]["images"][0]["filename"]
    uuid_pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(rf"ComfyUI_\d{{8}}_\d{{15}}_{uuid_pattern}_\.png", name)
    assert read_png_info((sim.output_dir / name).read_bytes())[:2] == (512, 512)


# ----- tokens, run_prompt, the seed's sample program ------------------------------------------------------------

async def test_token_guards_http_and_websocket(comfyui_sim_factory: ComfyUISimFactory,
                                               session: aiohttp.ClientSession) -> None:
    sim = await comfyui_sim_factory(token="s3cret")
    async with http(sim) as anonymous, http(sim, "wrong") as wrong, http(sim, "s3cret") as right:
        assert (await anonymous.get("/queue")).status_code == 401
        assert (await wrong.post("/prompt", json={"prompt": SEED_PROMPT})).status_code == 401
        assert (await right.get("/api/queue")).status_code == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(sim.ws_url("x"))
    assert refused.value.status == 401
    socket = await open_socket(session, sim, "x", headers={"Authorization": "s3cret"})
    assert socket.messages[0]["data"]["sid"] == "x"


async def test_run_prompt_reports_events_and_the_history_entry(comfyui_sim: RunningComfyUISim) -> None:
    events: list[dict[str, Any]] = []
    status, body, entry = await comfyui_sim.emulator.run_prompt(
        workflow("batch4_save_plus_preview.json"), prompt_id="eas-1", client_id="eas-worker",
        on_event=events.append)
    assert status == 200 and isinstance(body, dict) and body["prompt_id"] == "eas-1"
    assert entry is not None and entry["status"]["status_str"] == "success"
    assert shape(entry) == shape(entry_of(fixture_body("01b_get_history_id_batch_success")))
    assert [event_key(e) for e in events] == without_greeting("01b_ws_batch_job")[2:-2] + ["executing:None"]
    status, body, entry = await comfyui_sim.emulator.run_prompt({"1": {"class_type": "Nope", "inputs": {}}})
    assert status == 400 and entry is None and isinstance(body, dict) and body["error"]["type"] == "invalid_prompt"
    assert comfyui_sim.emulator.validate(SEED_PROMPT) == (200, {"node_errors": {}})


async def test_run_prompt_ends_with_no_entry_when_its_prompt_is_deleted_or_the_emulator_stops(
        comfyui_sim_factory: ComfyUISimFactory) -> None:
    sim = await comfyui_sim_factory(models=LONG_JOB_MODELS)
    emulator = sim.emulator
    busy = asyncio.create_task(emulator.run_prompt(long_sampler(0), prompt_id="busy"))
    waiting = asyncio.create_task(emulator.run_prompt(long_sampler(1), prompt_id="deleted"))
    stopped = asyncio.create_task(emulator.run_prompt(long_sampler(2), prompt_id="stopped"))
    async with http(sim) as client:
        async def all_queued() -> bool:
            queue = (await client.get("/queue")).json()
            return len(queue["queue_running"]) == 1 and len(queue["queue_pending"]) == 2

        await wait_until(all_queued, DEADLINE_SECONDS, "three queued prompts")
        await client.post("/queue", json={"delete": ["deleted"]})
        assert await asyncio.wait_for(waiting, DEADLINE_SECONDS) == (
            200, {"prompt_id": "deleted", "number": 1, "node_errors": {}}, None)
        await emulator.interrupt("busy")
        status, _body, entry = await asyncio.wait_for(busy, DEADLINE_SECONDS)
        assert status == 200 and entry is not None and entry["status"]["messages"][-1][0] == "execution_interrupted"
    await sim.stop()
    assert (await asyncio.wait_for(stopped, DEADLINE_SECONDS))[2] is None


# ----- network faults (for the clients' tests): a held answer, a dropped request --------------------------------

async def test_a_held_answer_comes_after_the_prompt_was_queued_and_is_the_real_one(
        comfyui_sim_factory: ComfyUISimFactory) -> None:
    sim = await comfyui_sim_factory(stall_prompt_response_seconds=60.0)
    body = request_body("01f_post_prompt_custom_prompt_id")  # own prompt_id, client_id and extra_data
    body["extra_data"]["comfyq_job_id"] = "job-1"
    async with http(sim) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/prompt", json=body, timeout=0.5)
        # The client gave up, yet the server took it: it runs, and /history keeps what the client sent.
        entry = await wait_history(client, body["prompt_id"])
        assert entry["prompt"][3] == {"note": "anything", "comfyq_job_id": "job-1", "client_id": "fixture-client-1"}
        del entry["prompt"][3]["comfyq_job_id"]  # the capture sent only the note
        assert shape(entry) == shape(entry_of(fixture_body("01f_get_history_custom_prompt_id")))
        # Only an accepted prompt is held: a validation failure is answered as usual.
        rejected = await replay(client, "03_post_prompt_unknown_class_type")
        assert rejected.status_code == 400
        assert rejected.json() == fixture_body("03_post_prompt_unknown_class_type")
        sim.emulator.stall_prompt_response_seconds = 0.05
        late = await replay(client, "01_post_prompt_valid")
        assert late.status_code == 200
        assert shape(late.json()) == shape(fixture_body("01_post_prompt_valid"))
        # The server going down while it holds an answer never sends it (a crash, not a late success).
        sim.emulator.stall_prompt_response_seconds = 60.0
        held = asyncio.create_task(replay(client, "01e_post_prompt_no_client_id"))

        async def three_taken() -> bool:
            queue = (await client.get("/queue")).json()
            return len(sim.emulator.history) + len(queue["queue_running"]) + len(queue["queue_pending"]) == 3

        await wait_until(three_taken, DEADLINE_SECONDS, "the third prompt to be taken")
        await sim.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            await asyncio.wait_for(held, DEADLINE_SECONDS)


async def test_a_dropped_request_is_closed_unanswered_and_nothing_is_queued(
        comfyui_sim_factory: ComfyUISimFactory) -> None:
    sim = await comfyui_sim_factory(drop_prompt_requests=1)
    async with http(sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await replay(client, "01_post_prompt_valid")
        assert (await client.get("/queue")).json() == fixture_body("00_get_queue_idle")
        assert (await client.get("/history")).json() == fixture_body("00_get_history_empty")
        answer = await replay(client, "01_post_prompt_valid")  # one request only: the next one is taken
    assert answer.status_code == 200
    assert answer.json()["number"] == 0  # the dropped body was never handed to the prompt handler


async def test_the_seeds_dedicated_sample_prints_the_image_file_names(comfyui_sim_factory: ComfyUISimFactory) -> None:
    sim = await comfyui_sim_factory(token="Yjha-test-token")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(DEDICATED_SAMPLE), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "SAMPLE_URL": f"{sim.base_url}/", "SAMPLE_TOKEN": "Yjha-test-token"})
    stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE_SECONDS)
    output = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    print(output)
    assert "get prompt id: " in output
    assert "節點號: 9, 圖⽚⽂件名: ComfyUI_00001_.png" in output
