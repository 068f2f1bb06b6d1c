"""Batches: what one submission becomes (issue 14).

One `comfyq submit`, one ctrl+s, one resubmit of many is a *batch*: a short name shared by its jobs (`Job.batch`),
so it can be listed, waited for, counted and retried as one thing. This module (no Textual, no network) holds

- the naming rules, in one place every command and the app (and `pull --batch`, per-batch stats) call:
  `default_batch_name`, `new_batch_name`, `check_batch_name`, `resolve_batch`;
- the job-count cap (`check_job_count`): `-n` copies times a sweep's product, refused before anything is stored;
- the plan of a batch (`plan_jobs`): the workflow of every job — copies with their own seeds, sweep combinations —
  built cheaply (each job's graph shares every node it does not change with the others; no deep copy per job);
- the progress of a batch (`batch_progress`): its latest attempts counted by state.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from tui.core.jobs import JobState
from tui.core.workflow import SEED_MAX, Workflow

if TYPE_CHECKING:
    from tui.core.store import JobStore
    from tui.core.sweep import SweepAxis

DEFAULT_MAX_JOBS = 10_000
DEFAULT_CONFIRM_ABOVE = 100
BATCH_NAME_MAX = 64

_NAME_OK = re.compile(r"[A-Za-z0-9._+@-]")
_STEM_BAD = re.compile(r"[^A-Za-z0-9._-]+")


class BatchError(ValueError):
    """A batch that cannot be made or found: one line for the user (the CLI exits 2, the app shows a toast)."""


# ----------------------------------------------------------------------------------------------------- names


def default_batch_name(source: str | None, now: float | None = None) -> str:
    """`<workflow file stem>-<MMDD-HHMMSS>` (local time), e.g. `sd15_txt2img-1203-104055`."""
    stem = ""
    if source:
        text = source.strip("<>")
        if text.startswith("seed "):  # the built-in example: "<seed sd15_txt2img>"
            text = text[5:]
        stem = PurePath(text).stem if not text.startswith("job ") else ""
    stem = _STEM_BAD.sub("-", stem).strip("-.")[:32] or "batch"
    stamp = time.strftime("%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    return f"{stem}-{stamp}"


def check_batch_name(name: str) -> str:
    """A name the user chose (`--name`), or BatchError. One word (it is typed as `batch:NAME` in a filter)."""
    if not name:
        raise BatchError("a batch name cannot be empty")
    if len(name) > BATCH_NAME_MAX:
        raise BatchError(f"a batch name has at most {BATCH_NAME_MAX} characters, this one has {len(name)}")
    bad = sorted({char for char in name if not _NAME_OK.fullmatch(char)})
    if bad:
        shown = " ".join(repr(char) for char in bad[:5])
        raise BatchError(f"a batch name uses letters, digits and . _ + @ - only, not {shown}")
    if name.startswith("-"):
        raise BatchError("a batch name cannot start with '-'")
    return name


def new_batch_name(store: JobStore | None, source: str | None, name: str | None = None,
                   now: float | None = None) -> str:
    """The batch of a new submission: the user's `name` as given (reusing a name adds to that batch), else the
    default name, made unique in the store with `-2`, `-3`, ... when one already exists that second."""
    if name:
        return check_batch_name(name)
    base = default_batch_name(source, now)
    if store is None:
        return base
    taken = set(store.batch_names(base, limit=1000))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def resolve_batch(store: JobStore, name: str) -> str:
    """The one batch `name` means: the batch of that exact name, else the only batch starting with it.
    BatchError when there is none or more than one (listing a few)."""
    found = store.batch_names(name, limit=11)
    if name in found:
        return name
    if len(found) == 1:
        return found[0]
    if not found:
        raise BatchError(f"no batch {name!r} (see `comfyq jobs` for the batches of recent jobs)")
    listed = ", ".join(found[:10]) + (", …" if len(found) > 10 else "")
    raise BatchError(f"{name!r} could be any of: {listed}; give more of the name")


# ----------------------------------------------------------------------------------------------------- cap


def check_job_count(count: int, cap: int, *, what: str = "") -> None:
    """Refuse more than `cap` jobs in one submission, saying how many and how to raise the cap."""
    if count > cap:
        raise BatchError(
            f"{what or 'this submission'} makes {count:,} jobs, over the cap of {cap:,} "
            f"(raise it with `max_jobs = {count}` under [defaults] in the config)"
        )


# ----------------------------------------------------------------------------------------------------- plan


class SeedMode(Enum):
    VARY = "vary"  # copy 1 keeps the workflow's seeds, every other copy gets its own (the default)
    SAME = "same"  # identical copies on purpose (ComfyUI serves copies 2..N from its cache)
    RANDOM = "random"  # every copy, the first included, gets new seeds (`--random-seed`)

    @classmethod
    def from_flags(cls, *, random_seed: bool = False, same_seed: bool = False) -> SeedMode:
        """The mode `--random-seed` / `--same-seed` (or the editor's same-seed box) ask for; random wins."""
        return cls.RANDOM if random_seed else cls.SAME if same_seed else cls.VARY


@dataclass(frozen=True)
class PlannedJob:
    """One job of a batch before it exists: its graph (shares unchanged nodes with its siblings; read-only) and
    the parameters shown for it (`--set` values, sweep values, seeds)."""

    nodes: dict[str, Any]
    params: dict[str, Any]


def job_count(copies: int, axes: Sequence[SweepAxis] = ()) -> int:
    return copies * math.prod(len(axis.values) for axis in axes)


def plan_jobs(
    workflow: Workflow,
    *,
    copies: int = 1,
    axes: Sequence[SweepAxis] = (),
    seed_mode: SeedMode = SeedMode.VARY,
    params: Mapping[str, Any] | None = None,
    cap: int = DEFAULT_MAX_JOBS,
    rng: random.Random | None = None,
) -> list[PlannedJob]:
    """Every job of a submission: each sweep combination (cartesian product, in the order given) times `copies`.

    Copy k of every combination has the same seeds (so a grid compares parameters, not noise); swept inputs are
    never re-seeded. The cap is checked before anything is built."""
    if copies < 1:
        raise BatchError(f"copies must be at least 1, not {copies}")
    check_job_count(job_count(copies, axes), cap)
    rng = rng or random.Random()
    base = workflow.nodes
    swept = {(axis.node_id, axis.input_name) for axis in axes}
    seeds = [key for key in workflow.seed_inputs() if key not in swept]
    seed_sets: list[dict[tuple[str, str], int]] = []
    for copy_index in range(copies):
        if seed_mode is SeedMode.SAME or (seed_mode is SeedMode.VARY and copy_index == 0):
            seed_sets.append({key: base[key[0]]["inputs"][key[1]] for key in seeds})
        else:
            seed_sets.append({key: rng.randint(0, SEED_MAX) for key in seeds})
    fixed = dict(params or {})
    combos: Iterable[tuple[Any, ...]] = itertools.product(*(axis.values for axis in axes)) if axes else [()]
    plan: list[PlannedJob] = []
    for combo in combos:
        swept_values = {(axis.node_id, axis.input_name): value for axis, value in zip(axes, combo)}
        for seed_set in seed_sets:
            changes: dict[str, dict[str, Any]] = {}
            for (node_id, name), value in itertools.chain(swept_values.items(), seed_set.items()):
                changes.setdefault(node_id, {})[name] = value
            nodes = base
            if changes:
                nodes = dict(base)
                for node_id, values in changes.items():
                    node = base[node_id]
                    nodes[node_id] = {**node, "inputs": {**node["inputs"], **values}}
            job_params = dict(fixed)
            for (node_id, name), value in itertools.chain(swept_values.items(), seed_set.items()):
                job_params[f"{node_id}.{name}"] = value
            plan.append(PlannedJob(nodes, job_params))
    return plan


def seed_params(workflow: Workflow) -> dict[str, int]:
    """`{"3.seed": 123, ...}`: the seeds of a graph, as a job's params carry them."""
    return {f"{node_id}.{name}": workflow.nodes[node_id]["inputs"][name] for node_id, name in workflow.seed_inputs()}


def job_seed(params: Mapping[str, Any], workflow: Mapping[str, Any] | None = None) -> int | None:
    """The job's (first) seed: from its params, else read from its graph (jobs from before seeds were recorded)."""
    for key, value in params.items():
        if key.rpartition(".")[2] in ("seed", "noise_seed") and isinstance(value, int) and not isinstance(value, bool):
            return value
    if workflow:
        try:
            found = Workflow(dict(workflow)).seed_inputs()
        except (KeyError, TypeError, AttributeError):
            return None
        if found:
            node_id, name = found[0]
            return workflow[node_id]["inputs"][name]
    return None


# ----------------------------------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class BatchProgress:
    """A batch counted by its latest attempts (a failed job that was resubmitted counts as its resubmit)."""

    name: str
    counts: dict[JobState, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ended(self) -> int:
        return sum(n for state, n in self.counts.items() if state.is_terminal)

    @property
    def succeeded(self) -> int:
        return self.counts.get(JobState.SUCCEEDED, 0)

    @property
    def failed(self) -> int:
        return self.ended - self.succeeded

    @property
    def done(self) -> bool:
        return self.total > 0 and self.ended == self.total

    def summary(self) -> str:
        """`spring-catalog 112/200 ✔ 109 ✘ 3`."""
        return f"{self.name} {self.ended}/{self.total} ✔ {self.succeeded} ✘ {self.failed}"


def batch_progress(store: JobStore, name: str) -> BatchProgress:
    return BatchProgress(name, store.batch_counts(name))
