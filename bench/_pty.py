"""A program run the way a user runs it: in a pseudo-terminal, its screen read by a terminal emulator.

`TerminalProcess` starts a command on the slave side of a pty of a given size and reads the master side in a thread
that only reads and timestamps (so the program never blocks on a full pty buffer, and a chunk's time is when it
arrived, not when we got round to parsing it). The bytes are fed to pyte (the standard VT screen emulator for
Python) on demand: `wait_for(predicate)` feeds the chunks one by one and returns the arrival time of the chunk after
which the painted screen first satisfied `predicate` — "the frame where X is on screen", judged by what a person
would see, not by which widget drew it.

Like a real terminal it tells the program its size in cells and in pixels (TIOCSWINSZ; textual-image asks for the
pixel size) and answers the device-attributes query (DA1) programs send at start, so nobody waits for a timeout
that no real terminal would make them wait for.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyte

CELL_PIXELS = (10, 20)  # a common cell size (width, height) reported with the window size


# The primary device-attributes query and a terminal's answer (a VT220 with ANSI colour, no Sixel: what tmux and
# most terminals without image support say). It is answered by the reader thread as soon as it arrives: pyte's own
# answer would only come when its bytes are parsed, later, and a late answer is read by the app as key presses.
DA1_QUERIES = (b"\x1b[c", b"\x1b[0c")
DA1_ANSWER = b"\x1b[?62;22c"


class QuietScreen(pyte.Screen):
    """pyte's screen without its own answers to queries (the reader thread answers them, see DA1_QUERIES)."""

    def write_process_input(self, data: str) -> None:
        pass


def parse_proc_cpu_seconds(stat_line: str, ticks_per_second: int) -> float:
    """utime + stime (all threads, this process only) from a /proc/<pid>/stat line, in seconds.
    The command name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'."""
    after_name = stat_line[stat_line.rindex(")") + 2 :].split()
    # after_name[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(after_name[11]) + int(after_name[12])) / ticks_per_second


def process_cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU seconds of process `pid` (every thread), or of its thread `thread` alone."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path, encoding="utf-8", errors="replace") as stat:
        return parse_proc_cpu_seconds(stat.read(), os.sysconf("SC_CLK_TCK"))


class TerminalProcess:
    """`argv` running in a `columns`×`lines` pseudo-terminal; `started` is the perf_counter just before exec."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        columns: int = 120,
        lines: int = 36,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.columns, self.lines = columns, lines
        master, slave = os.openpty()
        fcntl.ioctl(
            slave,
            termios.TIOCSWINSZ,
            struct.pack("HHHH", lines, columns, columns * CELL_PIXELS[0], lines * CELL_PIXELS[1]),
        )
        self._master = master
        self._chunks: list[tuple[float, bytes]] = []
        self._fed = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.screen = QuietScreen(columns, lines)
        self._stream = pyte.ByteStream(self.screen)
        environment = dict(env if env is not None else os.environ)
        environment.update(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=environment,
            cwd=cwd,
            start_new_session=True,  # its own session: the pty becomes its controlling terminal
            close_fds=True,
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, name="bench-pty-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    # ----- reading -----
    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the program and every child closed the slave side
                break
            if not data:
                break
            arrived = time.perf_counter()
            if any(query in data for query in DA1_QUERIES):
                self._reply(DA1_ANSWER)
            with self._lock:
                self._chunks.append((arrived, data))
        self._closed.set()

    def _reply(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except OSError:
            pass

    def _next_chunk(self) -> tuple[float, bytes] | None:
        with self._lock:
            if self._fed >= len(self._chunks):
                return None
            chunk = self._chunks[self._fed]
            self._fed += 1
            return chunk

    def display(self) -> list[str]:
        """The screen's lines as painted so far (after feeding what has arrived)."""
        while (chunk := self._next_chunk()) is not None:
            self._stream.feed(chunk[1])
        return list(self.screen.display)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float, what: str) -> float:
        """The arrival time (perf_counter) of the chunk after which the screen first satisfied `predicate`."""
        return self.wait_for_screen(lambda screen: predicate(list(screen.display)), timeout, what)

    def wait_for_screen(self, predicate: Callable[[pyte.Screen], bool], timeout: float, what: str) -> float:
        """`wait_for` with the pyte screen itself (its cells' colours too, e.g. where a cursor row is drawn)."""
        deadline = time.monotonic() + timeout
        while True:
            chunk = self._next_chunk()
            if chunk is None:
                if self.process.poll() is not None and self._closed.is_set() and not self._unfed():
                    raise RuntimeError(f"the program exited ({self.process.returncode}) before {what}: "
                                       f"{self._shown()[:400]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no {what} after {timeout:g} s; the screen shows: {self._shown()[:600]}")
                time.sleep(0.002)
                continue
            arrived, data = chunk
            self._stream.feed(data)
            if predicate(self.screen):
                return arrived

    def _unfed(self) -> bool:
        with self._lock:
            return self._fed < len(self._chunks)

    def _shown(self) -> str:
        return " | ".join(line.strip() for line in self.screen.display if line.strip())

    def drain(self) -> None:
        """Feed everything that has arrived (keeps the emulated screen current; the reader keeps the pty empty)."""
        self.display()

    # ----- measuring and stopping -----
    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the program has used so far."""
        return process_cpu_seconds(self.pid)

    def main_thread_cpu_seconds(self) -> float:
        """CPU time of the program's main thread alone (a Textual app's event loop runs there)."""
        return process_cpu_seconds(self.pid, self.pid)

    def send(self, text: str) -> None:
        os.write(self._master, text.encode())

    def close(self, timeout: float = 5.0) -> None:
        """Stop the program: SIGTERM to its process group, SIGKILL if it is still there after `timeout`."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        self._closed.wait(timeout)
        try:
            os.close(self._master)
        except OSError:
            pass

    def __enter__(self) -> TerminalProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
