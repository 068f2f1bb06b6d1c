"""The job store's schema: the `jobs` table and its indexes, built by applying MIGRATIONS in order.

`PRAGMA user_version` holds how many migrations a file has had; tui/core/store/database.py applies the missing ones
at open. Every column `tui/core/store/rows.py` writes is created here; a new column is a new migration, appended,
never an edit of a released one. No Textual here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from tui.core.row_decode import decode_row
from tui.core.store.query import job_search_text
from tui.core.store.rows import FAILURE_NODE_SQL, RUN_SQL, WAIT_SQL, dumps


def _move_workflows_out_of_data(db: sqlite3.Connection) -> None:
    """v2: version-1 rows carried the workflow inside `data`; move it to its own column."""
    rows = db.execute("SELECT seq, data FROM jobs").fetchall()
    for seq, data in rows:
        fields = json.loads(data)
        workflow = fields.pop("workflow", None)
        db.execute(
            "UPDATE jobs SET data = ?, workflow = ? WHERE seq = ?",
            (dumps(fields), dumps(workflow) if workflow is not None else None, seq),
        )


def _search_what_rows_show(db: sqlite3.Connection) -> None:
    """v6: free text also searches what the table shows (the state, the failure's short form): rewrite every
    row's search_text. A row that cannot be read keeps its old text (the app shows it as `unknown` anyway)."""
    rows = db.execute("SELECT seq, id, data FROM jobs").fetchall()
    for seq, job_id, data in rows:
        job, readable = decode_row(job_id, data, None)  # the search text never reads the workflow
        if readable:
            db.execute("UPDATE jobs SET search_text = ? WHERE seq = ?", (job_search_text(job), seq))


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
    (
        # v5: what service statistics (tui/core/stats.py) read, as columns: the job's queue wait and run time in
        # seconds (wait_s = running - submitting, run_s = finished - running, never below 0) and why it failed
        # (category, and the input or node class named). The indexes make every figure an index walk that never
        # touches a row: counts and totals grouped by profile and state in index order, the timeline by ranges of
        # finish time, percentiles by walking the wait / run indexes in order, failures grouped in index order.
        "ALTER TABLE jobs ADD COLUMN wait_s REAL",
        "ALTER TABLE jobs ADD COLUMN run_s REAL",
        "ALTER TABLE jobs ADD COLUMN failure_category TEXT",
        "ALTER TABLE jobs ADD COLUMN failure_node TEXT",
        f"UPDATE jobs SET wait_s = {WAIT_SQL}, run_s = {RUN_SQL}, "
        "failure_category = json_extract(data, '$.failure.category'), "
        f"failure_node = {FAILURE_NODE_SQL}",
        "CREATE INDEX jobs_by_profile_state_finished ON jobs (profile, state, finished_at, run_s, submitted_at, "
        "output_count) WHERE finished_at IS NOT NULL",
        "CREATE INDEX jobs_by_finished ON jobs (finished_at, profile, wait_s, run_s) WHERE finished_at IS NOT NULL",
        "CREATE INDEX jobs_by_wait ON jobs (wait_s, finished_at, profile) "
        "WHERE finished_at IS NOT NULL AND wait_s IS NOT NULL",
        "CREATE INDEX jobs_by_run ON jobs (run_s, finished_at, profile) WHERE run_s IS NOT NULL",
        "CREATE INDEX jobs_by_failure ON jobs (failure_category, failure_node, finished_at, profile) "
        "WHERE failure_category IS NOT NULL",
    ),
    (
        # v6: free text finds a row by what it shows (`oom`, `failed`), not only by ids and messages.
        _search_what_rows_show,
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
