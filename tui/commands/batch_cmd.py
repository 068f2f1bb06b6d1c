"""The batch parts of the job commands (issue 14): `--sweep` parsing, `--dry-run` output, the `--same-seed` note
and the `--notify` notification at the end of `submit --wait` / `wait`. Kept apart from jobs_cmd.py (the commands'
flow) so each stays one thing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tui.commands.session import Session
from tui.core.batch import SeedMode, job_count, plan_jobs
from tui.core.jobs import Job, JobState
from tui.core.notify import notification_sequence
from tui.core.safe_text import visible
from tui.core.sweep import SweepAxis, SweepError, parse_sweep
from tui.core.workflow import Workflow


def parse_sweeps(workflow: Workflow, specs: Sequence[str], cap: int) -> list[SweepAxis]:
    """Every `--sweep`; the first bad one is a SweepError naming it. Two sweeps of one input are refused."""
    axes: list[SweepAxis] = []
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        try:
            axis = parse_sweep(workflow, spec, cap=cap, base_dir=Path.cwd())
        except SweepError as error:
            raise SweepError(f"--sweep {visible(spec)}: {error}") from None
        key = (axis.node_id, axis.input_name)
        if key in seen:
            raise SweepError(f"--sweep {visible(spec)}: {axis.key} is swept already (by --sweep {visible(seen[key])})")
        seen[key] = spec
        axes.append(axis)
    return axes


def count_description(copies: int, axes: Sequence[SweepAxis]) -> str:
    """How a job count came about, for the cap message: `-n 5`, `the sweep 3 × 3 × 200`, `... × -n 2`."""
    if not axes:
        return f"-n {copies}"
    product = " × ".join(str(len(axis.values)) for axis in axes)
    return f"the sweep {product}" + (f" × -n {copies}" if copies > 1 else "")


def same_seed_note(workflow: Workflow, copies: int, same_seed: bool) -> str | None:
    """What identical copies cost: ComfyUI runs the first and answers the rest from its cache."""
    if not same_seed or copies < 2:
        return None
    return (f"--same-seed: the {copies} copies are identical; ComfyUI runs the first and serves the other "
            f"{copies - 1} from its cache (the same image {copies} times)")


def print_dry_run(
    session: Session, args: argparse.Namespace, workflow: Workflow, axes: Sequence[SweepAxis],
    params: Mapping[str, Any], batch: str,
) -> None:
    """The jobs `submit` would send, one per line with their parameters; nothing is stored or sent."""
    mode = SeedMode.from_flags(random_seed=args.random_seed, same_seed=args.same_seed)
    plan = plan_jobs(workflow, copies=args.count, axes=axes, seed_mode=mode, params=params,
                     cap=session.config.defaults.max_jobs)
    out = sys.stdout
    if args.json:
        for number, planned in enumerate(plan, 1):
            out.write(json.dumps({"job": number, "profile": args.profile, "batch": batch, "params": planned.params},
                                 ensure_ascii=False) + "\n")
    else:
        keys: list[str] = []
        for planned in plan[:1]:
            keys = list(planned.params)
        cells = [[str(number)] + [visible(planned.params.get(key, "")) for key in keys]
                 for number, planned in enumerate(plan, 1)]
        headers = ["#"] + [visible(key) for key in keys]
        widths = [max([len(header)] + [len(row[index]) for row in cells]) for index, header in enumerate(headers)]
        widths = [min(width, 40) for width in widths]

        def line(row: Sequence[str]) -> str:
            parts = [(text if len(text) <= width else text[: width - 1] + "…").ljust(width)
                     for text, width in zip(row, widths)]
            return "  ".join(parts).rstrip()

        out.write(line(headers) + "\n")
        for row in cells:
            out.write(line(row) + "\n")
    out.flush()
    count = job_count(args.count, axes)
    session.err.print(
        f"dry run: {count} job{'s' if count != 1 else ''} → {args.profile} (batch {batch}); nothing stored or sent",
        markup=False, highlight=False,
    )


def notify_end(session: Session, jobs: Sequence[Job], batch: str | None) -> None:
    """`--notify`: one desktop notification through the terminal (stderr, when it is one) saying how it ended."""

    stream = sys.stderr
    if not stream.isatty():
        return
    ended = sum(job.state.is_terminal for job in jobs)
    succeeded = sum(job.state is JobState.SUCCEEDED for job in jobs)
    title = f"comfyq: {batch}" if batch else "comfyq"
    body = f"{ended}/{len(jobs)} ended · ✔ {succeeded} ✘ {ended - succeeded}"
    # --notify asks for it even when the config says "off" (that setting is the app's default).
    mode = session.config.notify if session.config.notify != "off" else "terminal"
    sequence = notification_sequence(title, body, mode)
    if sequence:
        stream.write(sequence)
        stream.flush()
