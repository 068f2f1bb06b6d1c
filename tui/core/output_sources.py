"""Which source a profile reads its outputs from: ComfyUI's /view (tui.core.fetch) or OSS (tui.core.oss_fetch).

Apart from both so neither imports the other (oss_fetch builds on fetch's download pieces)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.fetch import OutputSource, ViewSource
from tui.core.oss_fetch import OssSource

if TYPE_CHECKING:
    from tui.core.config import Profile


def source_for(profile: Profile, *, max_connections: int = 16, env: dict[str, str] | None = None) -> OutputSource:
    """The source `profile` reads its outputs from; FetchError("config") says which key is missing."""
    if profile.outputs_from == "oss":
        return OssSource(profile, max_connections=max_connections, env=env)
    return ViewSource(profile, max_connections=max_connections)
