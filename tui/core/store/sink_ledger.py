"""Sink idempotency: storing EAS sink results so a redelivery changes nothing (design.md §2 rule 3).

A sink result is keyed by (profile, sink index) — one stored result per sink message, a unique index — and by
(profile, task_id), which names the job comfyq submitted. `store_sink_results` applies a whole batch in memory, in
order, exactly as one transaction per result would, and writes only the final version of each job it touched:
a batch costs two look-ups and one statement per kind of write, whatever its size. No Textual here.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from typing import Any

from tui.core.jobs import Edition, Job, JobState, apply_update, new_job_id
from tui.core.store.query import CHUNK
from tui.core.store.records import SinkResult
from tui.core.store.rows import VALUE_COLUMNS, insert_job, write_changed

# A look-up for a batch write: the job (id, data, workflow) and its stored column values (as `row_values`).
_STORED = f"seq, id, data, workflow, {', '.join(VALUE_COLUMNS)}"
_STORED_TASK_ID = 4 + VALUE_COLUMNS.index("task_id")  # position of task_id in a `_STORED` row
_SINK_INDEX_VALUE = VALUE_COLUMNS.index("sink_index")

# Reads a Job from a row's (id, data, workflow) columns (JobStore's reader, which tracks unreadable rows).
RowReader = Callable[[Sequence[Any]], Job]


def store_sink_results(
    db: sqlite3.Connection, results: Sequence[SinkResult], now: float, *, read_job: RowReader, unreadable: Set[str]
) -> list[Job]:
    """Store sink results (already scrubbed) inside the caller's write transaction.

    Idempotent: a (profile, sink index) already stored changes nothing; else the job with (profile, task_id)
    gets the result; else a new external job is created (a task we never submitted: shown, not dropped).
    Returns the jobs that changed (new or updated), each once, in the order they first changed. Rows in
    `unreadable` are never written over."""
    batch = _SinkBatch(_sink_holders(db, results, read_job), _task_owners(db, results, read_job))
    for result in results:
        batch.add(result, now)
    stale = batch.cleared_indexes()
    if stale:
        # Free the indexes moving to other jobs first, so no write in between meets the unique index.
        db.executemany("UPDATE jobs SET sink_index = NULL WHERE id = ?", [(job_id,) for job_id in stale])
    write_changed(db, batch.updated_jobs(), now, skip=unreadable)
    for job in batch.new_jobs():
        insert_job(db, job, now)
    return batch.changed_jobs()


def external_job(result: SinkResult, now: float) -> Job:
    """The job for a sink result no stored job owns: a task another client submitted."""
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
        # The sink says when the result came, not when the other client submitted: "seen", not "submitted".
        submit_time_known=False,
    )


@dataclass(frozen=True)
class _Stored:
    """A job as read for a batch write, and its stored column values (in `row_values` order)."""

    job: Job
    values: tuple[Any, ...]


def _stored_of(row: Sequence[Any], read_job: RowReader) -> _Stored:
    return _Stored(read_job(row[1:4]), tuple(row[4:]))


def _sink_holders(
    db: sqlite3.Connection, results: Sequence[SinkResult], read_job: RowReader
) -> dict[tuple[str, int], _Stored]:
    """The stored jobs holding the (profile, sink index) of any of `results`."""
    wanted: dict[str, list[int]] = {}
    for result in results:
        wanted.setdefault(result.profile, []).append(result.sink_index)
    found: dict[tuple[str, int], _Stored] = {}
    for profile, indexes in wanted.items():
        unique = list(dict.fromkeys(indexes))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            sql = f"SELECT {_STORED} FROM jobs WHERE profile = ? AND sink_index IN ({', '.join('?' * len(chunk))})"
            for row in db.execute(sql, (profile, *chunk)).fetchall():
                stored = _stored_of(row, read_job)
                if stored.job.sink_index is not None:
                    found[(profile, stored.job.sink_index)] = stored
    return found


def _task_owners(
    db: sqlite3.Connection, results: Sequence[SinkResult], read_job: RowReader
) -> dict[tuple[str, str], _Stored]:
    """For each (profile, task_id) of `results`: the first stored job with it (the one we submitted)."""
    wanted: dict[str, list[str]] = {}
    for result in results:
        if result.task_id:
            wanted.setdefault(result.profile, []).append(result.task_id)
    found: dict[tuple[str, str], tuple[int, _Stored]] = {}
    for profile, task_ids in wanted.items():
        unique = list(dict.fromkeys(task_ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            sql = f"SELECT {_STORED} FROM jobs WHERE task_id IN ({', '.join('?' * len(chunk))}) AND profile = ?"
            for row in db.execute(sql, (*chunk, profile)).fetchall():
                key = (profile, str(row[_STORED_TASK_ID]))
                if key not in found or row[0] < found[key][0]:
                    found[key] = (row[0], _stored_of(row, read_job))
    return {key: stored for key, (_, stored) in found.items()}


def _same_result(holder: Job, result: SinkResult) -> bool:
    """Is `result` the one `holder` already stored at its sink index (a redelivery)? Ids decide; without ids to
    compare, assume it is (never store one result twice)."""
    if holder.request_id and result.request_id:
        return holder.request_id == result.request_id
    if holder.task_id and result.task_id:
        return holder.task_id == result.task_id
    return True


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
            job = external_job(result, now)
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
