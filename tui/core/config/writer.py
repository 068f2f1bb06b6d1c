"""Writing the config file back: profiles created, renamed, edited and removed, UI choices remembered, with the
user's comments and layout kept (tomlkit, plus line-level edits where tomlkit would move things). Every write goes
through tui/core/atomic_file.py (atomic, 0600), and a profile that would not load is refused before writing.

tomlkit is imported inside the functions that use it, deliberately: it costs ~35 ms, and the app imports this
module at start-up while writing happens only when the user saves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tui.core.atomic_file import write_atomically
from tui.core.config.model import ConfigError, ConfigIssue
from tui.core.config.parser import check_toml_syntax, parse_config_text
from tui.core.config.toml_lines import HEADER_RE, LineIndex, split_key
from tui.core.jobs import Edition


def _read_document(path: Path) -> Any:
    import tomlkit

    if not path.exists():
        return tomlkit.document()
    text = path.read_text(encoding="utf-8")
    try:
        return tomlkit.parse(text)
    except Exception as error:  # tomlkit's ParseError and friends: the file is broken, do not touch it
        check_toml_syntax(text, str(path))  # raises with tomllib's precise line
        raise ConfigError([ConfigIssue(str(path), None, "", f"TOML syntax error: {error}")]) from None


def write_private(path: Path, text: str) -> None:
    """Write a config file comfyq creates: atomically, mode 0600 (it may hold tokens)."""
    write_atomically(Path(path), text)


class _AnyVariable(Mapping[str, str]):
    """An environment where every variable is set: whether `token_env` is set *here* does not decide whether the
    profile may be saved (it may be set where comfyq runs next)."""

    def __getitem__(self, key: str) -> str:
        return "placeholder-token"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _check_profile_text(path: Path, text: str, name: str) -> None:
    """Refuse to write a profile that would not load (problems elsewhere in the file are not ours to block on)."""
    try:
        parse_config_text(text, str(path), _AnyVariable())
    except ConfigError as error:
        prefix = f"profiles.{name}"
        own = [
            issue
            for issue in error.issues
            if issue.key == prefix or issue.key.startswith(prefix + ".") or not issue.key or issue.key == "profiles"
        ]
        if own:
            raise ConfigError(own) from None


def _toml_value(value: Any) -> Any:
    """Tables given as dicts (e.g. `retry`) are written inline, so a profile stays one block under its header."""
    import tomlkit

    if isinstance(value, Edition):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        for key, item in value.items():
            inline[key] = _toml_value(item)
        return inline
    return value


def _insert_new_profile(text: str, name: str, fields: Mapping[str, Any]) -> str:
    """Put a new `[profiles.NAME]` right after the last line of the last profile, before any comment that
    introduces the next section (tomlkit would append it after that comment)."""
    import tomlkit

    table = tomlkit.table()
    for key, value in fields.items():
        if value is not None:
            table[key] = _toml_value(value)
    profiles = tomlkit.table(is_super_table=True)
    profiles[name] = table
    snippet = tomlkit.document()
    snippet["profiles"] = profiles
    block = tomlkit.dumps(snippet).strip("\n").splitlines()
    lines = text.splitlines()
    index = LineIndex(text)
    profile_lines = [line for key, line in index.lines.items() if key and key[0] == "profiles"]
    if not profile_lines:
        body = text.rstrip("\n")
        return (body + "\n\n" if body else "") + "\n".join(block) + "\n"
    end = max(profile_lines)  # 1-based: lines[end - 1] is that key's line
    # Continue over a value spanning lines (a multi-line array), stopping at a blank line, comment or header.
    while end < len(lines) and lines[end].strip() and not lines[end].lstrip().startswith(("#", "[")):
        end += 1
    new_lines = lines[:end] + [""] + block + lines[end:]
    if end < len(lines) and lines[end].strip():
        new_lines.insert(end + 1 + len(block), "")
    return "\n".join(new_lines) + "\n"


def _rename_profile_header(text: str, old_name: str, name: str) -> str:
    """Rewrite the `[profiles.OLD]` header line in place (tomlkit would move the table and its spacing)."""
    import tomlkit

    index = LineIndex(text)
    line_number = index.lines.get(("profiles", old_name), 0)
    lines = text.splitlines(keepends=True)
    header = HEADER_RE.match(lines[line_number - 1]) if line_number else None
    if header is None or split_key(header.group(1)) != ("profiles", old_name):
        # Not a plain header (e.g. an inline table under [profiles]): let tomlkit move it.
        document = tomlkit.parse(text)
        table = document["profiles"][old_name]
        document["profiles"].remove(old_name)
        document["profiles"][name] = table
        return tomlkit.dumps(document)
    original = lines[line_number - 1]
    new_key = "profiles." + tomlkit.key(name).as_string()
    lines[line_number - 1] = original[: header.start(1)] + new_key + original[header.end(1) :]
    return "".join(lines)


def save_profile(path: Path, name: str, fields: Mapping[str, Any], *, old_name: str | None = None) -> None:
    """Create or update `[profiles.NAME]`: keys in `fields` are set (a value of None removes the key), all other
    keys, comments and the rest of the file stay as they are. `old_name` renames a profile (in place)."""
    import tomlkit

    path = Path(path)
    if not name or not name.strip():
        raise ConfigError([ConfigIssue(str(path), None, "profiles", "a profile name must not be empty")])
    document = _read_document(path)
    profiles = document.get("profiles")
    renaming = old_name is not None and old_name != name
    if renaming:
        if profiles is not None and name in profiles:
            raise ConfigError([ConfigIssue(str(path), None, f"profiles.{name}", "a profile with this name exists")])
        if profiles is None or old_name not in profiles:
            raise ConfigError([ConfigIssue(str(path), None, f"profiles.{old_name}", "no such profile")])
    if profiles is None or (name not in profiles and not renaming):
        text = _insert_new_profile(document.as_string(), name, fields)
    else:
        table = profiles[old_name if renaming else name]
        for key, value in fields.items():
            if value is None:
                if key in table:
                    table.remove(key)
            else:
                table[key] = _toml_value(value)
        text = tomlkit.dumps(document)
        if renaming:
            text = _rename_profile_header(text, str(old_name), name)
    _check_profile_text(path, text, name)
    write_atomically(path, text)


def delete_profile(path: Path, name: str) -> None:
    """Remove `[profiles.NAME]`, keeping everything else in the file."""
    path = Path(path)
    document = _read_document(path)
    profiles = document.get("profiles")
    if profiles is None or name not in profiles:
        raise ConfigError([ConfigIssue(str(path), None, f"profiles.{name}", "no such profile")])
    text = _remove_profile_block(document.as_string(), name)
    if text is None:  # not a plain [profiles.NAME] block: let tomlkit remove it
        profiles.remove(name)
        text = document.as_string()
    write_atomically(path, text)


def _is_comment_or_blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _remove_profile_block(text: str, name: str) -> str | None:
    """Cut `[profiles.NAME]` (with its sub-tables and the comment lines right above its header) out of the text;
    the comments introducing the next section stay with it. None when the profile is not a header block."""
    lines = text.splitlines(keepends=True)
    start = None
    for number, line in enumerate(lines):
        header = HEADER_RE.match(line)
        if header and not line.lstrip().startswith("[[") and split_key(header.group(1)) == ("profiles", name):
            start = number
            break
    if start is None:
        return None
    end = len(lines)
    for number in range(start + 1, len(lines)):
        header = HEADER_RE.match(lines[number])
        if header and split_key(header.group(1))[:2] != ("profiles", name):
            end = number
            break
    while end > start + 1 and _is_comment_or_blank(lines[end - 1]):
        end -= 1  # the block before the next header introduces that header
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1  # a comment right above the header describes this profile
    kept = lines[:start] + lines[end:]
    # Do not leave two blank lines where the block was.
    if 0 < start < len(kept) and not kept[start - 1].strip() and not kept[start].strip():
        del kept[start]
    return "".join(kept)


def save_ui_settings(path: Path, *, theme: str | None = None) -> None:
    """Remember UI choices under `[ui]` (None leaves a setting untouched)."""
    import tomlkit

    path = Path(path)
    document = _read_document(path)
    if theme is None:
        return
    if "ui" not in document:
        document.add("ui", tomlkit.table())
    ui = document["ui"]
    if ui.get("theme") == theme:
        return
    ui["theme"] = theme
    write_atomically(path, document.as_string())
