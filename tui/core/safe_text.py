"""The one boundary between text from outside and the terminal.

File names, node ids, error messages and anything else a service, a workflow file or the job store hands comfyq
pass through :func:`visible` before a widget or the CLI shows them: a name such as
``"\\x1b]52;c;…\\x07innocent.png"`` would otherwise set the user's clipboard (OSC 52) or rewrite the screen.
Control characters are shown as escapes (``\\x1b``), so the user sees what the service sent; the value itself
is kept as is everywhere else (the store, ``--json``, what `y` copies).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (0x80–0x9f: 8-bit CSI/OSC on some terminals), the bidirectional overrides and
# isolates that reorder what is drawn ("Trojan Source"), and lone surrogates (not text; they cannot be encoded).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """`text` with every character that could steer a terminal shown as an escape (``\\x1b``, ``\\u202e``).

    `keep_newlines` leaves line breaks and tabs alone (tracebacks, multi-line messages shown as blocks);
    a carriage return is escaped either way (it moves the cursor back over what was drawn). Not text (None,
    numbers) is turned into text first, so callers can pass any field through.
    """
    string = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    if string.isprintable() and not keep_newlines:
        # The common case: nothing to replace (isprintable is False for every control and format character).
        return string
    return pattern.sub(_escape, string)
