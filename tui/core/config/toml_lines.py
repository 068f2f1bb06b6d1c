"""Where each table header and key of a TOML text sits (1-based lines), for `PATH:LINE: KEY` messages and for
edits that keep the user's layout (tui/core/config/writer.py). A line scanner, not a TOML parser: it runs over
text tomllib has accepted (or is about to report on), and only has to find headers and keys.
"""

from __future__ import annotations

import re

_BARE_KEY = r"[A-Za-z0-9_-]+"
_KEY_PART = rf"(?:{_BARE_KEY}|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
HEADER_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_KEY_PART)


def split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for match in _PART_RE.finditer(dotted):
        part = match.group(0)
        if part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


class LineIndex:
    """Where each table header and key sits in the source text (1-based lines), for error messages."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = False
                continue
            header = HEADER_RE.match(line)
            if header and not line.lstrip().startswith("[["):
                table = split_key(header.group(1))
                for end in range(1, len(table) + 1):  # `[a.b]` also defines `a` here, unless seen before
                    self.lines.setdefault(table[:end], number)
                continue
            key = _KEY_RE.match(line)
            if key:
                full = table + split_key(key.group(1))
                self.lines.setdefault(full, number)
                # Implicit parents of a dotted key (`a.b = 1`) get the same line if not seen yet.
                for end in range(len(table) + 1, len(full)):
                    self.lines.setdefault(full[:end], number)
                value = line[key.end() :]
                if value.count('"""') % 2 == 1 or value.count("'''") % 2 == 1:
                    in_multiline = True

    def find(self, *key: str) -> int | None:
        """The key's line, else its nearest enclosing table's line."""
        for end in range(len(key), 0, -1):
            line = self.lines.get(tuple(key[:end]))
            if line is not None:
                return line
        return None
