"""A tiny PNG writer (RGB, 8 bit) with tEXt chunks: enough for the emulator's SaveImage/PreviewImage.

No Pillow: the emulator must run from a bare install. Rows are streamed through zlib so a large image never
sits in memory uncompressed. ComfyUI stores the API workflow as a `prompt` tEXt chunk (JSON, ASCII because
json.dumps escapes non-ASCII), and any `extra_pnginfo` keys (e.g. `workflow`) the same way.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

RowSource = Callable[[int], bytes]  # y -> width*3 RGB bytes


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _text_chunk(key: str, value: str) -> bytes:
    # tEXt is Latin-1; fall back to escaping anything else so writing never fails.
    return _chunk(b"tEXt", key.encode("latin-1", "replace") + b"\x00" + value.encode("latin-1", "backslashreplace"))


def encode_png(width: int, height: int, row: RowSource, text: Mapping[str, str] | None = None) -> bytes:
    """Return a complete PNG file for an RGB image whose row y is `row(y)` (exactly width*3 bytes)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"PNG size must be positive, got {width}x{height}")
    parts: list[bytes] = [PNG_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    for key, value in (text or {}).items():
        parts.append(_text_chunk(key, value))
    compressor = zlib.compressobj(6)
    compressed: list[bytes] = []
    for y in range(height):
        data = row(y)
        if len(data) != width * 3:
            raise ValueError(f"row {y} has {len(data)} bytes, expected {width * 3}")
        compressed.append(compressor.compress(b"\x00" + data))
    compressed.append(compressor.flush())
    parts.append(_chunk(b"IDAT", b"".join(compressed)))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def write_png(path: Path, width: int, height: int, row: RowSource, text: Mapping[str, str] | None = None) -> None:
    path.write_bytes(encode_png(width, height, row, text))


def solid_rows(width: int, rgb: tuple[int, int, int]) -> RowSource:
    line = bytes(rgb) * width
    return lambda _y: line


def pattern_rows(width: int, height: int, seed: int) -> RowSource:
    """A deterministic colourful gradient that depends on `seed` (stands in for a sampled image)."""
    r0, g0, b0 = seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF
    base = bytearray()
    for x in range(width):
        base += bytes(((r0 + x * 256 // max(width, 1)) & 0xFF, g0, (b0 + 255 - x * 256 // max(width, 1)) & 0xFF))
    base_bytes = bytes(base)

    def row(y: int) -> bytes:
        shift = (y * 256 // max(height, 1)) & 0xFF
        # Rotate every byte value by `shift`: fast (C-level translate) and varies the green-ish mix per row.
        table = bytes((i + shift) & 0xFF for i in range(256))
        return base_bytes.translate(table)

    return row


def read_png_info(data: bytes) -> tuple[int, int, dict[str, str]]:
    """(width, height, tEXt chunks) of a PNG; raises ValueError if it is not one. Used by tests and checks."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG (bad signature)")
    pos = len(PNG_SIGNATURE)
    width = height = -1
    text: dict[str, str] = {}
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", payload[:8])
        elif kind == b"tEXt":
            key, _, value = payload.partition(b"\x00")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"IEND":
            break
        pos += 12 + length
    if width < 0:
        raise ValueError("PNG without IHDR")
    return width, height, text


def iter_chunks_kinds(data: bytes) -> Iterable[bytes]:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        yield data[pos + 4 : pos + 8]
        pos += 12 + length
