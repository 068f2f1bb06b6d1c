"""A config without profiles yet is fine; misspelt binding ids and unknown themes are pointed out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tui.core.config import load_config, keymap_issues, save_profile


def test_a_config_with_only_ui_and_keymap_uses_the_built_in_profile(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[ui]\ntheme = "nord"\n\n[keymap]\nmain.submit = "f5"\n', encoding="utf-8")
    config = load_config(path, explicit=True)
    assert list(config.profiles) == ["local"] and config.uses_builtin_profile
    assert config.theme == "nord" and config.keymap == {"main.submit": "f5"}
    # Adding a first profile keeps `local` beside it (it was in use).
    save_profile(path, "farm", {"edition": "dedicated", "url": "http://127.0.0.1:8188/"})
    assert set(load_config(path, explicit=True).profiles) == {"farm"}


def test_misspelt_binding_ids_and_unknown_themes_name_line_and_closest(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[ui]\ntheme = "nordd"\n\n[keymap]\nmain.sumbit = "f5"\njobs.mark = "m"\n', encoding="utf-8")
    config = load_config(path, explicit=True)
    issues = keymap_issues(config, known_ids={"main.submit", "jobs.mark"}, themes={"nord", "textual-dark"})
    text = "\n".join(str(issue) for issue in issues)
    assert f"{path}:5" in text and "main.sumbit" in text and "main.submit" in text
    assert f"{path}:2" in text and "nordd" in text and "'nord'" in text
    assert "jobs.mark" not in text


def test_config_check_reports_them_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.a]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n\n[keymap]\nmain.sumbit = "f5"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--config", str(path), "--data-dir", str(tmp_path / "d"), "config", "check"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:6" in result.stderr and "main.submit" in result.stderr
