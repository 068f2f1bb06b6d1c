"""`python -m bench`: every figure measured side by side with its baseline, printed as one table.

    python -m bench                 # the full run (medians of 5 runs each; under 10 minutes on 2 cores)
    python -m bench --quick         # a fast pass with small sizes and 3 runs (a smoke check, not the figures)
    python -m bench --only live     # one figure (startup, keys, live, scale, poll, sink, submission, batch, pull, preview, stats, serve)
    python -m bench --json out.json # also save the numbers

A figure that fails or cannot run prints "not measured: <why>" in its row; nothing is ever filled in.
See bench/README.md for how each figure is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench._common import Row, Stat, not_measured

FIGURES = ("startup", "keys", "live", "scale", "poll", "sink", "submission", "batch", "pull", "preview", "stats", "serve")

# name -> (target text for a "not measured" row, full-run keyword args, quick-run keyword args)
PLANS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "startup": (
        "≤ 1.2× stock app; idle ≤ 1 % of a core",
        {"runs": 5, "idle_runs": 3, "idle_seconds": 6.0},
        {"runs": 3, "idle_runs": 1, "idle_seconds": 2.0},
    ),
    "keys": ("≤ 50 ms p50 per key", {"runs": 3, "presses": 20}, {"runs": 1, "presses": 5}),
    "live": (
        "p99 ≤ 30 / 100 ms; key ≤ 16 ms; CPU ≤ 0.25 core at 1,000/s",
        {"runs": 5, "rates": (1000, 10000), "seconds": 5.0, "rows": 10_000},
        {"runs": 3, "rates": (1000, 10000), "seconds": 1.5, "rows": 10_000},
    ),
    "scale": ("≥ 50× DataTable", {"runs": 5, "jobs": 100_000}, {"runs": 3, "jobs": 10_000}),
    "poll": ("≤ 2/cycle + 1/finished; ≥ 100× fewer", {"runs": 5, "jobs": 1000}, {"runs": 3, "jobs": 200}),
    "sink": ("≥ 3× seed loop", {"runs": 5, "results": 10_000}, {"runs": 3, "results": 1000}),
    "submission": ("≥ 5× seed loop", {"runs": 5, "prompts": 1000}, {"runs": 3, "prompts": 200}),
    "batch": ("≤ 2 s", {"runs": 5}, {"runs": 3, "seeds": 10}),
    # 3 runs: the SDK loop waits ~25 s a run at 20 ms (one round trip per file), and each run moves 2 GB.
    "pull": ("≥ 5× SDK loop", {"runs": 3, "files": 1000}, {"runs": 1, "files": 100}),
    "preview": ("≤ 300 ms; cached ≤ 50 ms; frames ≤ 50 ms", {"runs": 5}, {"runs": 2}),
    "stats": ("≤ 100 ms", {"runs": 5, "jobs": 100_000}, {"runs": 3, "jobs": 10_000}),
    "serve": ("—", {"runs": 3}, {"runs": 1}),
}


def _runner(name: str) -> Callable[..., list[Row]]:
    import importlib

    module = importlib.import_module(f"bench.{name}")
    return module.run  # type: ignore[no-any-return]


def run_figure(name: str, quick: bool) -> list[Row]:
    target, full, fast = PLANS[name]
    try:
        return _runner(name)(**(fast if quick else full))
    except Exception as error:  # a figure that cannot run says why; the others still run
        logging.getLogger("bench").debug("figure %s failed", name, exc_info=True)
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        sys.stderr.write(f"bench: {name} failed:\n{traceback.format_exc()}\n")
        return [not_measured(name, target, f"{type(error).__name__}: {detail[:160]}")]


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_stat(stat: Stat | None) -> str:
    if stat is None:
        return "—"
    spread = f" ({_number(stat.low)}–{_number(stat.high)})" if stat.runs > 1 else ""
    return f"{_number(stat.median)} {stat.unit}{spread}".strip()


def format_ratio(row: Row) -> str:
    if row.ratio is None:
        return "—"
    if math.isinf(row.ratio):
        return f"∞ {row.ratio_label}"
    return f"{_number(row.ratio)} {row.ratio_label}"


def render_table(rows: Sequence[Row], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, show_lines=False, expand=False)
    table.add_column("figure", overflow="fold")
    table.add_column("comfyq (median, min–max)", overflow="fold")
    table.add_column("baseline", overflow="fold")
    table.add_column("ratio", justify="right")
    table.add_column("target", overflow="fold")
    table.add_column("met?", justify="center")
    for row in rows:
        if row.met is True:
            met = Text("✔", style="bold green")
        elif row.met is False:
            met = Text("✘", style="bold red")
        else:
            met = Text("—", style="dim")
        figure = Text(row.figure)
        if row.note:
            figure.append(f"\n{row.note}", style="dim")
        table.add_row(figure, format_stat(row.comfyq), format_stat(row.baseline), format_ratio(row), row.target, met)
    return table


def machine() -> dict[str, Any]:
    import textual

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "textual": getattr(textual, "__version__", "?"),
    }


def markdown(rows: Sequence[Row]) -> str:
    """The same table as Markdown (for the README's Performance section)."""
    lines = [
        "| figure | comfyq (median, min–max) | baseline | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = {True: "✔", False: "✘", None: "—"}[row.met]
        figure = row.figure + (f" <br><sub>{row.note}</sub>" if row.note else "")
        lines.append(
            f"| {figure} | {format_stat(row.comfyq)} | {format_stat(row.baseline)} | {format_ratio(row)} | "
            f"{row.target} | {met} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="comfyq's figures, each beside its baseline")
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 runs: a fast pass, not the figures")
    parser.add_argument("--only", action="append", choices=FIGURES, metavar="NAME",
                        help=f"run only this figure (repeatable): {', '.join(FIGURES)}")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also save the rows (and the machine) as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also save the table as Markdown")
    args = parser.parse_args(argv)

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped or saved: no folding
    chosen = [name for name in FIGURES if not args.only or name in args.only]
    started = time.time()
    rows: list[Row] = []
    for name in chosen:
        console.print(f"[dim]bench: {name}…[/dim]")
        figure_start = time.perf_counter()
        rows.extend(run_figure(name, args.quick))
        console.print(f"[dim]bench: {name} took {time.perf_counter() - figure_start:.0f} s[/dim]")
    duration = time.time() - started
    mode = "quick pass (small sizes, not the figures)" if args.quick else "medians of 5 runs"
    console.print(render_table(rows, f"comfyq vs baselines — {mode}, {duration:.0f} s on {os.cpu_count()} cores"))
    missed = [row.figure for row in rows if row.met is False]
    unmeasured = [row.figure for row in rows if row.note.startswith("not measured")]
    if missed:
        console.print(f"[red]targets missed: {len(missed)}[/red]")
    if unmeasured:
        console.print(f"[yellow]not measured: {', '.join(unmeasured)}[/yellow]")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine(), "quick": args.quick, "started": started, "duration_s": duration,
                 "rows": [row.to_dict() for row in rows]},
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
    if args.markdown:
        args.markdown.write_text(markdown(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
