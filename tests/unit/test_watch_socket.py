"""WatchReader: the sink watch's websocket messages read in bulk from a real socket (a socketpair)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tui.core.backends.watch_socket import (
    OPCODE_BINARY,
    OPCODE_TEXT,
    WatchClosed,
    WatchProtocolError,
    WatchReader,
)


def frame(payload: bytes, opcode: int = OPCODE_BINARY, *, final: bool = True, mask: bytes | None = None) -> bytes:
    length = len(payload)
    first = (0x80 if final else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        header = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if mask is None:
        return header + payload
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


class FakeWebSocket:
    """What WatchReader uses of websocket-client's WebSocket: the socket, pong(), the read-ahead buffer."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self.pongs: list[bytes] = []
        self.frame_buffer = type("FrameBuffer", (), {})()
        self.frame_buffer.recv_buffer = [leftover] if leftover else []

    def pong(self, payload: Any) -> None:
        self.pongs.append(bytes(payload))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, server = socket.socketpair()
    try:
        yield ours, server
    finally:
        ours.close()
        server.close()


def receive_all(reader: WatchReader, count: int) -> list[tuple[int, bytes]]:
    messages: list[tuple[int, bytes]] = []
    for _ in range(1000):
        messages += reader.receive(1.0)
        if len(messages) >= count:
            return messages
    raise AssertionError(f"only {len(messages)} of {count} messages")


def test_many_frames_in_one_read(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    payloads = [f"result {n}".encode() for n in range(50)]
    server.sendall(b"".join(frame(p) for p in payloads))
    reader = WatchReader(FakeWebSocket(ours))
    assert reader.receive(1.0) == [(OPCODE_BINARY, p) for p in payloads]


def test_frames_cut_anywhere_and_every_length_encoding(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    payloads = [b"", b"x" * 125, b"y" * 126, b"z" * 70_000, os.urandom(200_000)]
    stream = b"".join(frame(p) for p in payloads)
    reader = WatchReader(FakeWebSocket(ours))
    got: list[tuple[int, bytes]] = []
    for start in range(0, len(stream), 7_777):  # cuts through headers, lengths and payloads
        server.sendall(stream[start : start + 7_777])
        got += reader.receive(1.0)
    if len(got) < len(payloads):
        got += receive_all(reader, len(payloads) - len(got))
    assert got == [(OPCODE_BINARY, p) for p in payloads]


def test_a_fragmented_message_with_a_ping_inside(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    server.sendall(
        frame(b"first ", final=False)
        + frame(b"ping!", opcode=0x9)
        + frame(b"second ", opcode=0x0, final=False)
        + frame(b"third", opcode=0x0)
        + frame(b"pong", opcode=0xA)
        + frame(b"text", opcode=OPCODE_TEXT)
    )
    ws = FakeWebSocket(ours)
    reader = WatchReader(ws)
    assert receive_all(reader, 2) == [(OPCODE_BINARY, b"first second third"), (OPCODE_TEXT, b"text")]
    assert ws.pongs == [b"ping!"]


def test_a_masked_frame_is_read_right(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    server.sendall(frame(b"masked payload 123", mask=b"\x01\x02\x03\x04") + frame(b"", mask=b"abcd"))
    assert receive_all(WatchReader(FakeWebSocket(ours)), 2) == [(OPCODE_BINARY, b"masked payload 123"), (2, b"")]


def test_bytes_read_ahead_by_websocket_client_are_kept(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    whole = frame(b"one") + frame(b"two")
    server.sendall(whole[5:])
    ws = FakeWebSocket(ours, leftover=whole[:5])
    assert receive_all(WatchReader(ws), 2) == [(OPCODE_BINARY, b"one"), (OPCODE_BINARY, b"two")]
    assert ws.frame_buffer.recv_buffer == []


def test_a_close_frame_ends_the_stream_after_what_came_before(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    server.sendall(frame(b"last result") + frame((1000).to_bytes(2, "big"), opcode=0x8) + frame(b"ignored"))
    reader = WatchReader(FakeWebSocket(ours))
    assert reader.receive(1.0) == [(OPCODE_BINARY, b"last result")]
    with pytest.raises(WatchClosed, match="1000"):
        reader.receive(1.0)


def test_end_of_file_and_nothing_yet(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, server = pair
    reader = WatchReader(FakeWebSocket(ours))
    assert reader.receive(0.01) == []  # nothing arrived in time: no message, no error
    server.sendall(frame(b"x")[:2])
    assert reader.receive(1.0) == [] and reader.buffered  # half a frame
    server.shutdown(socket.SHUT_WR)
    with pytest.raises(WatchClosed):
        for _ in range(10):
            reader.receive(1.0)


@pytest.mark.parametrize(
    "stream",
    [
        bytes((0xC2, 0x01)) + b"x",  # RSV1 set: an extension nobody negotiated
        frame(b"more", opcode=0x0),  # continuation of nothing
        frame(b"a", final=False) + frame(b"b"),  # a new message inside a fragmented one
        frame(b"x" * 126, opcode=0x9),  # an oversized control frame
        frame(b"", opcode=0xB),  # an unknown control frame
    ],
)
def test_broken_framing_is_refused(pair: tuple[socket.socket, socket.socket], stream: bytes) -> None:
    ours, server = pair
    server.sendall(stream)
    with pytest.raises(WatchProtocolError):
        receive_all(WatchReader(FakeWebSocket(ours)), 1)
