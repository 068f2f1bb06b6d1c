"""Small pieces both backends share: an error type, a reconnect backoff, secret scrubbing.

A module of its own (not the package's face) so the backend modules import it without importing the package that
imports them back.
"""

from __future__ import annotations

import random

from tui.core.secrets import MIN_SECRET_LENGTH, mask_token, redact


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
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, mask_token(secret))
    return redact(text)  # the shared redactor knows every registered secret
