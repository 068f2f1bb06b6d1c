"""The disk cache of fetched outputs the app previews and opens: `<data dir>/previews`, capped in size.

One file per (profile, job, output); the least recently used go first when the cap is passed. A file is only
ever written through `fetch.download_to` (temporary name, then rename), so a cache entry is always whole.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tui.core.fetch import FetchError, OutputSource, download_to
from tui.core.jobs import Job, Output

PREVIEW_DIRNAME = "previews"
DEFAULT_CAP_BYTES = 512 * 1024 * 1024
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


def preview_dir(data_dir: Path) -> Path:
    return data_dir / PREVIEW_DIRNAME


def is_image(output: Output) -> bool:
    return PurePosixPath(output.filename).suffix.lower() in IMAGE_SUFFIXES


def kind_of(output: Output) -> str:
    """A file's type as a person says it: image/png, video/mp4, text/plain... (from its name)."""
    guessed, _ = mimetypes.guess_type(output.filename)
    if guessed is None:
        suffix = PurePosixPath(output.filename).suffix.lower()
        guessed = {".glb": "model/gltf-binary", ".obj": "model/obj", ".flac": "audio/flac"}.get(suffix, "unknown")
    return guessed


@dataclass(frozen=True)
class Cached:
    path: Path
    size: int
    fetched: bool  # False: it was in the cache already


class PreviewCache:
    def __init__(self, directory: Path, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.directory = directory
        self.cap_bytes = cap_bytes
        self._lock = threading.Lock()

    def path_for(self, job: Job, output: Output) -> Path:
        identity = "\0".join((job.profile, job.id, output.type, output.subfolder, output.filename))
        digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        suffix = PurePosixPath(output.filename).suffix.lower()
        if not suffix.replace(".", "").isalnum() or len(suffix) > 8:
            suffix = ""
        return self.directory / f"{digest}{suffix}"

    def lookup(self, job: Job, output: Output) -> Path | None:
        path = self.path_for(job, output)
        try:
            os.utime(path)  # recently used: trimmed last
        except OSError:
            return None
        return path

    def fetch(self, source: OutputSource, job: Job, output: Output) -> Cached:
        """The cached copy of `output`, fetched first when it is not there; raises FetchError."""
        found = self.lookup(job, output)
        if found is not None:
            return Cached(found, found.stat().st_size, fetched=False)
        path = self.path_for(job, output)
        result = download_to(source, output, path, skip_same_size=False)
        self.trim(keep=path)
        return Cached(path, result.size, fetched=True)

    def trim(self, keep: Path | None = None) -> None:
        """Remove the least recently used files until the cache is under its cap."""
        with self._lock:
            try:
                entries = [(entry.stat().st_mtime, entry.stat().st_size, Path(entry.path)) for entry in os.scandir(self.directory) if entry.is_file()]
            except OSError:
                return
            total = sum(size for _, size, _ in entries)
            for _, size, path in sorted(entries):
                if total <= self.cap_bytes:
                    break
                if path == keep:
                    continue
                try:
                    path.unlink()
                except OSError:
                    continue
                total -= size


__all__ = ["PreviewCache", "Cached", "FetchError", "preview_dir", "is_image", "kind_of", "DEFAULT_CAP_BYTES"]
