"""The one atomic writer: old or new content, never half; modes kept or chosen; symlinks written through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui.core.atomic_file import atomic_writer, write_atomically


def test_new_file_is_private_by_default(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "config.toml"
    write_atomically(target, "token = 'x'\n")
    assert target.read_text() == "token = 'x'\n"
    assert target.stat().st_mode & 0o777 == 0o600


def test_existing_mode_is_kept_and_forced_mode_wins(tmp_path: Path) -> None:
    target = tmp_path / "flow.json"
    target.write_text("{}")
    os.chmod(target, 0o640)
    write_atomically(target, "{\"1\": {}}")
    assert target.stat().st_mode & 0o777 == 0o640
    write_atomically(target, "{}", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600


def test_failure_midway_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as stream:
            stream.write("half")
            raise RuntimeError("disk went away")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


def test_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomically(link, "[1]")
    assert link.is_symlink()
    assert real.read_text() == "[1]"


def test_missing_directory_is_refused_when_asked(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "nowhere" / "x.csv", "a", make_parents=False)
