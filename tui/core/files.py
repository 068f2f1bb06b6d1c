"""Reading a user's file with a size cap: a FIFO, a device (`/dev/zero`) or a huge file is refused, never read
forever (design.md §2 rule 10). No Textual here."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MEGABYTE = 1024 * 1024
# A config file is a few KB; a workflow rarely passes a few hundred KB (big prompts, many nodes).
MAX_CONFIG_BYTES = 1 * MEGABYTE
MAX_WORKFLOW_BYTES = 32 * MEGABYTE


class FileRefused(OSError):
    """Not a regular file, or larger than the cap; `strerror` is the one-line reason."""


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `max_bytes` bytes.

    The file is opened without blocking (a FIFO with no writer would otherwise wait forever), checked to be a
    regular file, and read to at most `max_bytes + 1` bytes (a file that grows while being read is still capped).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused(0, "not a regular file (a pipe, a device or a directory cannot be read as one)")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 * MEGABYTE, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise FileRefused(0, f"larger than {max_bytes // MEGABYTE} MB (the cap for this kind of file)")
        return b"".join(chunks)
    finally:
        os.close(fd)
