"""The durable job store (design.md §2 rule 1): the one owner of job state.

SQLite (stdlib ``sqlite3``) in WAL mode, in the user data dir. Each job is one row: the job as JSON (the source of
truth; its workflow in a column of its own, written once) plus the columns that are filtered, sorted or looked up
by, each with an index, so the newest page and every look-up stay index searches at 100k jobs.

Every change goes through :func:`tui.core.jobs.apply_update` inside a write transaction, so illegal moves are
refused and duplicate or late events change nothing. Sink results are stored idempotently, keyed by
(profile, sink index) and by (profile, task_id): a redelivery after a crash is harmless (design.md §2 rule 3).

Thread-safe: one connection, shared by the event loop and the sink watcher thread, guarded by a re-entrant lock.
Several processes (the TUI and a CLI command) may use the same file: SQLite's own locking plus a busy timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from tui.core.jobs import (
    ACTIVE_STATES,
    FAILING_STATES,
    TERMINAL_STATES,
    Edition,
    Failure,
    Job,
    JobState,
    JobUpdate,
    Output,
    apply_update,
    new_job_id,
)
from tui.core.row_decode import decode_row, stand_in
from tui.core.secrets import redact

__all__ = [
    "ActiveJob",
    "AmbiguousJobId",
    "JobFilter",
    "JobNotFound",
    "JobStore",
    "MIGRATIONS",
    "ORDERS",
    "RAW_RESULT_LIMIT",
    "SCHEMA_VERSION",
    "SinkResult",
    "StoreError",
    "capped_raw_result",
    "job_search_text",
]


class StoreError(RuntimeError):
    """The job store cannot be opened or written (not a database, newer schema, locked, disk full ...)."""


def _damaged(path: Path, detail: str) -> str:
    """One line: what is wrong with the store file and what to do (comfyq writes nothing more into it)."""
    detail = detail.splitlines()[0][:200] if detail else "unknown damage"
    return (
        f"{path}: the job store is damaged ({detail}); comfyq will not write into it. Move it aside "
        f"(`comfyq locate` shows where it is) to start a new one, or recover rows with `sqlite3 FILE .recover`"
    )


class JobNotFound(LookupError):
    """No stored job has this id (or prefix, task_id, prompt_id)."""


class AmbiguousJobId(LookupError):
    """A prefix (or remote id) that matches more than one job; the message lists the candidates."""

    def __init__(self, query: str, candidates: Sequence[str], more: bool = False) -> None:
        self.query = query
        self.candidates = tuple(candidates)
        width = _distinguishing_width(self.candidates)
        shown = ", ".join(c[:width] for c in self.candidates)
        tail = ", …" if more else ""
        super().__init__(f"job id {query!r} is ambiguous: it matches {shown}{tail} (type more characters)")


def _distinguishing_width(ids: Sequence[str]) -> int:
    """Shortest length (at least 8, the usual short id) at which the ids all differ."""
    width = 8
    while width < max((len(i) for i in ids), default=0) and len({i[:width] for i in ids}) < len(ids):
        width += 1
    return width


# ---------------------------------------------------------------------------------------------------- filters

_STATE_ALIASES: dict[str, frozenset[JobState]] = {
    "active": ACTIVE_STATES,
    "done": TERMINAL_STATES,
}


def parse_states(value: str) -> tuple[frozenset[JobState] | None, list[str]]:
    """`failed,lost` / `active` / `done` / a prefix typed so far (`fai`) → states, plus the words not understood."""
    states: set[JobState] = set()
    unknown: list[str] = []
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    if not words:
        return None, []  # "state:" while the user is still typing: no constraint yet
    for word in words:
        named = {s.value: frozenset({s}) for s in JobState} | _STATE_ALIASES
        if word in named:
            states |= named[word]
            continue
        # The start of a name, typed so far ("fai"): every state or alias it could become.
        prefixed = [group for name, group in named.items() if name.startswith(word)]
        if prefixed:
            states.update(s for group in prefixed for s in group)
        else:
            unknown.append(word)
    return frozenset(states), unknown


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to show. None = no constraint. `text` words must all appear (case-insensitive) in a job's ids,
    failure message or output filenames."""

    states: frozenset[JobState] | None = None
    profile: str | None = None
    text: str | None = None
    batch: str | None = None  # a batch name or its start (`batch:spring` matches `spring-catalog`)
    # A typed `profile:sim` narrows like `state:` does, to every profile whose name starts so; a profile given by
    # the CLI's -p is one exact name.
    profile_prefix: bool = False
    # Only the latest attempt of each chain (`is:latest`): a job that was resubmitted is left out, so "failed" means
    # still failing. The store decides it (a later attempt is another row); `matches` cannot, see there.
    latest_only: bool = False
    batch_exact: bool = False  # `batch` is one whole name (`--batch NAME` once resolved), not a start
    # Parts of a typed query that were not understood (e.g. `state:bogus`), for the UI to point out.
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, query: str) -> JobFilter:
        """Parse what a user typed: ``state:failed,lost profile:sim-api bottle``.

        `state:` takes a comma list of states, `active` (submitting/queued/running), `done` (finished in any way),
        or the start of a state name (so the filter narrows while typing). Everything else is free text.
        Never raises: what it cannot understand is listed in `problems` (and an unknown state matches nothing).
        """
        states: set[JobState] | None = None
        profile: str | None = None
        batch: str | None = None
        latest_only = False
        words: list[str] = []
        problems: list[str] = []
        for token in query.split():
            key, sep, value = token.partition(":")
            key = key.lower()
            if sep and key == "state":
                parsed, unknown = parse_states(value)
                if unknown:
                    problems.append(f"state:{','.join(unknown)}: not a state (one of: "
                                    f"{', '.join(s.value for s in JobState)}, active, done)")
                if parsed is not None:
                    states = (states or set()) | set(parsed)
            elif sep and key == "profile":
                if value:
                    profile = value
            elif sep and key == "batch":
                if value:
                    batch = value
            elif sep and key == "is" and value.lower() == "latest":
                latest_only = True
            else:
                words.append(token)
        return cls(
            states=frozenset(states) if states is not None else None,
            profile=profile,
            text=" ".join(words) or None,
            batch=batch,
            latest_only=latest_only,
            profile_prefix=profile is not None,
            problems=tuple(problems),
        )

    @property
    def terms(self) -> tuple[str, ...]:
        """The lowercase words of `text`; each must appear in the job's search text."""
        return tuple(self.text.lower().split()) if self.text else ()

    @property
    def is_empty(self) -> bool:
        return (
            self.states is None and self.profile is None and self.batch is None and not self.latest_only
            and not self.terms
        )

    def to_query(self) -> str:
        """The filter as a query string :meth:`parse` reads back."""
        parts: list[str] = []
        if self.states is not None:
            if self.states == ACTIVE_STATES:
                parts.append("state:active")
            elif self.states == TERMINAL_STATES:
                parts.append("state:done")
            elif self.states:
                parts.append("state:" + ",".join(s.value for s in JobState if s in self.states))
        if self.profile is not None:
            parts.append(f"profile:{self.profile}")
        if self.batch is not None:
            parts.append(f"batch:{self.batch}")
        if self.latest_only:
            parts.append("is:latest")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    def matches(self, job: Job) -> bool:
        """The same test the store's SQL makes, for a job in memory (live updates of a filtered view).

        `latest_only` is not judged here (a job does not know its later attempts): a view that uses it drops a
        job's row when a later attempt of it arrives."""
        if self.states is not None and job.state not in self.states:
            return False
        if self.profile is not None and not (
            job.profile.startswith(self.profile) if self.profile_prefix else job.profile == self.profile
        ):
            return False
        if self.batch is not None and not (
            job.batch == self.batch if self.batch_exact else (job.batch or "").startswith(self.batch)
        ):
            return False
        terms = self.terms
        if terms:
            haystack = job_search_text(job)
            return all(term in haystack for term in terms)
        return True


def job_search_text(job: Job) -> str:
    """What free-text filters search: ids, the failure (message, node, exception), the warning, output files."""
    parts: list[str | None] = [job.id, job.task_id, job.prompt_id, job.request_id, job.warning]
    if job.failure is not None:
        parts += [job.failure.message, job.failure.class_type, job.failure.exception_type]
    for output in job.outputs:
        parts.append(f"{output.subfolder}/{output.filename}" if output.subfolder else output.filename)
    text = "\n".join(p for p in parts if p).lower()
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates → ?


@dataclass(frozen=True)
class ActiveJob:
    """What a queue monitor needs of an active job (JobStore.active_summaries)."""

    id: str
    profile: str
    state: JobState
    task_id: str | None
    queue_index: int | None
    queue_position: int | None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------------------------- sink results


@dataclass(frozen=True)
class SinkResult:
    """One parsed sink frame (API edition), ready to store."""

    profile: str
    sink_index: int
    task_id: str | None
    request_id: str | None
    state: JobState
    outputs: tuple[Output, ...] = ()
    failure: Failure | None = None
    raw_result: str | None = None
    prompt_id: str | None = None
    warning: str | None = None
    at: float | None = None

    def as_update(self, job_id: str) -> JobUpdate:
        return JobUpdate(
            job_id,
            state=self.state,
            at=self.at,
            # An empty tuple means "none reported", never "clear what is known".
            outputs=tuple(self.outputs) if self.outputs else None,
            failure=self.failure,
            warning=self.warning,
            raw_result=self.raw_result,
            prompt_id=self.prompt_id,
            request_id=self.request_id,
            sink_index=self.sink_index,
        )


# --------------------------------------------------------------------------------------------------- schema

def _move_workflows_out_of_data(db: sqlite3.Connection) -> None:
    """v2: version-1 rows carried the workflow inside `data`; move it to its own column."""
    rows = db.execute("SELECT seq, data FROM jobs").fetchall()
    for seq, data in rows:
        fields = json.loads(data)
        workflow = fields.pop("workflow", None)
        db.execute(
            "UPDATE jobs SET data = ?, workflow = ? WHERE seq = ?",
            (_dumps(fields), _dumps(workflow) if workflow is not None else None, seq),
        )


# Each entry moves the schema from version i to i + 1 (PRAGMA user_version): SQL statements, or a function of the
# connection for what SQL alone cannot do. All of one step run in one transaction. Append, never edit a released one.
MIGRATIONS: list[tuple[str | Callable[[sqlite3.Connection], None], ...]] = [
    (
        # seq: the rowid, monotonically increasing (AUTOINCREMENT never reuses one): stable insertion order.
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            profile TEXT NOT NULL,
            edition TEXT NOT NULL,
            state TEXT NOT NULL,
            submitted_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL,
            task_id TEXT,
            prompt_id TEXT,
            sink_index INTEGER,
            parent_id TEXT,
            external INTEGER NOT NULL DEFAULT 0,
            output_count INTEGER NOT NULL DEFAULT 0,
            search_text TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL
        )
        """,
        # The newest page and ids(): an index walk, no sort; `id` makes ids() a covering-index scan.
        "CREATE INDEX jobs_by_submitted ON jobs (submitted_at DESC, seq DESC, id)",
        "CREATE INDEX jobs_by_state ON jobs (state, submitted_at DESC, seq DESC, id)",
        "CREATE INDEX jobs_by_profile ON jobs (profile, submitted_at DESC, seq DESC, id)",
        "CREATE INDEX jobs_by_task_id ON jobs (task_id, profile) WHERE task_id IS NOT NULL",
        "CREATE INDEX jobs_by_prompt_id ON jobs (prompt_id, profile) WHERE prompt_id IS NOT NULL",
        # One stored result per sink message: the key that makes redelivery harmless.
        "CREATE UNIQUE INDEX jobs_by_sink_index ON jobs (profile, sink_index) WHERE sink_index IS NOT NULL",
        "CREATE INDEX jobs_by_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL",
    ),
    (
        # v2: the workflow in a column of its own, written once at insert. A state or progress change then
        # rewrites only the small job record, not a workflow that may be tens of KB.
        "ALTER TABLE jobs ADD COLUMN workflow TEXT",
        _move_workflows_out_of_data,
    ),
    (
        # v3: what changed lately, so a running TUI sees jobs another comfyq process (the CLI) adds or settles.
        "CREATE INDEX jobs_by_updated ON jobs (updated_at)",
    ),
    (
        # v4: the batch a job was sent in (`batch:NAME`, `--batch NAME`): a column so a batch is one index range.
        "ALTER TABLE jobs ADD COLUMN batch TEXT",
        "UPDATE jobs SET batch = json_extract(data, '$.batch') WHERE json_extract(data, '$.batch') IS NOT NULL",
        "CREATE INDEX jobs_by_batch ON jobs (batch, submitted_at DESC, seq DESC, id) WHERE batch IS NOT NULL",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "id, profile, edition, state, submitted_at, updated_at, finished_at, task_id, prompt_id, sink_index, "
    "parent_id, external, output_count, search_text, batch, data"
)
_INSERT = f"INSERT INTO jobs ({_COLUMNS}, workflow) VALUES ({', '.join('?' * 17)})"
_UPDATE = (
    "UPDATE jobs SET profile = ?, edition = ?, state = ?, submitted_at = ?, updated_at = ?, finished_at = ?, "
    "task_id = ?, prompt_id = ?, sink_index = ?, parent_id = ?, external = ?, output_count = ?, search_text = ?, "
    "batch = ?, data = ? WHERE id = ?"
)
# The columns `_row_values` gives, in its order; a batch writer compares them with what is stored and sets only the
# ones that changed: SQLite then leaves alone every index none of whose columns is in the SET list.
_VALUE_COLUMNS = tuple(name.strip() for name in _COLUMNS.split(","))[1:]
_ALWAYS_SET = frozenset({"updated_at", "data"})
# A look-up for a batch write: the job (id, data, workflow) and its stored column values (as `_row_values`).
_STORED = f"seq, id, data, workflow, {', '.join(_VALUE_COLUMNS)}"

# Lifecycle order for sorting by state: active first (ascending), then how it ended.
_STATE_RANK_SQL = "CASE state " + " ".join(f"WHEN '{s.value}' THEN {i}" for i, s in enumerate(JobState)) + " END"
_NEWEST = "submitted_at DESC, seq DESC"
ORDERS = ("submitted", "state", "profile", "duration", "outputs", "updated", "id")

# A raw result (sink data, history entry) is kept for the detail view up to this many characters.
RAW_RESULT_LIMIT = 256 * 1024
RAW_RESULT_TRUNCATED = "[comfyq: raw result truncated"

# What `failed()` may return when asked by state; without states it returns the FAILING_STATES.
_RESUBMITTABLE_STATES = FAILING_STATES | {JobState.CANCELLED}
# No later attempt of this job exists (an index look-up on jobs_by_parent per row).
_NOT_RESUBMITTED = "NOT EXISTS (SELECT 1 FROM jobs AS child WHERE child.parent_id = jobs.id)"
_STATE_VALUES = frozenset(state.value for state in JobState)
_CHUNK = 500  # bound on SQL variables per IN (...) list
_WORKFLOW_CACHE_SIZE = 1024  # parsed workflows kept (by job id)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _column_text(value: Any) -> Any:
    """A text column's value: lone surrogates (a server may send "\\ud800" as valid JSON) cannot be encoded for
    SQLite, so the column gets U+FFFD in their place; `data` keeps the exact value (written with ensure_ascii)."""
    if isinstance(value, str) and not value.isascii() and _LONE_SURROGATE.search(value):
        return _LONE_SURROGATE.sub("\ufffd", value)
    return value


def _row_values(job: Job, now: float) -> tuple[Any, ...]:
    return tuple(_column_text(value) for value in _raw_row_values(job, now))


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
        _record(job),
    )


class _DuplicateRow(Exception):
    """An add_many row broke a UNIQUE constraint (carried out of the transaction, which rolls back)."""


class _SharedNodeEncoder:
    """Encodes workflows (as `_dumps` does) that share node objects, each shared node once: the jobs of a batch
    differ in a node or two and share the rest (a Workflow's graph is never edited in place)."""

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[Any, str]] = {}  # id(node) -> (the node, kept alive so ids stay unique; text)
        self._keys: dict[str, str] = {}  # node id -> '"node id":'

    def __call__(self, workflow: dict[str, Any] | None) -> str | None:
        if workflow is None:
            return None
        if not isinstance(workflow, dict) or not all(isinstance(key, str) for key in workflow):
            return _dumps(workflow)
        nodes = self._nodes
        keys = self._keys
        parts = []
        for key, node in workflow.items():
            cached = nodes.get(id(node))
            if cached is None or cached[0] is not node:
                cached = nodes[id(node)] = (node, _dumps(node))
            prefix = keys.get(key)
            if prefix is None:
                prefix = keys[key] = _dumps(key) + ":"
            parts.append(prefix + cached[1])
        return "{" + ",".join(parts) + "}"


def _record(job: Job) -> str:
    """The job as stored in `data`: everything but the workflow (a column of its own, written once)."""
    fields = job.to_dict()
    del fields["workflow"]
    return _dumps(fields)


# ensure_ascii (the default): a lone surrogate (bytes decoded with surrogateescape) is escaped, not a UTF-8 encode
# error. One encoder for every write (json.dumps with options builds a new one each call).
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _where(flt: JobFilter | None) -> tuple[str, list[Any]]:
    """The WHERE clause (with its parameters) for a filter; '' when it selects everything."""
    if flt is None:
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    if flt.states is not None:
        if not flt.states:
            clauses.append("0")
        else:
            clauses.append(f"state IN ({', '.join('?' * len(flt.states))})")
            params += sorted(s.value for s in flt.states)
    if flt.profile is not None and flt.profile_prefix:
        clauses.append("profile >= ? AND profile < ?")  # every name that starts so (see `batch` below)
        params += [flt.profile, flt.profile + "\U0010ffff"]
    elif flt.profile is not None:
        clauses.append("profile = ?")
        params.append(flt.profile)
    if flt.batch is not None and flt.batch_exact:
        clauses.append("batch = ?")
        params.append(flt.batch)
    elif flt.batch is not None:
        # A prefix, without LIKE's wildcards: a range on the batch index (every string that starts with the name
        # sorts between it and the name followed by the last code point).
        clauses.append("batch >= ? AND batch < ?")
        params += [flt.batch, flt.batch + "\U0010ffff"]
    if flt.latest_only:
        clauses.append(_NOT_RESUBMITTED)
    for term in flt.terms:
        clauses.append("instr(search_text, ?) > 0")
        params.append(term)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _order_by(order: str, descending: bool, now: float) -> tuple[str, list[Any]]:
    direction = "DESC" if descending else "ASC"
    if order == "submitted":
        return f"submitted_at {direction}, seq {direction}", []
    if order == "state":
        return f"{_STATE_RANK_SQL} {direction}, {_NEWEST}", []
    if order == "profile":
        return f"profile {direction}, {_NEWEST}", []
    if order == "duration":
        # Active jobs count up to now; a job without a duration sorts last either way.
        return f"(COALESCE(finished_at, ?) - submitted_at) {direction}, {_NEWEST}", [now]
    if order == "outputs":
        return f"output_count {direction}, {_NEWEST}", []
    if order == "updated":
        return f"updated_at {direction}, seq {direction}", []
    if order == "id":
        return f"id {direction}", []
    raise ValueError(f"cannot order jobs by {order!r} (one of: {', '.join(ORDERS)})")


# ---------------------------------------------------------------------------------------------------- store


_Scrubbable = TypeVar("_Scrubbable")  # JobUpdate or SinkResult: both carry raw_result, warning and failure


def capped_raw_result(text: str) -> str:
    """What the store keeps of a raw result: the first RAW_RESULT_LIMIT characters, and a note saying how long it
    was. The parsed outcome (outputs, failure) is taken from the whole answer before this; only the copy kept for
    a human to read is cut, so a 50 MB answer does not make a 50 MB row (rewritten on every later change)."""
    if len(text) <= RAW_RESULT_LIMIT:
        return text
    return f"{text[:RAW_RESULT_LIMIT]}\n{RAW_RESULT_TRUNCATED} after {RAW_RESULT_LIMIT:,} of {len(text):,} characters]"


def _scrubbed(item: _Scrubbable) -> _Scrubbable:
    """The update / result with every registered token masked in the text a service sent back (raw result,
    warning, failure), and the raw result capped (:func:`capped_raw_result`). A service that echoes the
    Authorization header into an error must not put the token into the store, the screen or an export."""
    changes: dict[str, Any] = {}
    for name in ("raw_result", "warning"):
        value = getattr(item, name)
        if value:
            # Mask before cutting: a token across the cut must not survive half-masked.
            clean = redact(value)
            if name == "raw_result":
                clean = capped_raw_result(clean)
            if clean != value:
                changes[name] = clean
    failure = item.failure
    if failure is not None:
        clean_failure = dataclasses.replace(
            failure,
            message=redact(failure.message),
            traceback=tuple(redact(line) for line in failure.traceback),
            node_errors=tuple(
                dataclasses.replace(error, message=redact(error.message), details=redact(error.details))
                for error in failure.node_errors
            ),
        )
        if clean_failure != failure:
            changes["failure"] = clean_failure
    return dataclasses.replace(item, **changes) if changes else item


def _same_result(holder: Job, result: SinkResult) -> bool:
    """Is `result` the one `holder` already stored at its sink index (a redelivery)? Ids decide; without ids to
    compare, assume it is (never store one result twice)."""
    if holder.request_id and result.request_id:
        return holder.request_id == result.request_id
    if holder.task_id and result.task_id:
        return holder.task_id == result.task_id
    return True


@dataclass(frozen=True)
class _Stored:
    """A job as read for a batch write, and its stored column values (in `_row_values` order)."""

    job: Job
    values: tuple[Any, ...]


_STORED_TASK_ID = 4 + _VALUE_COLUMNS.index("task_id")  # position of task_id in a `_STORED` row
_SINK_INDEX_VALUE = _VALUE_COLUMNS.index("sink_index")


class _SinkBatch:
    """One batch of sink results applied in order to the jobs they reach, in memory (JobStore.upsert_sink_results).

    Starts from the stored jobs that hold the batch's sink indexes and own its task ids; each result then sees
    what the results before it did (a second copy in the same batch is a redelivery, a task's second result
    updates the version the first one made), exactly as one transaction per result would.
    """

    def __init__(self, holders: dict[tuple[str, int], _Stored], owners: dict[tuple[str, str], _Stored]) -> None:
        self.jobs: dict[str, Job] = {}  # current version of every job touched or looked at, by id
        self.stored: dict[str, tuple[Any, ...]] = {}  # the stored column values of each stored job
        for found in [*holders.values(), *owners.values()]:
            self.jobs.setdefault(found.job.id, found.job)
            self.stored.setdefault(found.job.id, found.values)
        self.by_index: dict[tuple[str, int], str] = {key: found.job.id for key, found in holders.items()}
        self.by_task: dict[tuple[str, str], str] = {key: found.job.id for key, found in owners.items()}
        self.dirty: dict[str, None] = {}  # stored jobs to rewrite (ordered set)
        self.new: dict[str, None] = {}  # jobs to insert
        self.changed: dict[str, None] = {}  # what the caller publishes, in order of first change

    def add(self, result: SinkResult, now: float) -> None:
        key = (result.profile, result.sink_index)
        holder_id = self.by_index.get(key)
        if holder_id is not None:
            holder = self.jobs[holder_id]
            if _same_result(holder, result):
                return  # redelivered: already stored
            # The sink was recreated and counts from 1 again (a new service, a restarted emulator): the old job
            # keeps its result, the index now names this one.
            self._put(dataclasses.replace(holder, sink_index=None), publish=False)
        target_id = self.by_task.get((result.profile, result.task_id)) if result.task_id else None
        if target_id is None:
            job = JobStore._external_job(result, now)
            self.new[job.id] = None
            if result.task_id:
                self.by_task[(result.profile, result.task_id)] = job.id
            self._put(job, publish=True)
            return
        target = self.jobs[target_id]
        updated = apply_update(target, result.as_update(target.id), now)
        if updated is not None:
            self._put(updated, publish=True)

    def _put(self, job: Job, *, publish: bool) -> None:
        """Make `job` the current version, keeping the sink-index map in step with it."""
        previous = self.jobs.get(job.id)
        if previous is not None and previous.sink_index is not None and previous.sink_index != job.sink_index:
            old_key = (job.profile, previous.sink_index)
            if self.by_index.get(old_key) == job.id:
                del self.by_index[old_key]
        if job.sink_index is not None:
            self.by_index[(job.profile, job.sink_index)] = job.id
        self.jobs[job.id] = job
        if job.id not in self.new:
            self.dirty[job.id] = None
        if publish:
            self.changed[job.id] = None

    def _loses_index(self, job_id: str) -> bool:
        stored_index = self.stored[job_id][_SINK_INDEX_VALUE]
        return stored_index is not None and self.jobs[job_id].sink_index != stored_index

    def cleared_indexes(self) -> list[str]:
        """Stored jobs whose stored sink index this batch takes away or replaces (freed before any write)."""
        return [job_id for job_id in self.dirty if self._loses_index(job_id)]

    def updated_jobs(self) -> list[tuple[Job, tuple[Any, ...]]]:
        """Each stored job to rewrite with its stored values, as they are once `cleared_indexes` are freed."""
        writes = []
        for job_id in self.dirty:
            stored = self.stored[job_id]
            if self._loses_index(job_id):
                stored = (*stored[:_SINK_INDEX_VALUE], None, *stored[_SINK_INDEX_VALUE + 1 :])
            writes.append((self.jobs[job_id], stored))
        return writes

    def new_jobs(self) -> list[Job]:
        return [self.jobs[job_id] for job_id in self.new]

    def changed_jobs(self) -> list[Job]:
        return [self.jobs[job_id] for job_id in self.changed]


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Unreadable:
    reason: str


class JobStore:
    """Jobs in one SQLite file. Every method is safe to call from any thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._workflows: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._unreadable: set[str] = set()  # ids of rows read as `unknown` stand-ins: never written back
        self._memory = str(path) == ":memory:"
        self._data_version: int | None = None
        if not self._memory:
            self._create_private_file()
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves (BEGIN IMMEDIATE takes the write lock up front,
            # so two writers never deadlock upgrading a read lock).
            self._db = sqlite3.connect(
                str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot open the job store: {error}") from error
        try:
            self._configure()
            self._migrate()
            if not self._memory:
                self._check_integrity()
        except sqlite3.DatabaseError as error:
            self._db.close()
            text = str(error)
            if isinstance(error, sqlite3.OperationalError) and not any(
                word in text for word in ("malformed", "not a database", "corrupt")
            ):
                raise StoreError(f"{self.path}: cannot use the job store: {error}") from error  # locked, read-only, ...
            raise StoreError(_damaged(self.path, text)) from error
        except StoreError:
            self._db.close()
            raise
        if not self._memory:
            self._chmod_sidecars()

    # --------------------------------------------------------------------------- opening

    def _create_private_file(self) -> None:
        """Create the file 0600 before SQLite opens it: jobs hold workflows and results nobody else should read."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        except OSError as error:
            raise StoreError(f"{self.path}: cannot create the job store: {error.strerror or error}") from error

    def _check_integrity(self) -> None:
        """Refuse a damaged file at open (what `PRAGMA integrity_check` reports, by its quicker sibling that skips
        only the index-content cross-check): writing on into it could lose what is still readable."""
        rows = self._db.execute("PRAGMA quick_check(3)").fetchall()
        problems = [str(row[0]) for row in rows if row and row[0] != "ok"]
        if problems:
            raise StoreError(_damaged(self.path, "; ".join(problems)))

    def _chmod_sidecars(self) -> None:
        # SQLite creates -wal/-shm with the database file's mode; make sure anyway (an older file may differ).
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{self.path}{suffix}")
            with contextlib.suppress(OSError):
                if sidecar.exists():
                    os.chmod(sidecar, 0o600)

    def _configure(self) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout = 10000")  # another comfyq process may be writing: wait, do not fail
        if not self._memory:
            mode = self._switch_to_wal()
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch the job store to WAL mode (got {mode})")
        # synchronous=NORMAL is safe in WAL mode: every commit is written to the WAL file before COMMIT returns, so
        # a killed process (kill -9, crash) loses nothing committed; only an OS crash or power cut may roll back the
        # last few commits (the database itself never corrupts). FULL would fsync on every commit for that.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = OFF")

    def _switch_to_wal(self, patience: float = 10.0) -> str:
        """`PRAGMA journal_mode = WAL`, waiting out another process doing the same.

        Two processes opening a new store at once both ask for the exclusive lock the switch needs; SQLite answers
        one of them "database is locked" at once instead of waiting (waiting could deadlock), so the busy timeout
        does not cover it. The file keeps WAL mode once set, so the retry usually finds it done."""
        deadline = time.monotonic() + patience
        delay = 0.005
        while True:
            try:
                return str(self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: the job store has schema version {version}, newer than this comfyq knows "
                    f"({SCHEMA_VERSION}); upgrade comfyq or use another --data-dir"
                )
            while version < SCHEMA_VERSION:
                with self._transaction():
                    # Re-read inside the write lock: another process may have migrated meanwhile.
                    version = self._db.execute("PRAGMA user_version").fetchone()[0]
                    if version >= SCHEMA_VERSION:
                        break
                    for step in MIGRATIONS[version]:
                        if callable(step):
                            step(self._db)
                        else:
                            self._db.execute(step)
                    version += 1
                    self._db.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all or nothing, durable (against a process kill) once it returns."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise StoreError(f"{self.path}: cannot write the job store: {error}") from error
            try:
                yield self._db
            except BaseException as error:
                # SQLite may have rolled back already (e.g. disk full): never let that hide the real error.
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise StoreError(f"{self.path}: cannot write the job store: {error}") from error
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: cannot write the job store: {error}") from error

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _job_of(self, row: Sequence[Any]) -> Job:
        """A Job from a row's (id, data, workflow) columns; an unreadable row gives an `unknown` stand-in that says
        why (one bad row must not break every listing that includes it), and is never written back."""
        job_id, data, workflow_text = row[0], row[1], row[2]
        try:
            workflow = self._workflow(job_id, workflow_text)
        except (ValueError, RecursionError) as error:
            workflow = _Unreadable(f"its workflow is not valid JSON ({error})")
        if isinstance(workflow, _Unreadable):
            job, readable = stand_in(job_id, None, workflow.reason), False
        else:
            job, readable = decode_row(job_id, data, workflow)
        if readable:
            self._unreadable.discard(job.id)
        else:
            if job.id not in self._unreadable:
                log.warning("job store %s: row %s: %s", self.path, job.id, job.warning)
            self._unreadable.add(job.id)
        return job

    def _workflow(self, job_id: str, text: str | None) -> dict[str, Any] | None:
        # A job's workflow never changes once stored: parse it once and share it (callers copy before editing,
        # as workflow_from_dict does). This keeps a burst of progress updates from re-parsing big graphs.
        if text is None:
            return None
        cached = self._workflows.get(job_id)
        if cached is not None:
            self._workflows.move_to_end(job_id)
            return cached
        parsed = json.loads(text)
        self._workflows[job_id] = parsed
        if len(self._workflows) > _WORKFLOW_CACHE_SIZE:
            self._workflows.popitem(last=False)
        return parsed

    def _jobs(self, sql: str, params: Sequence[Any] = ()) -> list[Job]:
        """Run a query whose first columns are (id, data, workflow)."""
        with self._lock:
            return [self._job_of(row) for row in self._db.execute(sql, params).fetchall()]

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Job | None:
        with self._lock:
            # fetchall: the statement is finished at once, so no read snapshot stays open behind it.
            rows = self._db.execute(sql, params).fetchall()
            return self._job_of(rows[0]) if rows else None

    # --------------------------------------------------------------------------- writes

    def _insert(self, job: Job, now: float) -> None:
        job.timestamps.setdefault(JobState.SUBMITTING.value, now)
        try:
            workflow = _dumps(job.workflow) if job.workflow is not None else None
            self._db.execute(_INSERT, (_column_text(job.id), *_row_values(job, now), workflow))
        except sqlite3.IntegrityError as error:
            if self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone():
                raise ValueError(f"job {job.id} is already stored") from error
            raise ValueError(
                f"job {job.id}: profile {job.profile!r} already has a job for sink index {job.sink_index}"
            ) from error

    def _save(self, job: Job, now: float) -> None:
        values = _row_values(job, now)
        self._db.execute(_UPDATE, (*values, job.id))

    def add(self, job: Job) -> Job:
        """Store a new job before anything is sent (write-ahead). Sets ``job.timestamps['submitting']`` (in place)
        when missing. Raises ValueError when the id is already stored."""
        with self._transaction():
            self._insert(job, time.time())
        return job

    def add_many(self, jobs: Sequence[Job]) -> list[Job]:
        """Store many new jobs in one transaction (all or none).

        A batch's jobs share most of their graph (tui/core/batch.py): each shared node is encoded once, and the
        rows go in with one executemany — 10,000 sweep jobs were 2.3 s one encode and one execute at a time."""
        now = time.time()
        encode = _SharedNodeEncoder()
        rows = []
        for job in jobs:
            job.timestamps.setdefault(JobState.SUBMITTING.value, now)
            rows.append((job.id, *_row_values(job, now), encode(job.workflow)))
        try:
            with self._transaction():
                try:
                    self._db.executemany(_INSERT, rows)
                except sqlite3.IntegrityError as error:
                    raise _DuplicateRow() from error  # rolled back; the message is worked out below
        except _DuplicateRow as duplicate:
            raise self._duplicate_error(jobs) from duplicate.__cause__
        return list(jobs)

    def _duplicate_error(self, jobs: Sequence[Job]) -> ValueError:
        """Which job of a refused add_many clashes with a stored one (or with another of the batch), and how."""
        seen: set[str] = set()
        sinks: set[tuple[str, int]] = set()
        for job in jobs:
            stored = self._query("SELECT 1 FROM jobs WHERE id = ?", (job.id,))
            if job.id in seen or stored:
                return ValueError(f"job {job.id} is already stored")
            seen.add(job.id)
            if job.sink_index is not None:
                key = (job.profile, job.sink_index)
                taken = self._query("SELECT 1 FROM jobs WHERE profile = ? AND sink_index = ?", key)
                if key in sinks or taken:
                    return ValueError(
                        f"job {job.id}: profile {job.profile!r} already has a job for sink index {job.sink_index}"
                    )
                sinks.add(key)
        return ValueError("a job of the batch clashes with a stored one")

    def apply(self, update: JobUpdate) -> Job | None:
        """Apply one update through the transition function. Returns the changed job, or None when nothing changed
        (an illegal, duplicate or stale update). Raises JobNotFound for an unknown job id."""
        with self._transaction():
            job = self._one("SELECT id, data, workflow FROM jobs WHERE id = ?", (update.job_id,))
            if job is None:
                raise JobNotFound(f"no job {update.job_id}")
            if job.id in self._unreadable:
                return None  # a stand-in for a row that cannot be read: the row stays as it is
            changed = apply_update(job, _scrubbed(update))
            if changed is not None:
                self._save(changed, time.time())
            return changed

    def apply_many(self, updates: Sequence[JobUpdate]) -> list[Job]:
        """Apply updates in order, in one transaction. Returns each changed job once (its final version), in the
        order they first changed. Updates for job ids that are not stored are skipped."""
        if not updates:
            return []
        now = time.time()
        with self._transaction():
            current: dict[str, Job | None] = {}
            changed: dict[str, Job] = {}
            for update in updates:
                if update.job_id not in current:
                    current[update.job_id] = self._one("SELECT id, data, workflow FROM jobs WHERE id = ?", (update.job_id,))
                job = current[update.job_id]
                if job is None or job.id in self._unreadable:
                    continue
                result = apply_update(job, _scrubbed(update), now)
                if result is not None:
                    current[update.job_id] = result
                    changed[update.job_id] = result
            for job in changed.values():
                self._save(job, now)
        return list(changed.values())

    def upsert_sink_results(self, results: Sequence[SinkResult]) -> list[Job]:
        """Store sink results in ONE transaction; durable (against a process kill) when this returns, so the
        caller may then commit the sink indexes.

        Idempotent: a (profile, sink index) already stored changes nothing; else the job with (profile, task_id)
        gets the result; else a new external job is created (a task we never submitted: shown, not dropped).
        Returns the jobs that changed (new or updated), each once, in the order they first changed.

        A batch costs two look-ups (every job its indexes or task ids name) and one statement per kind of write,
        whatever its size: the results are applied in order to the jobs in memory, exactly as if each were
        stored on its own, and only the final versions are written.
        """
        if not results:
            return []
        now = time.time()
        results = [_scrubbed(result) for result in results]
        with self._transaction():
            batch = _SinkBatch(self._sink_holders(results), self._task_owners(results))
            for result in results:
                batch.add(result, now)
            stale = batch.cleared_indexes()
            if stale:
                # Free the indexes moving to other jobs first, so no write in between meets the unique index.
                self._db.executemany("UPDATE jobs SET sink_index = NULL WHERE id = ?", [(job_id,) for job_id in stale])
            self._write_changed(batch.updated_jobs(), now)
            for job in batch.new_jobs():
                self._insert(job, now)
        return batch.changed_jobs()

    def _sink_holders(self, results: Sequence[SinkResult]) -> dict[tuple[str, int], _Stored]:
        """The stored jobs holding the (profile, sink index) of any of `results`."""
        wanted: dict[str, list[int]] = {}
        for result in results:
            wanted.setdefault(result.profile, []).append(result.sink_index)
        found: dict[tuple[str, int], _Stored] = {}
        for profile, indexes in wanted.items():
            unique = list(dict.fromkeys(indexes))
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                sql = f"SELECT {_STORED} FROM jobs WHERE profile = ? AND sink_index IN ({', '.join('?' * len(chunk))})"
                for row in self._db.execute(sql, (profile, *chunk)).fetchall():
                    stored = self._stored_of(row)
                    if stored.job.sink_index is not None:
                        found[(profile, stored.job.sink_index)] = stored
        return found

    def _task_owners(self, results: Sequence[SinkResult]) -> dict[tuple[str, str], _Stored]:
        """For each (profile, task_id) of `results`: the first stored job with it (the one we submitted)."""
        wanted: dict[str, list[str]] = {}
        for result in results:
            if result.task_id:
                wanted.setdefault(result.profile, []).append(result.task_id)
        found: dict[tuple[str, str], tuple[int, _Stored]] = {}
        for profile, task_ids in wanted.items():
            unique = list(dict.fromkeys(task_ids))
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                sql = f"SELECT {_STORED} FROM jobs WHERE task_id IN ({', '.join('?' * len(chunk))}) AND profile = ?"
                for row in self._db.execute(sql, (*chunk, profile)).fetchall():
                    key = (profile, str(row[_STORED_TASK_ID]))
                    if key not in found or row[0] < found[key][0]:
                        found[key] = (row[0], self._stored_of(row))
        return {key: stored for key, (_, stored) in found.items()}

    def _stored_of(self, row: Sequence[Any]) -> _Stored:
        return _Stored(self._job_of(row[1:4]), tuple(row[4:]))

    def _write_changed(self, writes: Sequence[tuple[Job, tuple[Any, ...]]], now: float) -> None:
        """Rewrite stored jobs, setting only the columns whose values changed (one statement per set of columns).

        `writes` pairs each job's new version with its stored column values (`_row_values` order)."""
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for job, stored in writes:
            if job.id in self._unreadable:
                continue  # never over a row that could not be read
            values = _row_values(job, now)
            names: list[str] = []
            params: list[Any] = []
            for name, value, old in zip(_VALUE_COLUMNS, values, stored):
                if name in _ALWAYS_SET or value != old or type(value) is not type(old):
                    names.append(name)
                    params.append(value)
            params.append(job.id)
            groups.setdefault(tuple(names), []).append(tuple(params))
        for names, rows in groups.items():
            assignments = ", ".join(f"{name} = ?" for name in names)
            self._db.executemany(f"UPDATE jobs SET {assignments} WHERE id = ?", rows)

    @staticmethod
    def _external_job(result: SinkResult, now: float) -> Job:
        at = result.at if result.at is not None else now
        stamps = {JobState.SUBMITTING.value: at, result.state.value: at}
        return Job(
            id=new_job_id(),
            profile=result.profile,
            edition=Edition.API,
            workflow=None,
            state=result.state,
            task_id=result.task_id,
            prompt_id=result.prompt_id,
            request_id=result.request_id,
            sink_index=result.sink_index,
            timestamps=stamps,
            outputs=tuple(result.outputs),
            failure=result.failure,
            warning=result.warning,
            raw_result=result.raw_result,
            external=True,
        )

    # --------------------------------------------------------------------------- look-ups

    def get(self, job_id: str) -> Job:
        job = self._one("SELECT id, data, workflow FROM jobs WHERE id = ?", (job_id,))
        if job is None:
            raise JobNotFound(f"no job {job_id}")
        return job

    def get_many(self, ids: Sequence[str]) -> dict[str, Job]:
        """The stored jobs among `ids`, in the order asked (missing ids are left out)."""
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(ids))
        with self._lock:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                sql = f"SELECT id, data, workflow FROM jobs WHERE id IN ({', '.join('?' * len(chunk))})"
                for row in self._db.execute(sql, chunk).fetchall():
                    found[row[0]] = self._job_of(row)
        return {job_id: found[job_id] for job_id in unique if job_id in found}

    def find(self, id_or_prefix: str) -> Job:
        """What a user typed: an exact job id, else a unique id prefix, else an exact task_id or prompt_id.

        Raises JobNotFound, or AmbiguousJobId (listing the candidates) when it names more than one job.
        """
        query = id_or_prefix.strip()
        if not query:
            raise JobNotFound("no job id given")
        with self._lock:
            exact = self._one("SELECT id, data, workflow FROM jobs WHERE id = ?", (query,))
            if exact is not None:
                return exact
            candidates: list[str] = []
            for prefix in dict.fromkeys((query, query.lower())):
                candidates += [c for c in self._ids_with_prefix(prefix, 11) if c not in candidates]
            if len(candidates) == 1:
                return self.get(candidates[0])
            remote = self._query(
                "SELECT id FROM jobs WHERE task_id = ? UNION SELECT id FROM jobs WHERE prompt_id = ? LIMIT 11",
                (query, query),
            )
            if len(remote) == 1:
                return self.get(remote[0][0])
            if len(candidates) > 1:
                raise AmbiguousJobId(query, candidates[:10], more=len(candidates) > 10)
            if len(remote) > 1:
                ids = [row[0] for row in remote]
                raise AmbiguousJobId(query, ids[:10], more=len(ids) > 10)
        raise JobNotFound(f"no job matches {query!r} (not a job id, id prefix, task_id or prompt_id)")

    def _ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        # A range on the unique id index (LIKE would not use it: it is case-insensitive).
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._query("SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?", (prefix, upper, limit))
        return [row[0] for row in rows]

    def _by_task_id(self, profile: str, task_id: str) -> Job | None:
        return self._one(
            "SELECT id, data, workflow FROM jobs WHERE task_id = ? AND profile = ? ORDER BY seq LIMIT 1", (task_id, profile)
        )

    def _by_sink_index(self, profile: str, sink_index: int) -> Job | None:
        return self._one("SELECT id, data, workflow FROM jobs WHERE profile = ? AND sink_index = ?", (profile, sink_index))

    def by_task_id(self, profile: str, task_id: str) -> Job | None:
        return self._by_task_id(profile, task_id)

    def by_prompt_id(self, prompt_id: str, profile: str | None = None) -> Job | None:
        if profile is None:
            return self._one("SELECT id, data, workflow FROM jobs WHERE prompt_id = ? ORDER BY seq DESC LIMIT 1", (prompt_id,))
        return self._one(
            "SELECT id, data, workflow FROM jobs WHERE prompt_id = ? AND profile = ? ORDER BY seq DESC LIMIT 1", (prompt_id, profile)
        )

    def by_sink_index(self, profile: str, sink_index: int) -> Job | None:
        return self._by_sink_index(profile, sink_index)

    # --------------------------------------------------------------------------- lists and counts

    def page(self, flt: JobFilter | None = None, *, limit: int = 100, offset: int = 0) -> list[Job]:
        """Jobs matching `flt`, newest first."""
        sql, params = self._page_sql(flt, limit, offset)
        return self._jobs(sql, params)

    @staticmethod
    def _page_sql(flt: JobFilter | None, limit: int, offset: int) -> tuple[str, list[Any]]:
        where, params = _where(flt)
        return f"SELECT id, data, workflow FROM jobs{where} ORDER BY {_NEWEST} LIMIT ? OFFSET ?", [*params, limit, offset]

    def ids(self, flt: JobFilter | None = None, *, order: str = "submitted", descending: bool = True) -> list[str]:
        """Every matching job id, in order (the job table's index). Only the id column is read."""
        sql, params = self._ids_sql(flt, order, descending, time.time())
        return [row[0] for row in self._query(sql, params)]

    @staticmethod
    def _ids_sql(flt: JobFilter | None, order: str, descending: bool, now: float) -> tuple[str, list[Any]]:
        where, params = _where(flt)
        order_sql, order_params = _order_by(order, descending, now)
        return f"SELECT id FROM jobs{where} ORDER BY {order_sql}", [*params, *order_params]

    def query_plan(
        self,
        what: str = "page",
        flt: JobFilter | None = None,
        *,
        order: str = "submitted",
        descending: bool = True,
        limit: int = 100,
    ) -> list[str]:
        """SQLite's EXPLAIN QUERY PLAN lines for `page` or `ids` (tests and the benchmark check indexes are used)."""
        if what == "page":
            sql, params = self._page_sql(flt, limit, 0)
        elif what == "ids":
            sql, params = self._ids_sql(flt, order, descending, time.time())
        else:
            raise ValueError(f"no query plan for {what!r} (page or ids)")
        return [str(row[3]) for row in self._query("EXPLAIN QUERY PLAN " + sql, params)]

    def changed_elsewhere(self) -> bool:
        """Has another connection (another comfyq process) committed since the last call? Cheap: no table read."""
        with self._lock:
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        changed = self._data_version is not None and version != self._data_version
        self._data_version = version
        return changed

    def changed_since(self, since: float, *, limit: int = 10_000) -> list[Job]:
        """Jobs updated at or after `since` (unix time), oldest change first."""
        return self._jobs(
            "SELECT id, data, workflow FROM jobs WHERE updated_at >= ? ORDER BY updated_at LIMIT ?", (since, limit)
        )

    def count(self, flt: JobFilter | None = None) -> int:
        where, params = _where(flt)
        return int(self._query(f"SELECT COUNT(*) FROM jobs{where}", params)[0][0])

    def total(self) -> int:
        return self.count()

    def counts_by_state(self, profile: str | None = None) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, 0 included)."""
        counts = dict.fromkeys(JobState, 0)
        if profile is None:
            rows = self._query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        else:
            rows = self._query("SELECT state, COUNT(*) FROM jobs WHERE profile = ? GROUP BY state", (profile,))
        for state, n in rows:
            with contextlib.suppress(ValueError):
                counts[JobState(state)] = int(n)
        return counts

    def batch_names(self, prefix: str, *, limit: int = 100) -> list[str]:
        """The distinct batch names starting with `prefix`, in name order (a range on the batch index)."""
        rows = self._query(
            "SELECT DISTINCT batch FROM jobs WHERE batch >= ? AND batch < ? ORDER BY batch LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [row[0] for row in rows]

    def batch_counts(self, name: str) -> dict[JobState, int]:
        """The latest attempts of a batch (jobs not resubmitted) counted by state, every state present."""
        counts = dict.fromkeys(JobState, 0)
        rows = self._query(
            "SELECT state, COUNT(*) FROM jobs WHERE batch = ? "
            "AND NOT EXISTS (SELECT 1 FROM jobs AS child WHERE child.parent_id = jobs.id) GROUP BY state",
            (name,),
        )
        for state, n in rows:
            with contextlib.suppress(ValueError):
                counts[JobState(state)] = int(n)
        return counts

    def batch_latest_ids(self, name: str) -> list[str]:
        """The ids of a batch's latest attempts (what `wait --batch` follows), oldest first."""
        rows = self._query(
            "SELECT id FROM jobs WHERE batch = ? "
            "AND NOT EXISTS (SELECT 1 FROM jobs AS child WHERE child.parent_id = jobs.id) ORDER BY submitted_at, seq",
            (name,),
        )
        return [row[0] for row in rows]

    def active(self, profile: str | None = None, *, with_workflow: bool = True) -> list[Job]:
        """Jobs still submitting, queued or running, oldest first (what a start reconciles and follows).

        `with_workflow=False` leaves each job's `workflow` None instead of reading and parsing it: for callers
        that look at states and ids of thousands of active jobs (a workflow may be tens of KB)."""
        flt = JobFilter(states=ACTIVE_STATES, profile=profile)
        where, params = _where(flt)
        workflow = "workflow" if with_workflow else "NULL"
        return self._jobs(f"SELECT id, data, {workflow} FROM jobs{where} ORDER BY submitted_at, seq", params)

    def active_summaries(self, profile: str | None = None) -> list[ActiveJob]:
        """The ids, states and queue places of the active jobs, oldest first, without building whole jobs: the
        few fields are read inside SQLite, so a queue monitor can look at 10k in-flight jobs every few seconds."""
        flt = JobFilter(states=ACTIVE_STATES, profile=profile)
        where, params = _where(flt)
        rows = self._query(
            "SELECT id, profile, state, task_id, json_extract(data, '$.queue_index'), "
            f"json_extract(data, '$.queue_position') FROM jobs{where} ORDER BY submitted_at, seq",
            params,
        )
        return [
            ActiveJob(job_id, job_profile, JobState(state), task_id, _int_or_none(index), _int_or_none(position))
            for job_id, job_profile, state, task_id, index, position in rows
            if state in _STATE_VALUES  # (a row with a state no version wrote is shown as `unknown`, not followed)
        ]

    def children(self, job_id: str) -> list[Job]:
        """The resubmits of this job (parent_id = job_id), oldest first."""
        return self._jobs("SELECT id, data, workflow FROM jobs WHERE parent_id = ? ORDER BY seq", (job_id,))

    def chain(self, job_id: str) -> list[Job]:
        """Every attempt of the job's chain (its root and all resubmits below it), root first, then by creation.

        Raises JobNotFound for an unknown id.
        """
        with self._lock:
            job = self.get(job_id)
            seen = {job.id}
            while job.parent_id is not None and job.parent_id not in seen:
                parent = self._one("SELECT id, data, workflow FROM jobs WHERE id = ?", (job.parent_id,))
                if parent is None:
                    break  # the parent was removed: the chain starts here
                seen.add(parent.id)
                job = parent
            root = job
            found: dict[str, tuple[int, Job]] = {}
            frontier = [root.id]
            while frontier:
                next_frontier: list[str] = []
                for start in range(0, len(frontier), _CHUNK):
                    chunk = frontier[start : start + _CHUNK]
                    sql = f"SELECT seq, id, data, workflow FROM jobs WHERE parent_id IN ({', '.join('?' * len(chunk))})"
                    for row in self._db.execute(sql, chunk).fetchall():
                        seq, child = row[0], self._job_of(row[1:])
                        if child.id not in found and child.id != root.id:
                            found[child.id] = (seq, child)
                            next_frontier.append(child.id)
                frontier = next_frontier
        return [root] + [job for _, job in sorted(found.values(), key=lambda pair: pair[0])]

    def failed(self, flt: JobFilter | None = None, *, include_external: bool = False) -> list[Job]:
        """Jobs still failing (failed, lost, unknown, not resubmitted yet), oldest first.

        `flt` narrows further; when it names states, cancelled jobs can be asked for too. External jobs (no
        workflow, nothing to resubmit) are left out unless `include_external`.
        """
        base = flt or JobFilter()
        states = FAILING_STATES if base.states is None else _RESUBMITTABLE_STATES & base.states
        where, params = _where(replace(base, states=frozenset(states), latest_only=True))
        extra = "" if include_external else " AND external = 0"
        return self._jobs(f"SELECT id, data, workflow FROM jobs{where}{extra} ORDER BY submitted_at, seq", params)

    def failing_count(self, profile: str | None = None) -> int:
        """How many jobs are still failing (what the Failed quick filter, the status bar and `R` agree on)."""
        return self.count(JobFilter(states=FAILING_STATES, profile=profile, latest_only=True))

    def latest_attempts(self, ids: Sequence[str]) -> dict[str, Job]:
        """For each of `ids` that was resubmitted: the latest attempt in its chain below it (children, their
        children, ...), by submission order. Ids without a later attempt are absent."""
        latest: dict[str, tuple[int, str]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            rows = self._query(
                "WITH RECURSIVE later(root, id, seq) AS ("
                f" SELECT parent_id, id, seq FROM jobs WHERE parent_id IN ({', '.join('?' * len(chunk))})"
                " UNION ALL SELECT later.root, jobs.id, jobs.seq FROM jobs JOIN later ON jobs.parent_id = later.id"
                ") SELECT root, id, seq FROM later",
                chunk,
            )
            for root, job_id, seq in rows:
                if root not in latest or seq > latest[root][0]:
                    latest[root] = (seq, job_id)
        found = self.get_many([job_id for _, job_id in latest.values()])
        return {root: found[job_id] for root, (_, job_id) in latest.items() if job_id in found}
