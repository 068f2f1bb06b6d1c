"""The log file: rotating, private (0600) and redacted (no token ever reaches it)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from io import TextIOWrapper
from pathlib import Path

from tui.core.secrets import RedactingFilter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_BYTES = 2_000_000
BACKUP_COUNT = 3
_HANDLER_NAME = "comfyq-file"


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every file it opens (the first and each one after a rollover) is readable by the owner only."""

    def _open(self) -> TextIOWrapper:
        stream = super()._open()
        try:
            os.chmod(self.baseFilename, 0o600)
        except OSError:
            pass
        return stream

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        # A full disk or a vanished file must not print "--- Logging error ---" tracebacks over the user's terminal:
        # the log is a help, not the job's record (that is the store, which reports its own errors).
        self.failures += 1

    failures = 0


def setup_logging(log_file: Path, level: int = logging.INFO) -> None:
    """Send the root logger to `log_file` (created 0600). Calling again replaces the previous comfyq handler."""
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Create the file private before the handler opens it: no window where it is world-readable.
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    try:
        os.chmod(log_file, 0o600)
    except OSError:
        pass
    handler = _PrivateRotatingFileHandler(
        # backslashreplace: text a server sent may hold lone surrogates, which UTF-8 cannot encode.
        log_file, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", errors="backslashreplace"
    )
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(level)
    # httpx/httpcore log every request at INFO: thousands of lines an hour from pollers. Keep their warnings only.
    for chatty in ("httpx", "httpcore", "websocket", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
