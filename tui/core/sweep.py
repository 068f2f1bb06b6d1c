"""Parameter sweeps: `NODE.INPUT=5,7,9`, `NODE.INPUT=20..40:10`, `NODE.INPUT=@prompts.txt` (issue 14).

A sweep axis is one literal input and the values it takes; a submission sends the cartesian product of its axes
(tui/core/batch.py plans the jobs). Values are typed like the input's current value, exactly as `--set` types
them. Every problem is one SweepError line; nothing here touches the store or the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tui.core.workflow import Scalar, Workflow, WorkflowError

# An @FILE bigger than this is refused (a list of prompts is kilobytes; this is not a data loader).
SWEEP_FILE_MAX_BYTES = 8 * 1024 * 1024


class SweepError(ValueError):
    """A sweep that cannot be used; the message is one line."""


@dataclass(frozen=True)
class SweepAxis:
    node_id: str
    input_name: str
    values: tuple[Scalar, ...]

    @property
    def key(self) -> str:
        return f"{self.node_id}.{self.input_name}"


def parse_sweep(workflow: Workflow, spec: str, *, cap: int, base_dir: Path | None = None) -> SweepAxis:
    """`NODE.INPUT=VALUES` (node id or title, as `--set`) → a SweepAxis, or SweepError."""
    target, equals, text = spec.partition("=")
    if not equals or not target.strip():
        raise SweepError(f"{spec!r}: expected NODE.INPUT=VALUES (for example 3.cfg=5,7,9 or 3.steps=20..40:10)")
    try:
        node_id, input_name = workflow.resolve_target(target)
    except WorkflowError as error:
        raise SweepError(error.message) from None
    values = parse_values(workflow, node_id, input_name, text, cap=cap, base_dir=base_dir)
    return SweepAxis(node_id, input_name, values)


def parse_values(
    workflow: Workflow, node_id: str, input_name: str, text: str, *, cap: int, base_dir: Path | None = None
) -> tuple[Scalar, ...]:
    """The values of one axis: `@FILE` (one a line), `start..stop[:step]` (numbers, inclusive) or `a,b,c`."""
    current = workflow.nodes[node_id]["inputs"][input_name]
    where = f"{node_id}.{input_name}"
    stripped = text.strip()
    if stripped.startswith("@"):
        raw = _read_lines(stripped[1:], base_dir, cap)
    elif ".." in stripped and is_number_input(current):
        raw = _range(stripped, where, cap, whole=not _takes_fractions(workflow, node_id, input_name))
    else:
        raw = [part.strip() for part in text.split(",")]
        if any(part == "" for part in raw):
            raise SweepError(f"an empty value in the list (values are separated by commas)")
        if len(raw) > cap:
            raise SweepError(f"{len(raw):,} values, over the cap of {cap:,} jobs")
    try:
        return tuple(workflow.coerce(node_id, input_name, value) for value in raw)
    except WorkflowError as error:
        raise SweepError(error.message) from None


def looks_like_sweep(text: str) -> bool:
    """Would a number field's text be a list or a range (what the app's parameter form checks)?"""
    return "," in text or ".." in text


def is_number_input(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _takes_fractions(workflow: Workflow, node_id: str, input_name: str) -> bool:
    current = workflow.nodes[node_id]["inputs"][input_name]
    if isinstance(current, float):
        return True
    try:
        return isinstance(workflow.coerce(node_id, input_name, "0.5"), float)  # cfg exported as 8 takes 7.5
    except WorkflowError:
        return False


def _number(text: str, where: str, whole: bool) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise SweepError(f"{where}: {text.strip()!r} is not a number") from None
    if not number.is_finite():
        raise SweepError(f"{where}: {text.strip()!r} is not a finite number")
    if whole and number != number.to_integral_value():
        raise SweepError(f"{where} takes whole numbers; {text.strip()!r} is not one")
    return number


def _range(text: str, where: str, cap: int, *, whole: bool) -> list[Scalar]:
    """`start..stop[:step]`, both ends included; Decimal steps so 0.1 steps do not drift (1..2:0.1 ends at 2)."""
    start_text, _, rest = text.partition("..")
    stop_text, colon, step_text = rest.partition(":")
    if not start_text.strip() or not stop_text.strip() or (colon and not step_text.strip()):
        raise SweepError(f"a range is start..stop or start..stop:step (for example 20..40:10)")
    start = _number(start_text, where, whole)
    stop = _number(stop_text, where, whole)
    if colon:
        step = _number(step_text, where, whole)
        if step == 0:
            raise SweepError("the step of a range cannot be 0")
        if (stop - start) * step < 0:
            raise SweepError(
                f"a step of {step} never gets from {start} to {stop} (use "
                f"{start}..{stop}:{-step})"
            )
    else:
        step = Decimal(1) if stop >= start else Decimal(-1)
    count = int((stop - start) / step) + 1
    if count > cap:
        raise SweepError(f"{start_text.strip()}..{stop_text.strip()} gives {count:,} values, over the cap of {cap:,} jobs")
    values = [start + step * index for index in range(count)]
    if whole:
        return [int(value) for value in values]
    return [float(value) for value in values if math.isfinite(float(value))]


def _read_lines(name: str, base_dir: Path | None, cap: int) -> list[str]:
    """One value per line of a UTF-8 file; blank lines and lines starting with `#` are skipped."""
    if not name.strip():
        raise SweepError("@ needs a file name (for example @prompts.txt)")
    path = Path(name.strip()).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        with path.open("rb") as handle:
            data = handle.read(SWEEP_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        raise SweepError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise SweepError(f"{name}: is a directory, not a file of values") from None
    except OSError as error:
        raise SweepError(f"{name}: cannot read it: {error.strerror or error}") from None
    if len(data) > SWEEP_FILE_MAX_BYTES:
        raise SweepError(f"{name}: larger than {SWEEP_FILE_MAX_BYTES // (1024 * 1024)} MiB; not a list of values")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SweepError(f"{name}: not UTF-8 text (bad byte at offset {error.start})") from None
    values = [line.strip() for line in text.splitlines()]
    values = [line for line in values if line and not line.startswith("#")]
    if not values:
        raise SweepError(f"{name}: no values in it (blank lines and # lines are skipped)")
    if len(values) > cap:
        raise SweepError(f"{name}: {len(values):,} values, over the cap of {cap:,} jobs")
    return values
