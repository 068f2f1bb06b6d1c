"""Reading the sink watch's websocket messages in bulk.

websocket-client (which the SDK uses, and which opens our watch connection) reads each frame with three system calls
(header, length, payload) and builds several objects per frame: at thousands of results a second that was a fifth of
the watcher's time. After its handshake, `WatchReader` reads the same socket in large chunks and splits out every
complete message at once (RFC 6455 §5: server frames are unmasked; fragmented messages are joined; a ping is answered
with a pong; a close frame ends the stream). Sending (pings, pongs) still goes through websocket-client.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

__all__ = ["OPCODE_BINARY", "OPCODE_TEXT", "WatchClosed", "WatchProtocolError", "WatchReader"]

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

READ_SIZE = 64 * 1024


class WatchClosed(Exception):
    """The server closed the stream (end of file, or a close frame)."""


class WatchProtocolError(Exception):
    """Bytes that break the websocket framing."""


def _unmask(payload: bytes, mask: bytes) -> bytes:
    # A server must not mask its frames, but reading a masked one costs nothing to get right.
    if not payload:
        return payload
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


class WatchReader:
    """The messages of a connected `websocket.WebSocket`, read from its socket in chunks of READ_SIZE."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._buffer = bytearray()
        # Bytes websocket-client may already have read past the handshake are ours now.
        frames = getattr(ws, "frame_buffer", None)
        leftover = getattr(frames, "recv_buffer", None)
        if leftover:
            self._buffer += b"".join(leftover)
            frames.recv_buffer = []
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = 0
        self._closed: str | None = None
        self._timeout: float | None = None

    @property
    def buffered(self) -> bool:
        """Bytes of the stream already read and not handed out yet."""
        return bool(self._buffer)

    def receive(self, timeout: float) -> list[tuple[int, bytes]]:
        """The complete data messages (opcode, payload) at hand, reading the socket at most once: at once when some
        are buffered, else waiting up to `timeout` seconds for more bytes (an empty list when none came or a message
        is still incomplete). Pings are answered on the way. Raises WatchClosed at the end of the stream, OSError
        when the socket fails."""
        messages = self._parse()
        if messages:
            return messages
        if self._closed is not None:
            raise WatchClosed(self._closed)
        data = self._recv(timeout)
        if data:
            self._buffer += data
            return self._parse()
        return []

    def _recv(self, timeout: float) -> bytes:
        sock = self._ws.sock
        if sock is None:
            raise WatchClosed("the socket is closed")
        if timeout != self._timeout:
            sock.settimeout(timeout)  # a system call: only when it changes
            self._timeout = timeout
        try:
            data: bytes = sock.recv(READ_SIZE)
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            return b""
        if not data:
            self._closed = "closed by the server"
            raise WatchClosed(self._closed)
        return data

    def _parse(self) -> list[tuple[int, bytes]]:
        buffer = self._buffer
        end = len(buffer)
        position = 0
        messages: list[tuple[int, bytes]] = []
        while self._closed is None and end - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            if first & 0x70:
                raise WatchProtocolError("a frame with reserved bits set (an extension nobody asked for)")
            final = bool(first & 0x80)
            opcode = first & 0x0F
            length = second & 0x7F
            header = 2
            if length == 126:
                if end - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if end - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            mask = b""
            if second & 0x80:
                if end - position < header + 4:
                    break
                mask = bytes(buffer[position + header : position + header + 4])
                header += 4
            if end - position < header + length:
                break  # the rest of this frame has not arrived yet
            start = position + header
            payload = bytes(buffer[start : start + length])
            position = start + length
            if mask:
                payload = _unmask(payload, mask)
            if opcode >= OPCODE_CLOSE:
                self._control(opcode, payload, final)
                continue
            if opcode == OPCODE_CONTINUATION:
                if self._fragments is None:
                    raise WatchProtocolError("a continuation frame without a message to continue")
                self._fragments.append(payload)
                if final:
                    messages.append((self._fragment_opcode, b"".join(self._fragments)))
                    self._fragments = None
                continue
            if self._fragments is not None:
                raise WatchProtocolError("a new message before the last one was finished")
            if final:
                messages.append((opcode, payload))
            else:
                self._fragments = [payload]
                self._fragment_opcode = opcode
        del buffer[:position]
        return messages

    def _control(self, opcode: int, payload: bytes, final: bool) -> None:
        if not final or len(payload) > 125:
            raise WatchProtocolError("a fragmented or oversized control frame")
        if opcode == OPCODE_CLOSE:
            # Messages before it are still handed out; the next receive() reports the end.
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            self._closed = f"closed by the server (close frame {code})" if code else "closed by the server"
        elif opcode == OPCODE_PING:
            self._ws.pong(payload)
        elif opcode != OPCODE_PONG:
            raise WatchProtocolError(f"an unknown control frame (opcode {opcode})")
