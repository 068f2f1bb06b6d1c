"""The input limits comfyq checks are ComfyUI's own, as its /object_info declares them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.core.input_limits import LIMITS, InputLimit, limit_for

OBJECT_INFO = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui" / "00_get_object_info_all.json"


@pytest.mark.parametrize(("class_type", "name"), sorted(LIMITS))
def test_each_limit_is_what_comfyui_declares(class_type: str, name: str) -> None:
    declared = json.loads(OBJECT_INFO.read_text(encoding="utf-8"))[class_type]["input"]["required"][name][1]
    limit = LIMITS[(class_type, name)]
    assert (limit.minimum, limit.maximum) == (declared["min"], declared["max"])
    assert type(limit.minimum) is type(declared["min"])  # 0.0 for a FLOAT, 0 for an INT: messages spell them so
    if limit.multiple is not None:
        assert declared["step"] == limit.multiple


def test_problems_name_the_range_and_the_value() -> None:
    steps = limit_for("KSampler", "steps")
    assert steps is not None and steps.problem(20) is None
    assert steps.problem(0) == "takes 1 to 10000; 0 is not in range"
    assert InputLimit(0.0, 1.0).problem(1.5, "1.50") == "takes 0.0 to 1.0; 1.50 is not in range"
    width = limit_for("EmptyLatentImage", "width")
    assert width is not None and width.problem(512) is None
    assert width.problem(500) == "takes a multiple of 8 from 16 to 16384; 500 is not one"
    assert width.problem(8) == "takes a multiple of 8 from 16 to 16384; 8 is not one"
    assert limit_for("MyCustomNode", "steps") is None
