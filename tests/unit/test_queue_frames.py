"""The sink watcher's own `DataFrameProto` decoder reads what the SDK's generated protobuf code reads."""

from __future__ import annotations

import warnings

import pytest

from tui.core.backends.queue_frames import FrameError, SinkFrame, decode_data_frame
from tui.sim.queue_proto import Frame, encode_frame

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from eas_prediction.queue_types.queueservice_pb2 import DataFrameProto

FRAMES = {
    "documented": Frame(index=42, tags={"task_id": "txt2img_0", "requestId": "4e03-e783"}, data=b'[{"9": {}}]'),
    "no index, no tags, no data": Frame(index=0),
    "big index": Frame(index=2**63 + 5, tags={"a": "b"}),
    "unicode tags": Frame(index=7, tags={"task_id": "odd-ünï-☃", "note": "n" * 5000}),
    "empty tag value": Frame(index=8, tags={"task_id": ""}),
    "binary data": Frame(index=9, data=bytes(range(256)) * 300),
    "message": Frame(index=10, message="client side error", data=b"x"),
}


def sdk(buffer: bytes) -> SinkFrame:
    frame = DataFrameProto()
    frame.ParseFromString(buffer)
    return SinkFrame(int(frame.index), dict(frame.tags), bytes(frame.data), str(frame.message))


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_reads_what_the_sdk_reads(name: str) -> None:
    buffer = encode_frame(FRAMES[name])
    assert decode_data_frame(buffer) == sdk(buffer)


def test_the_documented_wire_example() -> None:
    # protocols/eas-queue.md §1.1: index 42, tags {task_id: txt2img_0}, data [{"9": {}}]
    buffer = bytes.fromhex("082a12140a077461736b5f6964120974787432696d675f301a0b5b7b2239223a207b7d7d5d")
    assert decode_data_frame(buffer) == SinkFrame(42, {"task_id": "txt2img_0"}, b'[{"9": {}}]')


def test_unknown_fields_are_skipped_and_a_repeated_tag_keeps_the_last() -> None:
    frame = encode_frame(Frame(index=3, tags={"task_id": "first"}, data=b"d"))
    unknown = bytes([0x28, 0x96, 0x01])  # field 5, varint 150
    unknown += bytes([0x31]) + b"\x00" * 8  # field 6, fixed64
    unknown += bytes([0x3A, 0x02]) + b"zz"  # field 7, length-delimited
    unknown += bytes([0x45]) + b"\x00" * 4  # field 8, fixed32
    again = encode_frame(Frame(index=0, tags={"task_id": "second"}))
    buffer = frame + unknown + again
    assert decode_data_frame(buffer) == sdk(buffer) == SinkFrame(3, {"task_id": "second"}, b"d")


def test_text_that_is_not_utf8_is_kept_readable() -> None:
    # The SDK refuses such a frame (its result could then never be stored); ours keeps it, marked.
    entry = b"\x0a\x07task_id\x12\x03\xff\xfeA"
    buffer = b"\x08\x01" + b"\x12" + bytes([len(entry)]) + entry
    assert decode_data_frame(buffer).tags == {"task_id": "\ufffd\ufffdA"}


@pytest.mark.parametrize(
    "buffer",
    [
        b"\x08",  # varint cut short
        b"\x1a\x05abc",  # data longer than what is left
        b"\x12\x05\x0a\x09task_id",  # a tag entry longer than its field
        b"\x0b",  # wire type 3 (groups): not in this schema
        b"\x00\x01",  # field number 0
        b"\x08" + b"\xff" * 11,  # a varint beyond 64 bits
    ],
)
def test_bytes_that_are_not_a_frame_are_refused(buffer: bytes) -> None:
    with pytest.raises(FrameError):
        decode_data_frame(buffer)
