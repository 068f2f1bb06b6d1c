"""Backends: one per profile, chosen by the profile's edition (design.md §2 rule 7).

- :class:`~tui.core.backends.dedicated.DedicatedBackend`: plain ComfyUI HTTP (ArtLab dedicated edition, local ComfyUI).
- :class:`~tui.core.backends.eas_queue.EasQueueBackend`: the EAS asynchronous queue (ArtLab API edition).

What both share: the interface (`base`), a reconnect backoff, an error type and secret scrubbing (`common`,
re-exported here), and one HTTP layer (`http`: the client, headers, deadline, body cap, failure messages).
Dedicated: `comfy_api` (the server conversation), `comfy_progress` (the websocket), `dedicated_settle` (what a
job's absence means), `external` (other clients' prompts). API edition: `eas_sdk` (the SDK, lazily),
`watch_socket` (the websocket), `sink_threads` (thread plumbing, committer), `sink_watcher` (the reader).

The backend modules are imported by :func:`create_backend` when a profile needs one, deliberately: they pull in
aiohttp and websocket-client (~0.3 s), which commands that never talk to a service should not pay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui.core.backends.common import BackendError, Backoff, scrub
from tui.core.jobs import Edition

if TYPE_CHECKING:
    from tui.core.backends.base import Backend, BackendContext
    from tui.core.config import Profile

__all__ = ["BackendError", "Backoff", "create_backend", "load_backend_modules", "scrub"]


def load_backend_modules(editions: Iterable[Edition]) -> None:
    """Import what the backends of these editions need, SDK included. Made to run on a worker thread before the
    backends are created, so the ~0.3–1 s of imports never holds up the event loop (and a half-painted screen)."""
    for edition in set(editions):
        if edition is Edition.API:
            from tui.core.backends.eas_queue import EasQueueBackend  # noqa: F401 - imported for its side effect
            from tui.core.backends.eas_sdk import sdk

            sdk()
        else:
            from tui.core.backends.dedicated import DedicatedBackend  # noqa: F401 - imported for its side effect


def create_backend(profile: Profile, context: BackendContext) -> Backend:
    """The backend for a profile's edition."""
    if profile.edition is Edition.API:
        from tui.core.backends.eas_queue import EasQueueBackend

        return EasQueueBackend(profile, context)
    from tui.core.backends.dedicated import DedicatedBackend

    return DedicatedBackend(profile, context)
