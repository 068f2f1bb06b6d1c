"""Edit a text in the user's own editor: ``$VISUAL``, else ``$EDITOR``, else ``vi``, on a temporary file.

The caller passes how to step aside while the editor owns the terminal (the TUI passes ``App.suspend``), so this
module runs the same from the app and from tests, and never imports Textual.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path


class ExternalEditorError(Exception):
    """The external editor could not be started or did not finish cleanly; the message says which."""


def external_editor_command(env: Mapping[str, str] | None = None) -> list[str]:
    """``$VISUAL``, else ``$EDITOR``, else ``vi``, split like a shell would (``"code --wait"`` works)."""
    env = os.environ if env is None else env
    for name in ("VISUAL", "EDITOR"):
        value = env.get(name, "").strip()
        if value:
            try:
                command = shlex.split(value)
            except ValueError as error:
                raise ExternalEditorError(f"${name} cannot be split into a command ({error}): {value!r}") from None
            if command:
                return command
    return ["vi"]


def edit_text_externally(
    text: str,
    command: list[str],
    *,
    suspend: Callable[[], AbstractContextManager[object]],
    file_name: str = "workflow.json",
) -> str:
    """Write ``text`` to a temp file, run ``command + [file]`` inside ``suspend()``, return the file's new text.

    Raises ExternalEditorError when the editor is missing, exits non-zero or leaves an unreadable file; whatever
    ``suspend`` raises (Textual's SuspendNotSupported) goes to the caller. The temp file is always removed.
    """
    with tempfile.TemporaryDirectory(prefix="comfyq-edit-") as folder:
        path = Path(folder) / file_name
        path.write_text(text, encoding="utf-8")
        with suspend():
            try:
                status = subprocess.call([*command, str(path)])
            except OSError as error:
                raise ExternalEditorError(
                    f"cannot run the editor {command[0]!r}: {error.strerror or error} (set $VISUAL or $EDITOR)"
                ) from None
        if status != 0:
            raise ExternalEditorError(f"{shlex.join(command)} exited with status {status}; the workflow is unchanged")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ExternalEditorError(f"cannot read the edited file back: {error}") from None
