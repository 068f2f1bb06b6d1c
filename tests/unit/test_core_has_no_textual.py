"""The core and the emulators must be usable without Textual (design.md §2 rule 4)."""

import pkgutil
import subprocess
import sys

import tui.core
import tui.sim


def _all_modules(package) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


def test_importing_core_and_sim_leaves_textual_out() -> None:
    modules = ["tui.core", "tui.sim", *_all_modules(tui.core), *_all_modules(tui.sim)]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(sys.modules))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
