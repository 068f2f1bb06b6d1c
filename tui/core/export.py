"""Jobs as rows for elsewhere (a spreadsheet, a notebook): `comfyq export` and the app's "Export this view".

One row per job, streamed: jobs are read a chunk at a time (JobStore.iter_jobs_with_seeds) and each row is written
as soon as it is made, so 100k jobs take the memory of one chunk. Every timestamp is ISO 8601 in UTC; `wait_s` and
`run_s` are the seconds of tui/core/stats.py (running − submitting, finished − running; empty for a job never seen
running). Lists and mappings (outputs, OSS paths, parameters, seeds) are JSON inside their cell, so a CSV reader
gets back exactly what was written. The workflow and the raw result are never exported, and every row passes
through the token redaction, whatever a service echoed into an error.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from tui.core.jobs import Job, JobState
from tui.core.presentation import oss_paths
from tui.core.render import iso_utc
from tui.core.secrets import redact
from tui.core.store import JobFilter, JobStore, failure_node, job_wait_run

if TYPE_CHECKING:
    from tui.core.config import Profile

__all__ = ["COLUMNS", "FORMATS", "export_jobs", "export_row"]

FORMATS = ("csv", "jsonl")

COLUMNS = (
    "id",
    "profile",
    "batch",
    "edition",
    "state",
    "external",
    "attempt",
    "parent_id",
    "task_id",
    "prompt_id",
    "request_id",
    "queue_index",
    "sink_index",
    "submitted_at",
    "queued_at",
    "started_at",
    "finished_at",
    "wait_s",
    "run_s",
    "failure_category",
    "failure_node",
    "failure_node_id",
    "failure_class_type",
    "failure_message",
    "warning",
    "params",
    "seeds",
    "output_count",
    "outputs",
    "oss_paths",
)


def export_row(job: Job, profile: Profile | None, seeds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The job as one flat record (COLUMNS, in order); JSON-ready values (None where unknown)."""
    wait, run = job_wait_run(job)
    failure = job.failure
    outputs = [f"{o.subfolder}/{o.filename}" if o.subfolder else o.filename for o in job.outputs]
    paths = [location.path for location in oss_paths(job, profile)]
    return {
        "id": job.id,
        "profile": job.profile,
        "batch": job.batch,
        "edition": job.edition.value,
        "state": job.state.value,
        "external": job.external,
        "attempt": job.attempt,
        "parent_id": job.parent_id,
        "task_id": job.task_id,
        "prompt_id": job.prompt_id,
        "request_id": job.request_id,
        "queue_index": job.queue_index,
        "sink_index": job.sink_index,
        "submitted_at": iso_utc(job.submitted_at),
        "queued_at": iso_utc(job.timestamps.get(JobState.QUEUED.value)),
        "started_at": iso_utc(job.started_at),
        "finished_at": iso_utc(job.finished_at),
        "wait_s": wait,
        "run_s": run,
        "failure_category": failure.category.value if failure is not None else None,
        "failure_node": failure_node(failure),
        "failure_node_id": failure.node_id if failure is not None else None,
        "failure_class_type": failure.class_type if failure is not None else None,
        "failure_message": failure.message if failure is not None else None,
        "warning": job.warning,
        "params": dict(job.params),
        "seeds": dict(seeds or {}),
        "output_count": len(job.outputs),
        "outputs": outputs,
        "oss_paths": [path for path in paths if path is not None],
    }


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def export_jobs(
    store: JobStore,
    flt: JobFilter | None,
    profiles: Mapping[str, Profile],
    stream: IO[str],
    fmt: str = "csv",
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every job `flt` selects to `stream` (oldest first) as CSV (a header, then a row per job) or JSON
    Lines (an object per line). Returns how many jobs were written; `progress` is told the count every 1,000."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    rows = (
        export_row(job, profiles.get(job.profile), seeds) for job, seeds in store.iter_jobs_with_seeds(flt)
    )
    write: Callable[[dict[str, Any]], str]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends: spreadsheets and csv agree

        def write(row: dict[str, Any]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_csv_cell(row[name]) for name in COLUMNS])
            return buffer.getvalue()

        stream.write(write(dict(zip(COLUMNS, COLUMNS))))
    else:

        def write(row: dict[str, Any]) -> str:
            return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"

    return _write_all(rows, write, stream, progress)


def _write_all(
    rows: Iterable[dict[str, Any]],
    write: Callable[[dict[str, Any]], str],
    stream: IO[str],
    progress: Callable[[int], None] | None,
) -> int:
    count = 0
    for row in rows:
        # Tokens were masked when the store took the text in; masking the finished line again costs little and
        # holds even for a token registered after the job was stored.
        stream.write(redact(write(row)))
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(count)
    stream.flush()
    return count
