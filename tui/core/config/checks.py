"""Checks of a loaded config against what only the app knows: [keymap] binding ids no binding has, and a [ui]
theme no theme has (`comfyq config check` passes the app's bindings and Textual's themes; the core knows neither).
Each issue names the file, the line and the key, and the closest valid name.
"""

from __future__ import annotations

import difflib

from tui.core.config.model import Config, ConfigIssue
from tui.core.config.toml_lines import LineIndex


def keymap_issues(config: Config, *, known_ids: set[str], themes: set[str]) -> list[ConfigIssue]:
    """[keymap] ids no binding has and a [ui] theme no theme has, each with its line and the closest name.

    The core does not know the app's bindings or Textual's themes: the caller (`config check`) passes them."""
    path = str(config.path) if config.path is not None else "<built-in>"
    try:
        index = LineIndex(config.path.read_text(encoding="utf-8")) if config.path is not None else LineIndex("")
    except (OSError, UnicodeDecodeError):
        index = LineIndex("")
    issues: list[ConfigIssue] = []
    for binding_id in config.keymap:
        if binding_id not in known_ids:
            close = difflib.get_close_matches(binding_id, sorted(known_ids), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else " (`?` in the app lists every binding id)"
            line = index.find("keymap", *binding_id.split("."))
            issues.append(ConfigIssue(path, line, f"keymap.{binding_id}", f"no binding has this id{hint}"))
    if config.theme is not None and config.theme not in themes:
        close = difflib.get_close_matches(config.theme, sorted(themes), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (one of: {', '.join(sorted(themes))})"
        issues.append(ConfigIssue(path, index.find("ui", "theme"), "ui.theme", f"no theme {config.theme!r}{hint}"))
    return issues
