"""A Job as a row of the `jobs` table, and the statements that write rows (the reading side is row_decode.py).

A row is the job as JSON in `data` (everything but the workflow, the source of truth), the workflow in a column of
its own (written once, at insert), and the columns that are filtered, sorted or looked up by, computed from the job
here: `row_values` gives them in `VALUE_COLUMNS` order. Some of those values have a twin in SQL (`FAILURE_NODE_SQL`,
`WAIT_SQL`, `RUN_SQL`) that a migration uses to fill the column of rows stored before it existed; change both
together. No Textual here.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence, Set
from typing import Any

from tui.core.jobs import Failure, Job, JobState
from tui.core.store.query import job_search_text

# ensure_ascii (the default): a lone surrogate (bytes decoded with surrogateescape) is escaped, not a UTF-8 encode
# error. One encoder for every write (json.dumps with options builds a new one each call).
dumps = json.JSONEncoder(separators=(",", ":")).encode


def failure_node(failure: Failure | None) -> str | None:
    """Where a failure points, for "failures by node": the input a validation error names (`ckpt_name`), else the
    node class that failed (`KSampler`); None when the service named neither."""
    if failure is None:
        return None
    if failure.node_errors:
        first = failure.node_errors[0]
        return first.input_name or first.class_type or None
    return failure.class_type or None


# `failure_node` in SQL, over the stored record (the v5 migration fills the column of existing rows with it).
FAILURE_NODE_SQL = (
    "CASE WHEN json_extract(data, '$.failure') IS NULL THEN NULL "
    "WHEN COALESCE(json_array_length(data, '$.failure.node_errors'), 0) > 0 THEN COALESCE("
    "NULLIF(json_extract(data, '$.failure.node_errors[0].input_name'), ''), "
    "NULLIF(json_extract(data, '$.failure.node_errors[0].class_type'), '')) "
    "ELSE NULLIF(json_extract(data, '$.failure.class_type'), '') END"
)


def job_wait_run(job: Job) -> tuple[float | None, float | None]:
    """(queue wait, run time) in seconds from the job's state timestamps: wait = running - submitting, run =
    finished - running; None for a job never seen running (and run None until it finished). A clock that stepped
    back counts as 0, never as negative time."""
    started, submitted, finished = job.started_at, job.submitted_at, job.finished_at
    if started is None:
        return None, None
    wait = max(0.0, started - submitted) if submitted is not None else None
    run = max(0.0, finished - started) if finished is not None else None
    return wait, run


# `job_wait_run` in SQL over the stored record (the v5 migration fills the columns of existing rows with it).
_STARTED = "json_extract(data, '$.timestamps.running')"
WAIT_SQL = f"CASE WHEN {_STARTED} IS NOT NULL THEN MAX(0, {_STARTED} - submitted_at) END"
RUN_SQL = f"CASE WHEN {_STARTED} IS NOT NULL AND finished_at IS NOT NULL THEN MAX(0, finished_at - {_STARTED}) END"

COLUMNS = (
    "id, profile, edition, state, submitted_at, updated_at, finished_at, task_id, prompt_id, sink_index, "
    "parent_id, external, output_count, search_text, batch, wait_s, run_s, failure_category, failure_node, data"
)
# The columns `row_values` gives, in its order; a batch writer compares them with what is stored and sets only the
# ones that changed: SQLite then leaves alone every index none of whose columns is in the SET list.
VALUE_COLUMNS = tuple(name.strip() for name in COLUMNS.split(","))[1:]
_INSERT = f"INSERT INTO jobs ({COLUMNS}, workflow) VALUES ({', '.join('?' * (len(VALUE_COLUMNS) + 2))})"
_UPDATE = f"UPDATE jobs SET {', '.join(f'{name} = ?' for name in VALUE_COLUMNS)} WHERE id = ?"
_ALWAYS_SET = frozenset({"updated_at", "data"})


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def column_text(value: Any) -> Any:
    """A text column's value: lone surrogates (a server may send "\\ud800" as valid JSON) cannot be encoded for
    SQLite, so the column gets U+FFFD in their place; `data` keeps the exact value (written with ensure_ascii)."""
    if isinstance(value, str) and not value.isascii() and _LONE_SURROGATE.search(value):
        return _LONE_SURROGATE.sub("\ufffd", value)
    return value


def row_values(job: Job, now: float) -> tuple[Any, ...]:
    return tuple(column_text(value) for value in _raw_row_values(job, now))


def _raw_row_values(job: Job, now: float) -> tuple[Any, ...]:
    submitted = job.submitted_at
    return (
        job.profile,
        job.edition.value,
        job.state.value,
        submitted if submitted is not None else now,
        now,
        job.finished_at,
        job.task_id,
        job.prompt_id,
        job.sink_index,
        job.parent_id,
        int(job.external),
        len(job.outputs),
        job_search_text(job),
        job.batch,
        *job_wait_run(job),
        job.failure.category.value if job.failure is not None else None,
        failure_node(job.failure),
        record(job),
    )


class SharedNodeEncoder:
    """Encodes workflows (as `dumps` does) that share node objects, each shared node once: the jobs of a batch
    differ in a node or two and share the rest (a Workflow's graph is never edited in place)."""

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[Any, str]] = {}  # id(node) -> (the node, kept alive so ids stay unique; text)
        self._keys: dict[str, str] = {}  # node id -> '"node id":'

    def __call__(self, workflow: dict[str, Any] | None) -> str | None:
        if workflow is None:
            return None
        if not isinstance(workflow, dict) or not all(isinstance(key, str) for key in workflow):
            return dumps(workflow)
        nodes = self._nodes
        keys = self._keys
        parts = []
        for key, node in workflow.items():
            cached = nodes.get(id(node))
            if cached is None or cached[0] is not node:
                cached = nodes[id(node)] = (node, dumps(node))
            prefix = keys.get(key)
            if prefix is None:
                prefix = keys[key] = dumps(key) + ":"
            parts.append(prefix + cached[1])
        return "{" + ",".join(parts) + "}"


def record(job: Job) -> str:
    """The job as stored in `data`: everything but the workflow (a column of its own, written once)."""
    fields = job.to_dict()
    del fields["workflow"]
    return dumps(fields)


def insert_job(db: sqlite3.Connection, job: Job, now: float) -> None:
    """Insert a new row for `job` (sets its `submitting` timestamp, in place, when missing). Raises ValueError
    when its id, or its (profile, sink index), is already stored."""
    job.timestamps.setdefault(JobState.SUBMITTING.value, now)
    try:
        workflow = dumps(job.workflow) if job.workflow is not None else None
        db.execute(_INSERT, (column_text(job.id), *row_values(job, now), workflow))
    except sqlite3.IntegrityError as error:
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone():
            raise ValueError(f"job {job.id} is already stored") from error
        raise ValueError(
            f"job {job.id}: profile {job.profile!r} already has a job for sink index {job.sink_index}"
        ) from error


def insert_rows(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows made by `new_row` in one statement (sqlite3.IntegrityError when one clashes)."""
    db.executemany(_INSERT, rows)


def new_row(job: Job, now: float, encode_workflow: SharedNodeEncoder) -> tuple[Any, ...]:
    """The INSERT parameters for a new job (sets its `submitting` timestamp, in place, when missing)."""
    job.timestamps.setdefault(JobState.SUBMITTING.value, now)
    return (job.id, *row_values(job, now), encode_workflow(job.workflow))


def save_job(db: sqlite3.Connection, job: Job, now: float) -> None:
    """Rewrite every column of a stored job's row but its workflow."""
    db.execute(_UPDATE, (*row_values(job, now), job.id))


def write_changed(
    db: sqlite3.Connection, writes: Sequence[tuple[Job, tuple[Any, ...]]], now: float, *, skip: Set[str]
) -> None:
    """Rewrite stored jobs, setting only the columns whose values changed (one statement per set of columns).

    `writes` pairs each job's new version with its stored column values (`row_values` order). Jobs whose id is in
    `skip` (rows that could not be read) are never written over."""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for job, stored in writes:
        if job.id in skip:
            continue
        values = row_values(job, now)
        names: list[str] = []
        params: list[Any] = []
        for name, value, old in zip(VALUE_COLUMNS, values, stored):
            if name in _ALWAYS_SET or value != old or type(value) is not type(old):
                names.append(name)
                params.append(value)
        params.append(job.id)
        groups.setdefault(tuple(names), []).append(tuple(params))
    for columns, rows in groups.items():
        assignments = ", ".join(f"{name} = ?" for name in columns)
        db.executemany(f"UPDATE jobs SET {assignments} WHERE id = ?", rows)
