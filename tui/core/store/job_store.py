"""The durable job store (design.md §2 rule 1): the one owner of job state.

SQLite (stdlib ``sqlite3``) in WAL mode, in the user data dir. Each job is one row: the job as JSON (the source of
truth; its workflow in a column of its own, written once) plus the columns that are filtered, sorted or looked up
by, each with an index, so the newest page and every look-up stay index searches at 100k jobs. The row layout is in
rows.py, the schema in schema.py, opening and transactions in database.py, the filter language in query.py.

Every change goes through :func:`tui.core.jobs.apply_update` inside a write transaction, so illegal moves are
refused and duplicate or late events change nothing. Sink results are stored idempotently (sink_ledger.py): a
redelivery after a crash is harmless (design.md §2 rule 3).

Thread-safe: one connection, shared by the event loop and the sink watcher thread, guarded by a re-entrant lock.
Several processes (the TUI and a CLI command) may use the same file: SQLite's own locking plus a busy timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui.core.jobs import ACTIVE_STATES, FAILING_STATES, Job, JobState, JobUpdate, apply_update
from tui.core.row_decode import decode_row, stand_in
from tui.core.store.database import open_database, write_transaction
from tui.core.store.query import CHUNK, NEWEST_FIRST, NOT_RESUBMITTED, JobFilter, order_clause, where_clause
from tui.core.store.records import ActiveJob, AmbiguousJobId, JobNotFound, SinkResult
from tui.core.store.rows import SharedNodeEncoder, insert_job, insert_rows, new_row, save_job
from tui.core.store.scrub import scrubbed
from tui.core.store.sink_ledger import store_sink_results

# The seed inputs of a stored workflow as one JSON object {"NODE.seed": value} (exports), read by SQLite's JSON
# functions: a number under `seed` or `noise_seed` in any node's inputs (a link is a list, not a number).
_SEEDS_SQL = (
    "(SELECT json_group_object(node.key || '.' || input.key, input.value) FROM json_each(jobs.workflow) AS node, "
    "json_each(node.value, '$.inputs') AS input WHERE input.key IN ('seed', 'noise_seed') "
    "AND input.type IN ('integer', 'real'))"
)
# What `failed()` may return when asked by state; without states it returns the FAILING_STATES.
_RESUBMITTABLE_STATES = FAILING_STATES | {JobState.CANCELLED}
_STATE_VALUES = frozenset(state.value for state in JobState)
_WORKFLOW_CACHE_SIZE = 1024  # parsed workflows kept (by job id)

log = logging.getLogger(__name__)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _DuplicateRow(Exception):
    """An add_many row broke a UNIQUE constraint (carried out of the transaction, which rolls back)."""


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
        self._data_version: int | None = None
        self._db = open_database(self.path)  # ":memory:" stays ":memory:" (tests)

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
        """One write transaction under the store's lock: all or nothing, durable once it returns."""
        with self._lock, write_transaction(self._db, self.path) as db:
            yield db

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _job_of(self, row: Sequence[Any]) -> Job:
        """A Job from a row's (id, data, workflow) columns; an unreadable row gives an `unknown` stand-in that says
        why (one bad row must not break every listing that includes it), and is never written back."""
        job_id, data, workflow_text = row[0], row[1], row[2]
        workflow: dict[str, Any] | None | _Unreadable
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

    def add(self, job: Job) -> Job:
        """Store a new job before anything is sent (write-ahead). Sets ``job.timestamps['submitting']`` (in place)
        when missing. Raises ValueError when the id is already stored."""
        with self._transaction():
            insert_job(self._db, job, time.time())
        return job

    def add_many(self, jobs: Sequence[Job]) -> list[Job]:
        """Store many new jobs in one transaction (all or none).

        A batch's jobs share most of their graph (tui/core/batch.py): each shared node is encoded once, and the
        rows go in with one executemany — 10,000 sweep jobs were 2.3 s one encode and one execute at a time."""
        now = time.time()
        encode = SharedNodeEncoder()
        rows = [new_row(job, now, encode) for job in jobs]
        try:
            with self._transaction():
                try:
                    insert_rows(self._db, rows)
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
            changed = apply_update(job, scrubbed(update))
            if changed is not None:
                save_job(self._db, changed, time.time())
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
                result = apply_update(job, scrubbed(update), now)
                if result is not None:
                    current[update.job_id] = result
                    changed[update.job_id] = result
            for job in changed.values():
                save_job(self._db, job, now)
        return list(changed.values())


    def upsert_sink_results(self, results: Sequence[SinkResult]) -> list[Job]:
        """Store sink results in ONE transaction; durable (against a process kill) when this returns, so the
        caller may then commit the sink indexes. Idempotent: see tui/core/store/sink_ledger.py."""
        if not results:
            return []
        now = time.time()
        results = [scrubbed(result) for result in results]
        with self._transaction() as db:
            return store_sink_results(db, results, now, read_job=self._job_of, unreadable=self._unreadable)

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
            for start in range(0, len(unique), CHUNK):
                chunk = unique[start : start + CHUNK]
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

    def known_prompt_ids(self, profile: str, prompt_ids: Sequence[str]) -> set[str]:
        """Which of these prompt_ids a job of `profile` already has (ours or external): index look-ups."""
        known: set[str] = set()
        unique = list(dict.fromkeys(prompt_ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start:start + CHUNK]
            rows = self._query(
                f"SELECT prompt_id FROM jobs WHERE profile = ? AND prompt_id IN ({', '.join('?' * len(chunk))})",
                [profile, *chunk],
            )
            known.update(str(row[0]) for row in rows)
        return known

    def add_external_prompts(self, jobs: Sequence[tuple[Job, JobUpdate | None]]) -> list[Job]:
        """Store jobs other clients put on a dedicated server (each with the update that settles it, if finished),
        once per (profile, prompt_id) whoever asks: two comfyq processes following the same server both find the same
        prompt; the second finds it stored and adds nothing. Returns the jobs stored now."""
        added: list[Job] = []
        now = time.time()
        with self._transaction() as db:
            for job, update in jobs:
                if job.prompt_id is None or db.execute(
                    "SELECT 1 FROM jobs WHERE prompt_id = ? AND profile = ? LIMIT 1", (job.prompt_id, job.profile)
                ).fetchone():
                    continue
                if update is not None:
                    job = apply_update(job, scrubbed(update), now) or job
                insert_job(self._db, job, now)
                added.append(job)
        return added

    # --------------------------------------------------------------------------- lists and counts

    def page(self, flt: JobFilter | None = None, *, limit: int = 100, offset: int = 0) -> list[Job]:
        """Jobs matching `flt`, newest first."""
        sql, params = self._page_sql(flt, limit, offset)
        return self._jobs(sql, params)

    @staticmethod
    def _page_sql(flt: JobFilter | None, limit: int, offset: int) -> tuple[str, list[Any]]:
        where, params = where_clause(flt)
        return f"SELECT id, data, workflow FROM jobs{where} ORDER BY {NEWEST_FIRST} LIMIT ? OFFSET ?", [*params, limit, offset]

    def ids(self, flt: JobFilter | None = None, *, order: str = "submitted", descending: bool = True) -> list[str]:
        """Every matching job id, in order (the job table's index). Only the id column is read."""
        sql, params = self._ids_sql(flt, order, descending, time.time())
        return [row[0] for row in self._query(sql, params)]

    @staticmethod
    def _ids_sql(flt: JobFilter | None, order: str, descending: bool, now: float) -> tuple[str, list[Any]]:
        where, params = where_clause(flt)
        order_sql, order_params = order_clause(order, descending, now)
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

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query over the `jobs` table (reports such as tui/core/stats.py; the columns are
        the ones MIGRATIONS creates). Never use it to write: every change goes through the transition function."""
        return self._query(sql, params)

    def iter_jobs(self, flt: JobFilter | None = None, *, chunk: int = 500) -> Iterator[Job]:
        """Every matching job, oldest first, without its workflow, read `chunk` rows at a time: an export of 100k
        jobs holds one chunk in memory, and no read snapshot stays open between chunks (writers are never held up).
        """
        for job, _seeds in self._iter_rows(flt, chunk, "NULL"):
            yield job

    def iter_jobs_with_seeds(self, flt: JobFilter | None = None, *, chunk: int = 500) -> Iterator[tuple[Job, dict[str, Any]]]:
        """As :meth:`iter_jobs`, each job with the seeds its workflow was sent with (`{"3.seed": 42}`): read inside
        SQLite from the stored workflow, so no workflow is parsed in Python."""
        for job, seeds in self._iter_rows(flt, chunk, _SEEDS_SQL):
            yield job, (json.loads(seeds) if seeds else {})

    def _iter_rows(self, flt: JobFilter | None, chunk: int, extra: str) -> Iterator[tuple[Job, Any]]:
        where, params = where_clause(flt)
        condition = where.removeprefix(" WHERE ")
        sql = (
            f"SELECT seq, id, data, {extra} FROM jobs WHERE seq > ?{' AND ' + condition if condition else ''} "
            "ORDER BY seq LIMIT ?"
        )
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(sql, [after, *params, chunk]).fetchall()
            for row in rows:
                yield Job.from_dict(json.loads(row[2])), row[3]
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def count(self, flt: JobFilter | None = None) -> int:
        where, params = where_clause(flt)
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
            f"SELECT state, COUNT(*) FROM jobs WHERE batch = ? AND {NOT_RESUBMITTED} GROUP BY state",
            (name,),
        )
        for state, n in rows:
            with contextlib.suppress(ValueError):
                counts[JobState(state)] = int(n)
        return counts

    def batch_latest_ids(self, name: str) -> list[str]:
        """The ids of a batch's latest attempts (what `wait --batch` follows), oldest first."""
        rows = self._query(
            f"SELECT id FROM jobs WHERE batch = ? AND {NOT_RESUBMITTED} ORDER BY submitted_at, seq",
            (name,),
        )
        return [row[0] for row in rows]

    def active(self, profile: str | None = None, *, with_workflow: bool = True) -> list[Job]:
        """Jobs still submitting, queued or running, oldest first (what a start reconciles and follows).

        `with_workflow=False` leaves each job's `workflow` None instead of reading and parsing it: for callers
        that look at states and ids of thousands of active jobs (a workflow may be tens of KB)."""
        flt = JobFilter(states=ACTIVE_STATES, profile=profile)
        where, params = where_clause(flt)
        workflow = "workflow" if with_workflow else "NULL"
        return self._jobs(f"SELECT id, data, {workflow} FROM jobs{where} ORDER BY submitted_at, seq", params)

    def active_summaries(self, profile: str | None = None) -> list[ActiveJob]:
        """The ids, states and queue places of the active jobs, oldest first, without building whole jobs: the
        few fields are read inside SQLite, so a queue monitor can look at 10k in-flight jobs every few seconds."""
        flt = JobFilter(states=ACTIVE_STATES, profile=profile)
        where, params = where_clause(flt)
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
                for start in range(0, len(frontier), CHUNK):
                    chunk = frontier[start : start + CHUNK]
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
        where, params = where_clause(replace(base, states=frozenset(states), latest_only=True))
        extra = "" if include_external else " AND external = 0"
        return self._jobs(f"SELECT id, data, workflow FROM jobs{where}{extra} ORDER BY submitted_at, seq", params)

    def failing_count(self, profile: str | None = None) -> int:
        """How many jobs are still failing (what the Failed quick filter, the status bar and `R` agree on)."""
        return self.count(JobFilter(states=FAILING_STATES, profile=profile, latest_only=True))

    def latest_attempts(self, ids: Sequence[str]) -> dict[str, Job]:
        """For each of `ids` that was resubmitted: the latest attempt in its chain below it (children, their
        children, ...), by submission order. Ids without a later attempt are absent."""
        latest: dict[str, tuple[int, str]] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
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
