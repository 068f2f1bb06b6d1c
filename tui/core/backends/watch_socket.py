"""The sink watch's websocket (websocket-client): a handshake with an overall deadline, a shutdown that works from
another thread at any moment, and "has more already arrived?" without blocking.

websocket-client's timeouts apply per socket operation, and its handshake reads the answer a byte at a time: a
server dripping the `101` one byte a second would never trip them. Here a timer shuts the socket down when the
whole handshake overruns its deadline, which wakes the blocked read in the watcher thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading

import websocket


class HandshakeTimeout(websocket.WebSocketTimeoutException):
    """The whole websocket handshake (connect + upgrade answer) took longer than its deadline."""


def raw_socket(ws: websocket.WebSocket) -> socket.socket | None:
    """The TCP (or TLS) socket under a websocket-client connection, or None before it exists.

    websocket-client has no public accessor for it: `WebSocket.sock` is a plain attribute (set as soon as the TCP
    connection is made, before the handshake), and it is the only way to (a) shut the connection down while the
    handshake is still running (`abort()` acts only once connected) and (b) ask a TLS socket for bytes it has
    decrypted already (`pending()`), which `select` cannot see. Everything else here uses the public API.
    """
    sock: socket.socket | None = ws.sock
    return sock


def shutdown(ws: websocket.WebSocket) -> None:
    """Make a blocked read on `ws` return at once, from any thread, handshake or not (thread-safe)."""
    sock = raw_socket(ws)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def open_socket(
    ws: websocket.WebSocket, url: str, headers: dict[str, str], *, timeout: float, deadline: float
) -> None:
    """Connect `ws` (made by the caller, so another thread can `shutdown` it meanwhile) within `deadline` seconds.

    `timeout` bounds each socket operation, `deadline` the whole connect + handshake: past it the socket is shut
    down and HandshakeTimeout raised. (Name resolution is the one step neither bounds: the OS resolver's own
    timeout applies.)
    """
    overran = threading.Event()

    def give_up() -> None:
        overran.set()
        shutdown(ws)

    timer = threading.Timer(deadline, give_up)
    timer.daemon = True
    timer.start()
    try:
        ws.connect(url, header=headers, timeout=timeout)
    except Exception as exc:
        if overran.is_set():
            raise HandshakeTimeout(f"the websocket handshake did not complete within {deadline:g} s") from exc
        raise
    finally:
        timer.cancel()
    if overran.is_set():  # it fired just as the handshake completed: the socket is shut, so it is no use
        raise HandshakeTimeout(f"the websocket handshake did not complete within {deadline:g} s")


def more_waiting(ws: websocket.WebSocket) -> bool:
    """Has more of the stream already arrived (waiting in the socket)? Never blocks. websocket-client reads a frame
    with exactly the bytes it needs, so what it has not returned yet is still in the socket."""
    if ws.is_ssl():
        sock = raw_socket(ws)
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True  # decrypted bytes the socket itself no longer shows
    try:
        readable, _, _ = select.select([ws], [], [], 0)  # WebSocket.fileno() is public
    except (OSError, ValueError, websocket.WebSocketException):
        return False
    return bool(readable)
