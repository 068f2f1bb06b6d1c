"""The keys figure stays runnable and judges what a person sees (bench/keys.py); rows and numbers, never timing."""

from __future__ import annotations

import math

import pytest

from bench import keys

pytestmark = pytest.mark.timeout(300)

MAIN = [
    "╭─ Profiles ──────╮╭──────────────────────────╮",
    "│ ▶ sim-api  api  ││  state  id  profile       │",
    "│                 ││ ✔ succeeded 0000 sim      │",
    "╰─────────────────╯╰──────────────────────────╯",
]


def test_the_checks_look_at_titles_and_lines_not_widgets() -> None:
    assert keys.detail_closed(MAIN) and keys.help_closed(MAIN) and keys.form_closed(MAIN)
    assert not keys.detail_open(MAIN) and not keys.help_open(MAIN) and not keys.form_open(MAIN)
    detail = ["╭─ Job 0a1b2c3d ─────╮", "│ state succeeded    │"]
    assert keys.detail_open(detail) and not keys.detail_closed(detail)
    help_over_main = MAIN + ["  comfyq keys · esc closes  "]
    assert keys.help_open(help_over_main) and not keys.help_closed(help_over_main)
    form_over_main = MAIN + ["Saved to x.toml (comments kept)."]
    assert keys.form_open(form_over_main) and not keys.form_closed(form_over_main)
    assert list(keys._job_rows(MAIN)) == [2]  # from below the header to the pane's bottom border
    assert keys.click(6, 2) == "\x1b[<0;6;2M\x1b[<0;6;2m"


def test_keys_rows_for_every_key_on_both_sides() -> None:
    rows = keys.run(runs=1, presses=2)
    every_press = [f"{figure} (p50)" for figure in keys.LABELS.values()]
    first_press = list(keys.FIRST_LABELS.values())  # each screen's first open in a process: rows of their own
    assert [row.figure for row in rows] == every_press + first_press
    for row in rows:
        assert row.comfyq is not None and row.baseline is not None, row.note
        assert math.isfinite(row.comfyq.median) and row.comfyq.median >= 0
        assert math.isfinite(row.baseline.median) and row.baseline.median >= 0
        assert row.met in (True, False) and row.target == "≤ 50 ms"
    per_key, firsts = rows[: len(every_press)], rows[len(every_press) :]
    assert all("p99" in row.note for row in per_key)
    assert all(len(row.extra["comfyq_ms"]) == 1 for row in firsts)  # one press, one process (runs=1)
    presses = {row.figure: len(row.extra["comfyq_ms"]) for row in per_key}
    assert presses[per_key[-1].figure] == 4  # n and E each close the form: two closes a press
    assert all(len(row.extra["comfyq_ms"]) == len(row.extra["baseline_ms"]) for row in rows)
