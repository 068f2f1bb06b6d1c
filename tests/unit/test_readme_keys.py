"""The README's keys and the app's bindings agree: every binding comfyq defines (app, screens, widgets) is named in
the README's "Using the app" section, and every key its key tables list is one the app binds."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import _character_to_key

import screens
import tui

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Using the app"

# How the README spells a key where Textual's name differs (single characters go through Textual's own table).
README_KEY_NAMES = {"esc": "escape", "↑": "up", "↓": "down", "pgup": "pageup", "pgdn": "pagedown", "del": "delete"}


@dataclass(frozen=True)
class Bound:
    owner: str  # module.Class
    keys: tuple[str, ...]  # Textual key names, e.g. ("shift+f2", "ctrl+shift+s")
    id: str | None


def key_name(spelled: str) -> str:
    """A key as the README writes it (`F2`, `shift+F2`, `/`, `esc`, `Y`) in Textual's naming (f2, shift+f2,
    slash, escape, Y)."""
    *modifiers, last = spelled.strip().split("+") if len(spelled.strip()) > 1 else [spelled.strip()]
    if last in README_KEY_NAMES:
        last = README_KEY_NAMES[last]
    elif len(last) == 1:
        last = _character_to_key(last)
    else:
        last = last.lower()
    return "+".join([modifier.lower() for modifier in modifiers] + [last])


def using_the_app(text: str) -> str:
    """The README's "Using the app" section (up to the next second-level heading)."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def key_table_keys(section: str) -> list[str]:
    """The keys in the first column of every table whose first header cell is "key"."""
    keys: list[str] = []
    in_table = False
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            in_table = False
        elif cells[0].lower() == "key":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            keys += backticked(cells[0])
    return keys


def comfyq_modules() -> list[ModuleType]:
    """Every module of the app's UI: `tui` (not the Textual-free core and emulators) and `screens`."""
    modules: list[ModuleType] = []
    for package in (tui, screens):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.startswith(("tui.core", "tui.sim")):
                continue
            modules.append(importlib.import_module(info.name))
    return modules


def comfyq_bindings() -> list[Bound]:
    """The bindings comfyq's own app, screens and widgets declare (each class's own BINDINGS, not Textual's)."""
    found: list[Bound] = []
    classes: set[type] = set()
    for module in comfyq_modules():
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, DOMNode) and cls.__module__ == module.__name__:
                classes.add(cls)
    for cls in sorted(classes, key=lambda c: (c.__module__, c.__qualname__)):
        for binding in cls.__dict__.get("BINDINGS", []):
            assert isinstance(binding, Binding), f"{cls.__qualname__}: write bindings as Binding(...) with an id"
            keys = tuple(key.strip() for key in binding.key.split(","))
            found.append(Bound(f"{cls.__module__}.{cls.__qualname__}", keys, binding.id))
    return found


def test_the_readme_key_names_read_as_textual_keys() -> None:
    assert key_name("F2") == "f2" and key_name("shift+F2") == "shift+f2" and key_name("ctrl+o") == "ctrl+o"
    assert key_name("/") == "slash" and key_name("?") == "question_mark" and key_name("[") == "left_square_bracket"
    assert key_name("esc") == "escape" and key_name("Y") == "Y" and key_name(":") == "colon"


def test_the_section_and_its_tables_are_found() -> None:
    section = using_the_app(README.read_text(encoding="utf-8"))
    keys = key_table_keys(section)
    # The three tables (main screen, workflow editor, job detail): a few rows of each.
    assert {"ctrl+s", "F2", "shift+F2", "Y", "["} <= set(keys), keys
    assert "state:failed" not in keys  # the first column only


def undocumented(readme: str, bindings: list[Bound]) -> list[str]:
    """The bindings none of whose keys the README's "Using the app" section names (in backticks)."""
    documented = {key_name(token) for token in backticked(using_the_app(readme))}
    return [f"{bound.owner} {','.join(bound.keys)} ({bound.id})" for bound in bindings
            if not documented.intersection(bound.keys)]


def unbound(readme: str, bindings: list[Bound]) -> list[str]:
    """The keys the README's key tables list that no binding (comfyq's, or Textual's App's own) has."""
    bound = {key for binding in bindings for key in binding.keys}
    bound |= {key.strip() for binding in App.BINDINGS if isinstance(binding, Binding) for key in binding.key.split(",")}
    return sorted({key for key in key_table_keys(using_the_app(readme)) if key_name(key) not in bound})


def test_every_binding_is_in_the_readme() -> None:
    bindings = comfyq_bindings()
    assert len(bindings) > 40 and any(bound.id == "editor.save_as" for bound in bindings)
    missing = undocumented(README.read_text(encoding="utf-8"), bindings)
    assert missing == [], "keys the app binds but README's 'Using the app' never names:\n" + "\n".join(missing)


def test_every_key_the_readme_tables_list_is_bound() -> None:
    stray = unbound(README.read_text(encoding="utf-8"), comfyq_bindings())
    assert stray == [], f"README's key tables list keys the app does not bind: {stray}"


def test_the_checks_catch_a_missing_and_a_stray_key() -> None:
    readme = (
        "# x\n## Using the app\nPress `ctrl+b` to hide it.\n\n| key | does |\n|---|---|\n"
        "| `F2` / `?` | save / help |\n| `ctrl+y` | nothing binds this |\n\n## Next\n| key | does |\n| `F9` | elsewhere |\n"
    )
    bindings = [Bound("a.Pane", ("f2",), "pane.save"), Bound("a.App", ("question_mark",), "app.help"),
                Bound("a.Screen", ("ctrl+b",), "main.sidebar"), Bound("a.Pane", ("f3", "ctrl+f3"), "pane.find")]
    assert undocumented(readme, bindings) == ["a.Pane f3,ctrl+f3 (pane.find)"]
    assert unbound(readme, bindings) == ["ctrl+y"]  # F9 is in another section
