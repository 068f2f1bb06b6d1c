"""The one atomic file writer: write beside the target, then rename over it.

A crash, a full disk or an exception leaves the old file or the new one, never half of one, and no temp file
behind. Used for configs, the recent-files list, workflows saved from the editor and exports.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_writer(
    path: Path, *, mode: int | None = None, default_mode: int = 0o600, make_parents: bool = True
) -> Iterator[IO[str]]:
    """Yield a text stream; on a clean exit its content replaces ``path`` in one step.

    ``mode`` forces the file's permission bits; otherwise an existing file keeps its own and a new one gets
    ``default_mode`` (0600: what comfyq writes may hold tokens or private jobs). A symlink is written through
    to its target, so the user's link stays a link. ``make_parents=False`` refuses a missing directory.
    """
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    directory = target.parent if str(target.parent) else Path(".")
    if make_parents:
        directory.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = (target.stat().st_mode & 0o777) if target.exists() else default_mode
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomically(
    path: Path, text: str, *, mode: int | None = None, default_mode: int = 0o600, make_parents: bool = True
) -> None:
    """Replace ``path`` with ``text`` in one step (see ``atomic_writer`` for modes and symlinks)."""
    with atomic_writer(path, mode=mode, default_mode=default_mode, make_parents=make_parents) as stream:
        stream.write(text)
