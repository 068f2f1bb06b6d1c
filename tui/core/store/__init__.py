"""The durable job store (design.md §2 rule 1), one concern per module:

- job_store.py — JobStore: the one owner of job state (writes through the transition function, look-ups, lists).
- query.py — the filter language (JobFilter, `state:` parsing) and its SQL.
- records.py — the store's errors, SinkResult and ActiveJob.
- schema.py — the `jobs` table and its migrations; rows.py — a Job as a row and the statements that write rows.
- database.py — opening the file (private, WAL, migrated, integrity-checked) and write transactions.
- scrub.py — secrets masked and raw results capped before anything is stored.
- sink_ledger.py — sink idempotency: a redelivered sink result changes nothing.

`from tui.core.store import X` is the way in for the rest of comfyq; the names below are its public surface.
"""

from __future__ import annotations

from tui.core.store.job_store import JobStore
from tui.core.store.query import ORDERS, JobFilter, filter_sql, job_search_text, parse_states
from tui.core.store.records import ActiveJob, AmbiguousJobId, JobNotFound, SinkResult, StoreError
from tui.core.store.rows import failure_node, job_wait_run
from tui.core.store.schema import MIGRATIONS, SCHEMA_VERSION
from tui.core.store.scrub import RAW_RESULT_LIMIT, capped_raw_result

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
    "failure_node",
    "filter_sql",
    "job_search_text",
    "job_wait_run",
    "parse_states",
]
