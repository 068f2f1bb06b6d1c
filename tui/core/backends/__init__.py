"""Backends: one per profile, chosen by the profile's edition (design.md §2 rule 7).

- :class:`~tui.core.backends.dedicated.DedicatedBackend`: plain ComfyUI HTTP (ArtLab dedicated edition, local ComfyUI).
- :class:`~tui.core.backends.eas_queue.EasQueueBackend`: the EAS asynchronous queue (ArtLab API edition).

This module also holds the small pieces both share (a reconnect backoff, an error type, secret scrubbing). The
backend modules are imported lazily by :func:`create_backend` so importing this package stays cheap and free of
import cycles.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from tui.core.jobs import Edition

if TYPE_CHECKING:
    from tui.core.backends.base import Backend, BackendContext
    from tui.core.config import Profile

__all__ = ["BackendError", "Backoff", "create_backend", "scrub"]


class BackendError(RuntimeError):
    """A backend operation (cancel, reconcile) could not be done; the message is for the user, free of secrets."""


class Backoff:
    """Capped exponential backoff with jitter: 0.5 s doubling to 30 s, each delay ±20%, so clients that lost the
    same server do not come back in lockstep and a failing server is never hammered in a tight loop."""

    def __init__(
        self, initial: float = 0.5, maximum: float = 30.0, jitter: float = 0.2, rng: random.Random | None = None
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._next = initial

    def next(self) -> float:
        """The delay to wait now; the following one doubles (up to the cap)."""
        base = self._next
        self._next = min(self.maximum, self._next * 2)
        return base * (1 + self._rng.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self._next = self.initial

    @property
    def upcoming(self) -> float:
        """The base (jitter-free) delay the next call will use."""
        return self._next


def scrub(text: str, *secrets: str | None) -> str:
    """Remove secrets (tokens) from a message before it is shown, logged or stored."""
    try:  # the shared redactor knows every registered secret
        from tui.core.secrets import redact
    except ImportError:  # pragma: no cover - the secrets module is optional for this helper
        redact = None
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, f"{secret[:4]}…({len(secret)})")
    if redact is not None:
        text = redact(text)
    return text


def create_backend(profile: Profile, context: BackendContext) -> Backend:
    """The backend for a profile's edition."""
    if profile.edition is Edition.API:
        from tui.core.backends.eas_queue import EasQueueBackend

        return EasQueueBackend(profile, context)
    from tui.core.backends.dedicated import DedicatedBackend

    return DedicatedBackend(profile, context)
