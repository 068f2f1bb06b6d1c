"""What the store keeps of the text a service sent back: every registered secret masked, the raw result capped.

Applied to every update and sink result before it is stored, so a service that echoes the Authorization header
into an error cannot put the token into the store, the screen or an export, and a 50 MB answer does not make a
50 MB row. No Textual here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from tui.core.jobs import JobUpdate
from tui.core.secrets import redact
from tui.core.store.records import SinkResult

# A raw result (sink data, history entry) is kept for the detail view up to this many characters.
RAW_RESULT_LIMIT = 256 * 1024
RAW_RESULT_TRUNCATED = "[comfyq: raw result truncated"

_Scrubbable = TypeVar("_Scrubbable", JobUpdate, SinkResult)  # both carry raw_result, warning and failure


def capped_raw_result(text: str) -> str:
    """What the store keeps of a raw result: the first RAW_RESULT_LIMIT characters, and a note saying how long it
    was. The parsed outcome (outputs, failure) is taken from the whole answer before this; only the copy kept for
    a human to read is cut, so a 50 MB answer does not make a 50 MB row (rewritten on every later change)."""
    if len(text) <= RAW_RESULT_LIMIT:
        return text
    return f"{text[:RAW_RESULT_LIMIT]}\n{RAW_RESULT_TRUNCATED} after {RAW_RESULT_LIMIT:,} of {len(text):,} characters]"


def scrubbed(item: _Scrubbable) -> _Scrubbable:
    """The update / result with every registered token masked in the text a service sent back (raw result,
    warning, failure), and the raw result capped (:func:`capped_raw_result`). A service that echoes the
    Authorization header into an error must not put the token into the store, the screen or an export."""
    changes: dict[str, Any] = {}
    for name in ("raw_result", "warning"):
        value = getattr(item, name)
        if value:
            # Mask before cutting: a token across the cut must not survive half-masked.
            clean = redact(value)
            if name == "raw_result":
                clean = capped_raw_result(clean)
            if clean != value:
                changes[name] = clean
    failure = item.failure
    if failure is not None:
        clean_failure = dataclasses.replace(
            failure,
            message=redact(failure.message),
            traceback=tuple(redact(line) for line in failure.traceback),
            node_errors=tuple(
                dataclasses.replace(error, message=redact(error.message), details=redact(error.details))
                for error in failure.node_errors
            ),
        )
        if clean_failure != failure:
            changes["failure"] = clean_failure
    return dataclasses.replace(item, **changes) if changes else item
