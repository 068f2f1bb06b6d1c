"""Backends: one per profile, chosen by the profile's edition (design.md §2 rule 7).

- :class:`~tui.core.backends.dedicated.DedicatedBackend`: plain ComfyUI HTTP (ArtLab dedicated edition, local ComfyUI).
- :class:`~tui.core.backends.eas_queue.EasQueueBackend`: the EAS asynchronous queue (ArtLab API edition).

The small pieces both share (a reconnect backoff, an error type, secret scrubbing) live in
:mod:`tui.core.backends.common` and are re-exported here. The backend modules are imported lazily by
:func:`create_backend` so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.backends.common import BackendError, Backoff, scrub
from tui.core.jobs import Edition

if TYPE_CHECKING:
    from tui.core.backends.base import Backend, BackendContext
    from tui.core.config import Profile

__all__ = ["BackendError", "Backoff", "create_backend", "scrub"]


def create_backend(profile: Profile, context: BackendContext) -> Backend:
    """The backend for a profile's edition."""
    if profile.edition is Edition.API:
        from tui.core.backends.eas_queue import EasQueueBackend

        return EasQueueBackend(profile, context)
    from tui.core.backends.dedicated import DedicatedBackend

    return DedicatedBackend(profile, context)
