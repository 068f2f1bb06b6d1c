"""The EAS queue emulator driven by the real clients over loopback: eas_prediction.QueueClient, websocket-client
(the SDK's own websocket library, used directly where a test needs a receive timeout) and httpx."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket
from eas_prediction import QueueClient
from eas_prediction.queue_types.queueservice_pb2 import AttributesProto, DataFrameListProto, DataFrameProto

from tui.sim.queue_proto import Frame, decode_frame, decode_frame_list, encode_frame, encode_frame_list
from tui.sim.server import SimServer, SimThread

from tests.waiting import wait_until_sync

REPO = Path(__file__).resolve().parents[2]
SEED_SAMPLE = Path(__file__).with_name("seed_samples") / "api_sample.py"
PROTOBUF = "application/vnd.google.protobuf"

# The seed's SD1.5 txt2img workflow (shared/seed), with steps kept small so the emulated run is quick.
SEED_WORKFLOW: dict[str, Any] = {
    "3": {"inputs": {"seed": 156680208700286, "steps": 4, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
                     "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                     "latent_image": ["5", 0]}, "class_type": "KSampler"},
    "4": {"inputs": {"ckpt_name": "3dAnimationDiffusion_v10.safetensors"}, "class_type": "CheckpointLoaderSimple"},
    "5": {"inputs": {"width": 64, "height": 64, "batch_size": 1}, "class_type": "EmptyLatentImage"},
    "6": {"inputs": {"text": "beautiful scenery nature glass bottle landscape", "clip": ["4", 1]},
          "class_type": "CLIPTextEncode"},
    "7": {"inputs": {"text": "text, watermark", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
}
API_FILENAME = re.compile(r"^ComfyUI_\d{8}_\d+_[0-9a-f-]{36}_\.png$")


def workflow(*, seed: int = 1, steps: int = 4, batch_size: int = 1, ckpt: str | None = None) -> dict[str, Any]:
    graph = json.loads(json.dumps(SEED_WORKFLOW))
    graph["3"]["inputs"].update(seed=seed, steps=steps)
    graph["5"]["inputs"]["batch_size"] = batch_size
    if ckpt is not None:
        graph["4"]["inputs"]["ckpt_name"] = ckpt
    return graph


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., SimServer]]:
    threads: list[SimThread] = []

    def start(**kwargs: Any) -> SimServer:
        options = {"port": 0, "step_seconds": 0.001, "output_dir": tmp_path / "output", **kwargs}
        thread = SimThread(**options)
        threads.append(thread)
        return thread.start()

    yield start
    for thread in threads:
        thread.stop()


@pytest.fixture
def sim(start_sim: Callable[..., SimServer]) -> SimServer:
    return start_sim()


def queue_client(server: SimServer, name: str, *, uid: str | None = None, gid: str = "eas", token: str = "") -> QueueClient:
    client = QueueClient(server.endpoint, name)
    client.set_token(token)
    client.init(uid=uid, gid=gid)
    return client


class RawWatcher:
    """A watch socket opened the way the SDK opens it (its URL and identity headers), read with a timeout.

    The SDK's own `Watcher.run()` blocks in `recv()` forever and cannot be stopped from outside; tests need to stop.
    """

    def __init__(self, client: QueueClient, *, window: int = 5, auto_commit: bool = False, index: int = 0,
                 index_only: bool = False, tags: dict[str, str] | None = None) -> None:
        query: dict[str, object] = {"_watch_": "true", "_index_": index, "_window_": window,
                                    "_index_only_": str(index_only).lower(), "_auto_commit_": str(auto_commit).lower()}
        query.update(tags or {})
        headers = client._with_identity()
        headers["Accept"] = PROTOBUF
        self.socket = websocket.create_connection(client._build_url(query, websocket=True), header=headers, timeout=10)

    def next(self) -> DataFrameProto:
        opcode, payload = self.socket.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY, f"expected a binary frame, got opcode {opcode}"
        frame = DataFrameProto()
        frame.ParseFromString(payload)
        return frame

    def take(self, count: int) -> list[DataFrameProto]:
        return [self.next() for _ in range(count)]

    def close(self) -> None:
        self.socket.shutdown()  # like the SDK's close(): no close frame, the server just sees the socket go


def consumer_total(client: QueueClient) -> int:
    return int(client.attributes().get("consumers.status.total", "0"))


# ----- protobuf codec -----


def test_hand_encoded_frames_match_the_sdk_protobuf_classes() -> None:
    frame = Frame(index=42, tags={"task_id": "txt2img_0"}, data=b'[{"9": {}}]')
    # The wire example of protocols/eas-queue.md §1.1.
    assert encode_frame(frame).hex() == "082a12140a077461736b5f6964120974787432696d675f301a0b5b7b2239223a207b7d7d5d"
    parsed = DataFrameListProto()
    parsed.ParseFromString(encode_frame_list([frame, Frame(index=300, tags={"a": "é"}, data=b"\x00\x01")]))
    assert [(f.index, dict(f.tags), f.data) for f in parsed.index] == [
        (42, {"task_id": "txt2img_0"}, b'[{"9": {}}]'),
        (300, {"a": "é"}, b"\x00\x01"),
    ]
    assert encode_frame_list([]) == b""
    assert decode_frame(parsed.index[1].SerializeToString()) == Frame(index=300, tags={"a": "é"}, data=b"\x00\x01")
    assert decode_frame_list(parsed.SerializeToString())[0] == frame


# ----- put / get / delete / commit / truncate -----


def test_put_answers_a_bare_index_and_a_request_id_and_stores_query_params_as_tags(sim: SimServer) -> None:
    response = httpx.post(f"{sim.base_url}/api/predict/svc.a/sink?task_id=a+b%26c&_priority_=0", content=b"\x00\x01")
    assert response.status_code == 200
    assert response.content == b"1"  # indexes start at 1, no newline
    request_id = response.headers["X-Eas-Queueservice-Request-Id"]
    client = queue_client(sim, "svc.a/sink")
    index, sdk_request_id = client.put("second", tags={"k": "v"})
    assert index == "2" and sdk_request_id != request_id
    [item] = client.get(index=1, auto_delete=False)
    assert (item.index, item.data, dict(item.tags)) == (1, b"\x00\x01", {"task_id": "a b&c", "requestId": request_id})
    # The input queue of the same service has its own counter.
    assert queue_client(sim, "svc.a").put("x")[0] == "1"


def test_get_by_request_id_by_index_and_empty_answers(sim: SimServer) -> None:
    client = queue_client(sim, "q1")
    _, first_id = client.put("one")
    index, _ = client.put("two")
    assert [x.data for x in client.get(request_id=first_id, auto_delete=False)] == [b"one"]
    assert [x.data for x in client.get(index=int(index), auto_delete=False)] == [b"two"]
    assert [x.data for x in client.get(length=5, auto_delete=False)] == [b"one", b"two"]
    assert client.get(index=999, timeout="0s") == []  # 204 → []
    raw = httpx.get(f"{sim.base_url}/api/predict/q1?_index_=999&_timeout_=0s")
    assert (raw.status_code, raw.content) == (204, b"")
    # _auto_delete_ defaults to true in the SDK: a get removes what it returns.
    assert [x.data for x in client.get(length=1)] == [b"one"]
    assert client.attributes()["stream.length"] == "1"


def test_get_answers_json_without_the_protobuf_accept_header(sim: SimServer) -> None:
    client = queue_client(sim, "q2/sink")
    _, request_id = client.put(b"\xffdata", tags={"task_id": "t"})
    url = f"{sim.base_url}/api/predict/q2/sink?requestId={request_id}&_raw_=false&_auto_delete_=false"
    as_json = httpx.get(url)
    assert as_json.headers["Content-Type"].startswith("application/json")
    [frame] = as_json.json()
    assert frame == {"index": 1, "tags": {"task_id": "t", "requestId": request_id},
                     "data": base64.b64encode(b"\xffdata").decode()}
    as_protobuf = httpx.get(url, headers={"Accept": PROTOBUF})
    parsed = DataFrameListProto()
    parsed.ParseFromString(as_protobuf.content)
    assert [(f.index, f.data) for f in parsed.index] == [(1, b"\xffdata")]


def test_long_poll_get_returns_an_item_put_while_it_waits(sim: SimServer) -> None:
    client = queue_client(sim, "poll")
    results: list[list[Any]] = []
    getter = threading.Thread(target=lambda: results.append(client.get(timeout="4s")))
    getter.start()
    queue_client(sim, "poll").put("late")
    getter.join()
    assert [x.data for x in results[0]] == [b"late"]


def test_long_poll_answers_empty_before_the_sdk_read_timeout(sim: SimServer) -> None:
    # The SDK's read timeout is 5 s; a server that holds a get longer makes it retry 6 times and raise 502.
    assert queue_client(sim, "slow").get(timeout="30s") == []


def test_commit_and_delete_are_synchronous_and_ok_for_unknown_indexes(sim: SimServer) -> None:
    client = queue_client(sim, "c")
    indexes = [int(client.put(str(n))[0]) for n in range(4)]
    assert client.commit(indexes[:2]) == b"OK"
    assert client.attributes()["stream.length"] == "2"
    assert client.delete(indexes[2]) == "OK"
    assert client.commit([indexes[0], 12345]) == b"OK"  # already committed / unknown: still OK
    assert client.delete(999) == "OK"
    attributes = client.attributes()
    assert attributes["stream.length"] == "1" and attributes["stream.firstEntry"] == str(indexes[3])


def test_truncate_deletes_only_smaller_indexes(sim: SimServer) -> None:
    client = queue_client(sim, "t")
    indexes = [int(client.put(str(n))[0]) for n in range(5)]
    assert client.truncate(indexes[3]) == b"OK"
    attributes = client.attributes()
    assert (attributes["stream.length"], attributes["stream.firstEntry"], attributes["stream.lastEntry"]) == (
        "2", str(indexes[3]), str(indexes[4]))
    client.truncate(int(attributes["stream.lastEntry"]) + 1)
    assert client.attributes()["stream.length"] == "0"


def test_attributes_are_strings_and_entries_only_when_not_empty(sim: SimServer) -> None:
    client = queue_client(sim, "attrs/sink", uid="me")
    empty = client.attributes()
    assert all(isinstance(value, str) for value in empty.values())
    assert empty["meta.name"] == "attrs/sink" and empty["stream.length"] == "0"
    assert "stream.firstEntry" not in empty and "stream.lastEntry" not in empty
    for key in ("meta.maxPayloadBytes", "meta.backend", "meta.state", "meta.header.user", "meta.header.group",
                "meta.header.priority", "stream.approxMaxLength", "consumers.status.total"):
        assert key in empty, key
    client.put("x")
    watcher = RawWatcher(client, window=3)
    try:
        watcher.next()
        wait_until_sync(lambda: consumer_total(client) == 1, what="the consumer to register")
        line = client.attributes()["consumers.list.[0]"]
        assert line.startswith("Id: eas.me, Index: 1, Pending: 1, Status: Running, Idle: ")
        assert line.endswith("Window: 3, Slots: 2, AutoCommit: false")
    finally:
        watcher.close()


def test_attributes_in_protobuf_when_asked_like_the_go_sdk(sim: SimServer) -> None:
    queue_client(sim, "ap").put("x")
    response = httpx.get(f"{sim.base_url}/api/predict/ap?_attrs_=true", headers={"Accept": PROTOBUF})
    parsed = AttributesProto()
    parsed.ParseFromString(response.content)
    assert dict(parsed.attributes) == queue_client(sim, "ap").attributes()


def test_search_reports_pending_waiting_and_missing_items(sim: SimServer) -> None:
    client = queue_client(sim, "s", uid="searcher")
    indexes = [int(client.put(str(n))[0]) for n in range(4)]
    holder = RawWatcher(queue_client(sim, "s", uid="holder"), window=1)
    try:
        assert holder.next().index == indexes[0]
        assert client.search(indexes[0]) == {"ConsumerId": "eas.holder", "IsPending": True, "WaitCount": 0}
        assert client.search(indexes[1]) == {"ConsumerId": "eas.searcher", "IsPending": False, "WaitCount": 0}
        assert client.search(indexes[3])["WaitCount"] == 2
        missing = httpx.get(f"{sim.base_url}/api/predict/s?_search_=true&_index_=999")
        assert (missing.status_code, missing.text) == (404, "no data in stream")
        assert client.search(999) == {}  # the SDK swallows the 404
    finally:
        holder.close()


def test_count_with_and_without_tag_filters(sim: SimServer) -> None:
    client = queue_client(sim, "n")
    client.put("a", tags={"kind": "x"})
    client.put("b", tags={"kind": "y"})
    client.put("c", tags={"kind": "x"})
    assert httpx.get(f"{sim.base_url}/api/predict/n?_count_=true").text == "3"
    assert httpx.get(f"{sim.base_url}/api/predict/n?_count_=true&kind=x").text == "2"


# ----- watch -----


def test_watch_pushes_binary_frames_in_order_and_honours_the_window(sim: SimServer) -> None:
    client = queue_client(sim, "w/sink", uid="u1")
    indexes = [int(client.put(str(n))[0]) for n in range(3)]
    watcher = RawWatcher(client, window=2)
    try:
        first, second = watcher.take(2)
        assert [(first.index, first.data), (second.index, second.data)] == [(indexes[0], b"0"), (indexes[1], b"1")]
        # The window is full: the third item is still waiting, not pushed.
        assert client.search(indexes[2])["IsPending"] is False
        assert "Pending: 2" in client.attributes()["consumers.list.[0]"]
        client.commit(first.index)
        third = watcher.next()
        assert (third.index, third.data) == (indexes[2], b"2")
        # New puts reach a live watcher without any other request.
        client.commit([second.index, third.index])
        index, request_id = client.put("live", tags={"task_id": "t9"})
        live = watcher.next()
        assert (live.index, live.data, dict(live.tags)) == (int(index), b"live", {"task_id": "t9", "requestId": request_id})
    finally:
        watcher.close()


def test_watch_with_auto_commit_deletes_on_send_and_ignores_the_window(sim: SimServer) -> None:
    client = queue_client(sim, "ac")
    for n in range(6):
        client.put(str(n))
    watcher = RawWatcher(client, window=2, auto_commit=True)
    try:
        assert [frame.data for frame in watcher.take(6)] == [str(n).encode() for n in range(6)]
        assert client.attributes()["stream.length"] == "0"
    finally:
        watcher.close()


def test_watch_index_only_start_index_and_tag_filters(sim: SimServer) -> None:
    client = queue_client(sim, "f")
    for n in range(4):
        client.put(f"data{n}", tags={"task_id": "even" if n % 2 == 0 else "odd"})
    only_odd = RawWatcher(queue_client(sim, "f", gid="odd"), tags={"task_id": "odd"}, index_only=True)
    from_third = RawWatcher(queue_client(sim, "f", gid="late"), index=3)
    try:
        odd = only_odd.take(2)
        assert [(f.index, f.data, f.tags["task_id"]) for f in odd] == [(2, b"", "odd"), (4, b"", "odd")]
        assert [f.index for f in from_third.take(2)] == [3, 4]
    finally:
        only_odd.close()
        from_third.close()


def test_priority_items_are_delivered_first(sim: SimServer) -> None:
    client = queue_client(sim, "p")
    client.put("normal-1")
    client.put("normal-2")
    client.put("urgent", tags={"_priority_": "1"})
    assert [x.data for x in client.get(length=3, auto_delete=False)] == [b"urgent", b"normal-1", b"normal-2"]
    watcher = RawWatcher(client, window=5)
    try:
        assert [f.data for f in watcher.take(3)] == [b"urgent", b"normal-1", b"normal-2"]
    finally:
        watcher.close()


def test_priority_can_come_in_the_header_named_by_the_attributes(sim: SimServer) -> None:
    client = queue_client(sim, "ph")
    client.put("normal")
    header = client.attributes()["meta.header.priority"]
    httpx.post(f"{sim.base_url}/api/predict/ph", content=b"urgent", headers={header: "5"})
    assert [x.data for x in client.get(length=2, auto_delete=False)] == [b"urgent", b"normal"]


def test_consumer_groups_balance_within_a_group_and_copy_across_groups(sim: SimServer) -> None:
    client = queue_client(sim, "g")
    a = RawWatcher(queue_client(sim, "g", gid="g1", uid="a"), window=10)
    b = RawWatcher(queue_client(sim, "g", gid="g1", uid="b"), window=10)
    c = RawWatcher(queue_client(sim, "g", gid="g2", uid="c"), window=10)
    try:
        wait_until_sync(lambda: consumer_total(client) == 3, what="three consumers")
        indexes = {int(client.put(str(n))[0]) for n in range(6)}
        got_a = {f.index for f in a.take(3)}
        got_b = {f.index for f in b.take(3)}
        assert got_a.isdisjoint(got_b) and got_a | got_b == indexes
        assert {f.index for f in c.take(6)} == indexes
    finally:
        for watcher in (a, b, c):
            watcher.close()


def test_uncommitted_items_are_redelivered_to_the_same_uid_on_reconnect(sim: SimServer) -> None:
    client = queue_client(sim, "r", uid="worker")
    indexes = [int(client.put(str(n))[0]) for n in range(3)]
    first = RawWatcher(client, window=5)
    got = [f.index for f in first.take(3)]
    first.close()
    second = RawWatcher(client, window=5)  # the SDK reconnects with the same URL and identity
    try:
        assert sorted(f.index for f in second.take(3)) == sorted(got) == indexes
        client.commit(indexes)
        assert client.attributes()["stream.length"] == "0"
    finally:
        second.close()


def test_a_departed_consumers_items_go_to_another_consumer_of_the_group(sim: SimServer) -> None:
    client = queue_client(sim, "r2")
    leaver = RawWatcher(queue_client(sim, "r2", uid="leaver"), window=2)
    index_1 = int(client.put("one")[0])
    index_2 = int(client.put("two")[0])
    assert [f.index for f in leaver.take(2)] == [index_1, index_2]
    stayer = RawWatcher(queue_client(sim, "r2", uid="stayer"), window=5)
    try:
        wait_until_sync(lambda: consumer_total(client) == 2, what="both consumers")
        leaver.close()
        assert sorted(f.index for f in stayer.take(2)) == [index_1, index_2]
    finally:
        stayer.close()


def test_the_sdk_watcher_receives_and_commits(sim: SimServer) -> None:
    client = queue_client(sim, "sdk/sink")
    for n in range(3):
        client.put(str(n), tags={"task_id": f"t{n}"})
    watcher = client.watch(0, 2, auto_commit=False)
    seen = []
    for frame in watcher.run():
        seen.append((frame.tags["task_id"], frame.data))
        client.commit(frame.index)
        if len(seen) == 3:
            break
    watcher.close()
    assert seen == [("t0", b"0"), ("t1", b"1"), ("t2", b"2")]
    assert client.attributes()["stream.length"] == "0"


def test_restart_keeps_queues_and_redelivers_to_a_reconnecting_watcher(tmp_path: Path) -> None:
    thread = SimThread(port=0, step_seconds=0.001, output_dir=tmp_path)
    server = thread.start()
    try:
        client = queue_client(server, "rs/sink", uid="u")
        first = int(client.put("a")[0])
        watcher = RawWatcher(client, window=5)
        assert watcher.next().index == first
        port = server.port
        thread.restart()
        assert server.port == port
        with pytest.raises((websocket.WebSocketException, OSError)):
            watcher.next()  # the connection was dropped
        again = RawWatcher(client, window=5)
        try:
            assert again.next().index == first  # never committed: delivered again
            assert client.put("b")[0] == str(first + 1)
        finally:
            again.close()
    finally:
        thread.stop()


# ----- tokens -----


def test_a_token_is_required_on_every_request_and_websocket_handshake(start_sim: Callable[..., SimServer]) -> None:
    server = start_sim(token="s3cret")
    wrong = httpx.post(f"{server.api_input_url}/api_prompt?task_id=x", json={}, headers={"Authorization": "nope"})
    assert (wrong.status_code, wrong.text) == (401, "unauthorized")
    assert httpx.get(f"{server.base_url}/api/predict/x?_attrs_=true").status_code == 401
    assert httpx.get(f"{server.dedicated_url}/queue").status_code == 401
    assert httpx.get(f"{server.dedicated_url}/queue", headers={"Authorization": "s3cret"}).status_code == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        RawWatcher(queue_client(server, "x/sink", token="nope"))
    assert refused.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(f"ws://{server.endpoint}/ws?clientId=c", timeout=5)
    good = queue_client(server, "x/sink", token="s3cret")
    good.put("ok")
    watcher = RawWatcher(good)
    try:
        assert watcher.next().data == b"ok"
    finally:
        watcher.close()


def test_without_a_token_any_authorization_is_accepted(sim: SimServer) -> None:
    for token in ("", "anything"):
        assert queue_client(sim, "open", token=token).put("x")[0].isdigit()


# ----- the ComfyUI API edition: api_prompt → workers → sink -----


def sink_results(server: SimServer, count: int, *, service: str | None = None) -> list[DataFrameProto]:
    """Read `count` results off the sink and commit them, as a consumer does."""
    client = queue_client(server, f"{service or server.service}/sink")
    watcher = RawWatcher(client, window=count)
    try:
        results = watcher.take(count)
    finally:
        watcher.close()
    client.commit([result.index for result in results])
    return results


def post_prompt(server: SimServer, graph: object, task_id: str, **params: str) -> httpx.Response:
    return httpx.post(f"{server.api_input_url}/api_prompt", params={"task_id": task_id, **params}, json=graph,
                      timeout=10)


def test_api_prompt_success_writes_executed_events_and_outputs_with_the_input_tags(sim: SimServer) -> None:
    response = post_prompt(sim, workflow(), "txt2img_0", user="alice")
    assert response.status_code == 200 and response.text.isdigit()
    request_id = response.headers["X-Eas-Queueservice-Request-Id"]
    [result] = sink_results(sim, 1)
    assert dict(result.tags) == {"task_id": "txt2img_0", "requestId": request_id, "user": "alice"}
    events = json.loads(result.data)
    *executed, outputs = events
    assert [e["type"] for e in executed] == ["executed"] and executed[0]["data"]["node"] == "9"
    assert set(executed[0]["data"]) == {"node", "output", "prompt_id"}
    assert executed[0]["data"]["output"] == outputs["9"]
    [image] = outputs["9"]["images"]
    assert image["type"] == "output" and image["subfolder"] == ""
    assert API_FILENAME.match(image["filename"]), image["filename"]
    assert (sim.output_dir / image["filename"]).is_file()
    # The input item was committed once the result was on the sink.
    wait_until_sync(lambda: queue_client(sim, sim.service).attributes()["stream.length"] == "0", what="input commit")


def test_api_prompt_batch_gives_one_file_per_image(sim: SimServer) -> None:
    post_prompt(sim, workflow(batch_size=3, seed=7), "batch")
    [result] = sink_results(sim, 1)
    outputs = json.loads(result.data)[-1]
    names = [image["filename"] for image in outputs["9"]["images"]]
    assert len(names) == 3 and len(set(names)) == 3
    assert all((sim.output_dir / name).is_file() for name in names)


def test_an_identical_resubmission_on_the_same_instance_is_reported_cached(start_sim: Callable[..., SimServer]) -> None:
    server = start_sim(instances=1)  # ComfyUI's cache is per instance
    post_prompt(server, workflow(seed=11), "first")
    [first] = sink_results(server, 1)
    post_prompt(server, workflow(seed=11), "again")
    [again] = sink_results(server, 1)
    first_events = json.loads(first.data)
    cached = json.loads(again.data)
    assert again.tags["task_id"] == "again"
    assert len(cached) == 1 and "type" not in cached[0]  # only the outputs object, no prompt_id
    assert cached[0] == first_events[-1]


def test_api_prompt_validation_failure_puts_the_comfyui_400_body_with_last_code(sim: SimServer) -> None:
    post_prompt(sim, workflow(ckpt="missing.safetensors"), "bad")
    [result] = sink_results(sim, 1)
    assert result.tags["lastCode"] == "400" and result.tags["task_id"] == "bad"
    body = json.loads(result.data)
    assert set(body) == {"error", "node_errors"}
    assert body["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"


def test_a_body_that_is_not_a_workflow_gets_comfyuis_500(sim: SimServer) -> None:
    httpx.post(f"{sim.api_input_url}/api_prompt?task_id=junk", content=b"not json")
    [result] = sink_results(sim, 1)
    assert result.tags["lastCode"] == "500" and result.data.startswith(b"500 Internal Server Error")


def test_api_prompt_execution_failure_puts_an_execution_error_event(start_sim: Callable[..., SimServer]) -> None:
    server = start_sim(fail_rate=1.0, seed=3)
    post_prompt(server, workflow(), "doomed")
    [result] = sink_results(server, 1)
    assert result.tags["lastCode"] == "500" and result.tags["task_id"] == "doomed"
    [event] = json.loads(result.data)
    assert event["type"] == "execution_error"
    assert event["data"]["node_type"] == "KSampler" and event["data"]["exception_message"]


def test_input_search_shows_the_item_being_processed_and_the_waiting_ones(start_sim: Callable[..., SimServer]) -> None:
    server = start_sim(instances=1, step_seconds=1.0)  # slow enough that nothing finishes during the test
    indexes = [int(post_prompt(server, workflow(seed=n, steps=50), f"q{n}").text) for n in range(3)]
    client = queue_client(server, server.service)
    wait_until_sync(lambda: client.search(indexes[0]).get("IsPending") is True, what="the worker to take the first job")
    assert client.search(indexes[0])["ConsumerId"].startswith("eas.")
    assert client.search(indexes[2]) == {"ConsumerId": f"eas.{client.uid}", "IsPending": False, "WaitCount": 1}


def test_api_prompt_to_another_service_starts_workers_for_it(sim: SimServer) -> None:
    response = httpx.post(f"{sim.base_url}/api/predict/other.svc/api_prompt?task_id=o1", json=workflow(seed=5))
    assert response.status_code == 200
    [result] = sink_results(sim, 1, service="other.svc")
    assert result.tags["task_id"] == "o1" and "lastCode" not in result.tags


def test_workers_can_run_jobs_on_a_separate_comfyui_over_http(start_sim: Callable[..., SimServer]) -> None:
    comfyui = start_sim(service="unused")  # its dedicated-edition ComfyUI plays the "real" one
    server = start_sim(comfyui_url=comfyui.dedicated_url)
    post_prompt(server, workflow(seed=21), "remote")
    post_prompt(server, workflow(ckpt="missing.safetensors"), "remote-bad")
    results = {r.tags["task_id"]: r for r in sink_results(server, 2)}
    *executed, outputs = json.loads(results["remote"].data)
    prompt_id = executed[0]["data"]["prompt_id"]
    assert prompt_id in comfyui.comfyui.history  # it ran over there
    assert outputs["9"]["images"][0]["filename"].startswith("ComfyUI_")
    assert results["remote-bad"].tags["lastCode"] == "400"
    assert json.loads(results["remote-bad"].data)["node_errors"]["4"]["errors"][0]["type"] == "value_not_in_list"


def test_the_config_snippet_loads_as_two_profiles_pointing_here(start_sim: Callable[..., SimServer]) -> None:
    from tui.core.config import parse_config_text
    from tui.core.jobs import Edition

    server = start_sim(token="tok", service="my.svc")
    config = parse_config_text(server.config_snippet(), "snippet.toml", env={})
    api = config.profile("sim-api")
    assert (api.edition, api.service, api.endpoint, api.token) == (Edition.API, "my.svc", server.endpoint, "tok")
    assert api.input_url == server.api_input_url
    dedicated = config.profile("sim-dedicated")
    assert (dedicated.edition, dedicated.url.rstrip("/"), dedicated.token) == (Edition.DEDICATED, server.dedicated_url, "tok")
    assert "token" not in start_sim().config_snippet()  # no token, no token line


# ----- whole programs -----


def _read_until(process: subprocess.Popen[str], marker: Callable[[list[str]], bool], *, timeout: float) -> list[str]:
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if marker(lines):
                done.set()
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    return lines


def test_the_seed_api_sample_runs_against_the_emulator(start_sim: Callable[..., SimServer]) -> None:
    server = start_sim(token="Yjha-sample-token")
    env = {**os.environ, "SAMPLE_INPUT_URL": server.api_input_url, "SAMPLE_TOKEN": "Yjha-sample-token",
           "SAMPLE_ENDPOINT": server.endpoint, "SAMPLE_SERVICE_NAME": f"{server.service}/sink",
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(SEED_SAMPLE)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        # The sample watches forever (as in the seed); stop it once the result is printed.
        lines = _read_until(process, lambda seen: any(" data is " in line for line in seen), timeout=60)
    finally:
        process.kill()
        process.wait()
    output = "".join(lines)
    assert re.search(r"send 0 success, index is b'\d+'", output), output
    assert re.search(r"index \d+ task_id is txt2img_test", output), output
    data_line = next(line for line in lines if " data is " in line)
    assert "ComfyUI_" in data_line and '"executed"' in data_line, data_line


def test_comfyq_sim_prints_its_url_and_snippet_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "sim", "--port", "0", "--token", "tok", "--output-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        lines = _read_until(process, lambda seen: "Press Ctrl+C" in seen[-1], timeout=30)
        output = "".join(lines)
        match = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", output)
        assert match, output
        base_url = match.group(1)
        assert f'input_url = "{base_url}/api/predict/comfyui-api"' in output
        assert "[profiles.sim-api]" in output and "[profiles.sim-dedicated]" in output
        assert httpx.get(f"{base_url}/queue", headers={"Authorization": "tok"}).status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "Traceback" not in stderr, stderr
