"""The recently opened workflow files, newest first, kept as a small JSON file in the data dir.

The list is a convenience: a missing, unreadable or corrupt file reads as an empty list (never an error that
stops the app), and writes are atomic (temp file + rename) so a crash cannot leave half a file behind.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from tui.core.atomic_file import write_atomically

log = logging.getLogger(__name__)

RECENT_FILE_NAME = "recent_workflows.json"
RECENT_LIMIT = 10
_FORMAT_VERSION = 1


class RecentFiles:
    """Newest-first list of absolute paths, at most ``limit`` long, persisted in ``file``."""

    def __init__(self, file: Path, limit: int = RECENT_LIMIT) -> None:
        self.file = file
        self.limit = limit

    @classmethod
    def in_data_dir(cls, data_dir: Path, limit: int = RECENT_LIMIT) -> RecentFiles:
        return cls(Path(data_dir) / RECENT_FILE_NAME, limit)

    def load(self) -> list[Path]:
        """The stored paths, newest first; [] when there is no usable file."""
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            log.warning("ignoring the recent-files list %s: %s", self.file, error)
            return []
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, list):
            return []
        paths: list[Path] = []
        for item in files:
            if isinstance(item, str) and item and Path(item) not in paths:
                paths.append(Path(item))
        return paths[: self.limit]

    def add(self, path: Path) -> list[Path]:
        """Put ``path`` (made absolute) first, drop the oldest beyond the limit, save; returns the new list.

        Raises OSError when the list cannot be written (the caller decides how loud that is).
        """
        absolute = _absolute(path)
        paths = [absolute, *(item for item in self.load() if item != absolute)][: self.limit]
        self._save(paths)
        return paths

    def remove(self, path: Path) -> list[Path]:
        """Forget ``path`` (for example a file that no longer exists); returns the new list."""
        absolute = _absolute(path)
        paths = [item for item in self.load() if item != absolute]
        self._save(paths)
        return paths

    def _save(self, paths: list[Path]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": _FORMAT_VERSION, "files": [str(p) for p in paths]}, indent=2)
        write_atomically(self.file, payload + "\n")


def _absolute(path: Path) -> Path:
    # expanduser + absolute, but no resolve(): keep the name the user chose (a symlink stays a symlink).
    return Path(os.path.abspath(Path(path).expanduser()))
