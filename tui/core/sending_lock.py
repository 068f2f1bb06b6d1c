"""Whether some comfyq process is sending jobs to a job store right now (a shared `flock` on `<store>.sending`).

A `submitting` row is either a job a process is sending (or about to send: it waits for a slot) or one a crash
left behind. Only the second may be judged by a reconcile: a TUI or `comfyq watch` that starts while
`comfyq submit -n 1000` sends must not fail the jobs in flight.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

if sys.platform == "win32":  # pragma: no cover - no flock: nobody is ever seen sending (a reconcile judges every row)
    HAVE_FLOCK = False
else:
    import fcntl

    HAVE_FLOCK = True


class SendingLock:
    """While it sends, a process holds a shared `flock` on `<store>.sending`; the kernel drops it when the process
    ends, kill -9 included. Where flock is missing (Windows) or the store is in memory, nobody is ever seen
    sending."""

    def __init__(self, store_path: str | os.PathLike[str] | None) -> None:
        path = None if store_path is None or str(store_path) == ":memory:" else f"{os.fspath(store_path)}.sending"
        self.path = path if HAVE_FLOCK else None
        self._holders = 0
        self._fd: int | None = None

    def _open(self) -> int | None:
        if self.path is None:
            return None
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None  # an unwritable data dir: the store will say so; sending is not blocked by this

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the shared lock for the duration (re-entrant: batches sent at once share it)."""
        if self._holders == 0 and self.path is not None:
            fd = self._open()
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH)
                    self._fd = fd
                except OSError:
                    os.close(fd)
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing the descriptor releases the lock

    def anyone_sending(self) -> bool:
        """Does any process — this one included — hold the lock now?"""
        if self.path is None or not os.path.exists(self.path):
            return False
        fd = self._open()
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False
