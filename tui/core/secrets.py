"""One registry of secret strings (tokens). Everything that prints, logs or exports text passes it through
`redact()`, so a token never leaves the process in clear, whatever code path produced the text."""

from __future__ import annotations

import logging
import threading

MIN_SECRET_LENGTH = 4  # shorter strings would mask ordinary words and hide nothing worth hiding

_lock = threading.Lock()
_secrets: dict[str, str] = {}  # secret -> its mask


def mask_token(token: str | None) -> str:
    """`Yjha…(12)`: enough to tell two tokens apart, never enough to use one."""
    if not token:
        return "(none)"
    if len(token) < 8:  # a short token would be half revealed by 4 characters
        return f"…({len(token)})"
    return f"{token[:4]}…({len(token)})"


def register_secret(value: str | None) -> None:
    """Remember a token so `redact()` hides it from now on."""
    if value is None or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets[value] = mask_token(value)


def registered_count() -> int:
    with _lock:
        return len(_secrets)


def forget_secrets() -> None:
    """Tests only: start from an empty registry."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    """Replace every registered secret in `text` with its mask (longest first, so a secret containing another
    is masked whole)."""
    if not isinstance(text, str):
        text = str(text)
    with _lock:
        items = sorted(_secrets.items(), key=lambda item: len(item[0]), reverse=True)
    for secret, mask in items:
        if secret in text:
            text = text.replace(secret, mask)
    return text


class RedactingFilter(logging.Filter):
    """Formats each record's message with its args, then redacts it, so neither part can leak a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the parts, still redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
