"""Where a job's output file lands in OSS.

ArtLab mounts an OSS bucket as ComfyUI's storage, and a result names only `subfolder` + `filename`, so the client
composes `<OSS bucket path>/output/<subfolder>/<filename>` itself (protocols/eas-queue.md §6.1, the seed README).
The names come from a remote server, so they are checked before they become a path: no `..`, no absolute parts,
no empty file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui.core.jobs import Output

OSS_SCHEME = "oss://"

# Which ComfyUI folder an output type lives in on the mounted storage. `temp` files (PreviewImage) are wiped on
# restart and are not meant to be kept, so they get no OSS path; unknown types get none either.
_TYPE_FOLDERS = {"output": "output", "": "output", "input": "input"}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_DRIVE = re.compile(r"^[A-Za-z]:")


class OssPathError(ValueError):
    """A bucket path, subfolder or file name that cannot safely become an OSS path."""


@dataclass(frozen=True)
class OssLocation:
    path: str  # "<bucket_path>/output/<subfolder>/<filename>", no empty segments
    bucket: str | None = None  # set when the bucket path is oss://bucket/prefix
    key: str | None = None  # the object key within that bucket


def safe_segments(part: str, what: str) -> list[str]:
    """Split a relative path reported by the server into safe segments (either slash counts as a separator).
    The one guard for every name that becomes a path: OSS keys here, local files under `comfyq pull -o`."""
    if part.startswith(("/", "\\")) or _DRIVE.match(part):
        raise OssPathError(f"{what} {part!r} is an absolute path")
    segments = []
    for segment in re.split(r"[/\\]+", part):
        if segment in ("", "."):
            continue
        if segment == "..":
            raise OssPathError(f"{what} {part!r} leaves its folder ('..')")
        segments.append(segment)
    return segments


def normalize_bucket_path(bucket_path: str) -> str:
    """`oss://b//p/` -> `oss://b/p`; `26xx/data-115xx/` -> `26xx/data-115xx`. Refuses `..` and an empty path."""
    text = bucket_path.strip()
    scheme_match = _SCHEME.match(text)
    scheme = scheme_match.group(0).lower() if scheme_match else ""
    rest = text[len(scheme) :]
    if ".." in re.split(r"[/\\]+", rest):
        raise OssPathError(f"OSS bucket path {bucket_path!r} contains '..'")
    # A bare bucket path is relative to the bucket root; a leading slash adds nothing but an empty segment.
    segments = [segment for segment in re.split(r"/+", rest) if segment not in ("", ".")]
    if not segments:
        raise OssPathError(f"OSS bucket path {bucket_path!r} names no bucket")
    return scheme + "/".join(segments)


def compose_oss_path(bucket_path: str | None, output: Output) -> OssLocation | None:
    """The OSS location of `output`, or None when it has none (no bucket path configured, or a temp file)."""
    if bucket_path is None or not bucket_path.strip():
        return None
    folder = _TYPE_FOLDERS.get(output.type)
    if folder is None:
        return None
    base = normalize_bucket_path(bucket_path)
    filename = output.filename.strip()
    if not filename:
        raise OssPathError(f"output of node {output.node_id} has an empty file name")
    name_segments = safe_segments(filename, "file name")
    if not name_segments:
        raise OssPathError(f"output of node {output.node_id} has no usable file name ({filename!r})")
    relative = [folder, *safe_segments(output.subfolder or "", "subfolder"), *name_segments]
    path = base + "/" + "/".join(relative)
    bucket = key = None
    if base.startswith(OSS_SCHEME):
        bucket, _, prefix = base[len(OSS_SCHEME) :].partition("/")
        key = "/".join([*([prefix] if prefix else []), *relative])
    return OssLocation(path=path, bucket=bucket, key=key)
