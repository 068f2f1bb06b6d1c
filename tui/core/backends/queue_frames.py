"""Decoding the EAS queue's `DataFrameProto` (protocols/eas-queue.md §1.1), the one message a sink watch receives.

The SDK's generated `_pb2` runs on protobuf's pure-Python implementation (protobuf <= 3.20 is pinned), which costs
about 40 µs a frame — as much as storing the result. The schema is four fields, so the sink watcher reads them
here: `uint64 index = 1`, `map<string, string> tags = 2` (entries: key = 1, value = 2), `bytes data = 3`,
`string message = 4`. Unknown fields are skipped as protobuf does; text that is not UTF-8 is kept (replacement
characters) rather than refusing a frame whose result would then never be stored. The integration tests decode the
emulator's frames both ways and compare, which keeps this honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FrameError", "SinkFrame", "decode_data_frame"]

_VARINT = 0
_FIXED64 = 1
_LENGTH_DELIMITED = 2
_FIXED32 = 5


class FrameError(ValueError):
    """Bytes that are not a `DataFrameProto`."""


@dataclass(frozen=True)
class SinkFrame:
    """One queue item as the watch delivers it."""

    index: int
    tags: dict[str, str] = field(default_factory=dict)
    data: bytes = b""
    message: str = ""


def _varint(buffer: bytes, position: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if position >= end:
            raise FrameError("truncated varint")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
        if shift >= 64:
            raise FrameError("varint longer than 64 bits")


def _skip(buffer: bytes, position: int, end: int, wire_type: int) -> int:
    """Position after an unknown field's value."""
    if wire_type == _VARINT:
        return _varint(buffer, position, end)[1]
    if wire_type == _FIXED64:
        position += 8
    elif wire_type == _FIXED32:
        position += 4
    elif wire_type == _LENGTH_DELIMITED:
        length, position = _varint(buffer, position, end)
        position += length
    else:
        raise FrameError(f"unsupported protobuf wire type {wire_type}")
    if position > end:
        raise FrameError("truncated field")
    return position


def _text(buffer: bytes, start: int, end: int) -> str:
    return buffer[start:end].decode("utf-8", "replace")


def _map_entry(buffer: bytes, position: int, end: int) -> tuple[str, str]:
    key = value = ""
    while position < end:
        tag, position = _varint(buffer, position, end)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _LENGTH_DELIMITED and number in (1, 2):
            length, position = _varint(buffer, position, end)
            stop = position + length
            if stop > end:
                raise FrameError("truncated tag entry")
            if number == 1:
                key = _text(buffer, position, stop)
            else:
                value = _text(buffer, position, stop)
            position = stop
        else:
            position = _skip(buffer, position, end, wire_type)
    return key, value


def decode_data_frame(buffer: bytes) -> SinkFrame:
    """Parse one serialized `DataFrameProto`. Raises FrameError for bytes that are not one."""
    index = 0
    tags: dict[str, str] = {}
    data = b""
    message = ""
    position = 0
    end = len(buffer)
    while position < end:
        tag, position = _varint(buffer, position, end)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise FrameError("field number 0")
        if number == 1 and wire_type == _VARINT:
            index, position = _varint(buffer, position, end)
        elif number in (2, 3, 4) and wire_type == _LENGTH_DELIMITED:
            length, position = _varint(buffer, position, end)
            stop = position + length
            if stop > end:
                raise FrameError("truncated field")
            if number == 2:
                key, value = _map_entry(buffer, position, stop)
                tags[key] = value  # a repeated key: the last one wins, as in protobuf
            elif number == 3:
                data = buffer[position:stop]
            else:
                message = _text(buffer, position, stop)
            position = stop
        else:
            position = _skip(buffer, position, end, wire_type)
    return SinkFrame(index=index, tags=tags, data=data, message=message)
