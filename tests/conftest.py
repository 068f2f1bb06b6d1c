"""Fixtures every test directory shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.core.workflow import seed_workflow


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    """The seed workflow (the SD1.5 txt2img graph), written to tmp_path/workflow.json."""
    path = tmp_path / "workflow.json"
    path.write_text(seed_workflow().to_json(), encoding="utf-8")
    return path
