"""Wire encoding of the EAS queue service's data frames: protobuf (hand-encoded) and the JSON form.

The schema (protocols/eas-queue.md §1.1) is tiny, so it is encoded by hand instead of importing the SDK's
generated `_pb2` (which needs protobuf <= 3.20): a varint `index` (1), `map<string,string> tags` (2, entries with
key = 1 and value = 2), `bytes data` (3), `string message` (4); a list wraps frames in repeated field 1; attributes are a map in field 1.
The integration tests decode our bytes with the SDK's own `_pb2`, which keeps this honest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PROTOBUF_CONTENT_TYPE = "application/vnd.google.protobuf"

_WIRE_VARINT = 0
_WIRE_LENGTH_DELIMITED = 2


@dataclass(frozen=True)
class Frame:
    """One queue item as it travels on the wire."""

    index: int
    tags: Mapping[str, str] = field(default_factory=dict)
    data: bytes = b""
    message: str = ""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field_number: int, wire_type: int) -> bytes:
    return _varint((field_number << 3) | wire_type)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _key(field_number, _WIRE_LENGTH_DELIMITED) + _varint(len(payload)) + payload


_INDEX_KEY = _key(1, _WIRE_VARINT)
_TAG_KEY = _key(2, _WIRE_LENGTH_DELIMITED)
_DATA_KEY = _key(3, _WIRE_LENGTH_DELIMITED)
_MESSAGE_KEY = _key(4, _WIRE_LENGTH_DELIMITED)
_ENTRY_KEY = _key(1, _WIRE_LENGTH_DELIMITED)
_ENTRY_VALUE = _key(2, _WIRE_LENGTH_DELIMITED)
_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]


def _length(value: int) -> bytes:
    return _SMALL_VARINTS[value] if value < 0x80 else _varint(value)


def encode_frame(frame: Frame) -> bytes:
    """Serialize a `DataFrameProto` (proto3: default values are omitted). Written for speed: the emulator frames
    every item it pushes, in the same process as the client it serves."""
    parts: list[bytes] = []
    if frame.index:
        parts.append(_INDEX_KEY + _varint(frame.index))
    for name, value in frame.tags.items():
        key = name.encode()
        text = value.encode()
        entry = b"".join((_ENTRY_KEY, _length(len(key)), key, _ENTRY_VALUE, _length(len(text)), text))
        parts.append(_TAG_KEY + _length(len(entry)) + entry)
    if frame.data:
        parts.append(_DATA_KEY + _length(len(frame.data)))
        parts.append(frame.data)
    if frame.message:
        message = frame.message.encode()
        parts.append(_MESSAGE_KEY + _length(len(message)) + message)
    return b"".join(parts)


def encode_frame_list(frames: Iterable[Frame]) -> bytes:
    """Serialize a `DataFrameListProto`; an empty list is zero bytes."""
    return b"".join(_length_delimited(1, encode_frame(frame)) for frame in frames)


def encode_attributes(attributes: Mapping[str, str]) -> bytes:
    """Serialize an `AttributesProto` (`map<string,string> attributes = 1`), what the Go SDK asks for."""
    return b"".join(
        _length_delimited(1, _length_delimited(1, key.encode()) + _length_delimited(2, value.encode()))
        for key, value in attributes.items()
    )


def frame_to_json(frame: Frame) -> dict[str, object]:
    """The JSON shape of a frame (GO SDK codec): data is standard base64, message omitted when empty."""
    out: dict[str, object] = {"index": frame.index, "tags": dict(frame.tags)}
    if frame.message:
        out["message"] = frame.message
    out["data"] = base64.b64encode(frame.data).decode("ascii")
    return out


def _read_varint(buffer: bytes, position: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(buffer: bytes) -> Iterable[tuple[int, int | bytes]]:
    position = 0
    while position < len(buffer):
        key, position = _read_varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _WIRE_VARINT:
            value, position = _read_varint(buffer, position)
            yield number, value
        elif wire_type == _WIRE_LENGTH_DELIMITED:
            length, position = _read_varint(buffer, position)
            yield number, buffer[position : position + length]
            position += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")


def decode_frame(buffer: bytes) -> Frame:
    """Parse a `DataFrameProto` (used by our own tests and tools; the SDK has its own decoder)."""
    index = 0
    tags: dict[str, str] = {}
    data = b""
    message = ""
    for number, value in _fields(buffer):
        if number == 1 and isinstance(value, int):
            index = value
        elif number == 2 and isinstance(value, bytes):
            entry = dict(_fields(value))
            key = entry.get(1, b"")
            tag_value = entry.get(2, b"")
            tags[bytes(key).decode()] = bytes(tag_value).decode()
        elif number == 3 and isinstance(value, bytes):
            data = bytes(value)
        elif number == 4 and isinstance(value, bytes):
            message = bytes(value).decode()
    return Frame(index=index, tags=tags, data=data, message=message)


def decode_frame_list(buffer: bytes) -> list[Frame]:
    return [decode_frame(bytes(value)) for number, value in _fields(buffer) if number == 1 and isinstance(value, bytes)]
