"""One bad row breaks nothing (issue 11, item 7).

Rows of the job store are broken in each way a hand edit, a disk error or a newer version could leave them (bad
JSON, an unknown state or edition, fields of the wrong type), and a server sends a lone surrogate as a valid JSON
escape in a file name. Every listing still works: the bad rows are `unknown` with the reason, the others shown as
they are, and the broken rows are left untouched in the file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.faults.helpers import assert_clean_output, json_lines
from tests.faults.hostile import HostileServer, Outputs, hostile_cli
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, JobUpdate, new_job_id
from tui.core.store import JobStore

SURROGATE_NAME = "bad\ud800name.png"


def test_a_lone_surrogate_from_the_server_is_stored_and_read_back(
    tmp_path: Path, hostile: HostileServer, workflow_file: Path
) -> None:
    hostile.outputs = Outputs(filenames=(SURROGATE_NAME, "fine.png"))
    cli = hostile_cli(tmp_path, hostile)
    submitted = cli.run("submit", str(workflow_file), "-p", "hostile", "--wait", "--timeout", "30", "--json")
    assert_clean_output(submitted.stdout, submitted.stderr)
    assert submitted.returncode == 0, submitted.stderr
    (job,) = json_lines(submitted.stdout)
    assert sorted(output["filename"] for output in job["outputs"]) == sorted([SURROGATE_NAME, "fine.png"])
    for args in (("jobs",), ("jobs", "--json"), ("show", job["id"]), ("show", job["id"], "--json"),
                 ("wait", job["id"])):
        result = cli.run(*args)
        assert_clean_output(result.stdout, result.stderr)
        assert result.returncode == 0, (args, result.stderr)
        if args != ("jobs",):  # (the table counts outputs; the others name them)
            assert "\\ud800" in result.stdout, (args, result.stdout)


BROKEN_DATA = {
    "bad-json": lambda data: "{this is not json",
    "unknown-state": lambda data: json.dumps({**data, "state": "exploded"}),
    "unknown-edition": lambda data: json.dumps({**data, "edition": "quantum"}),
    "timestamps-text": lambda data: json.dumps({**data, "timestamps": {"submitting": "yesterday"}}),
    "outputs-not-a-list": lambda data: json.dumps({**data, "outputs": "nope"}),
    "output-name-a-number": lambda data: json.dumps({**data, "outputs": [{"filename": 7, "node_id": "9"}]}),
    "attempt-text": lambda data: json.dumps({**data, "attempt": "two"}),
    "failure-category": lambda data: json.dumps({**data, "failure": {"category": "meteor", "message": "x"}}),
    "not-an-object": lambda data: "[1, 2, 3]",
    "deeply-nested": lambda data: "[" * 100_000 + "]" * 100_000,
}


def failed_job(store: JobStore, profile: str = "hostile") -> Job:
    job = Job(id=new_job_id(), profile=profile, edition=Edition.DEDICATED, workflow={"1": {"class_type": "X", "inputs": {}}},
              prompt_id=new_job_id())
    store.add(job)
    store.apply(JobUpdate(job.id, state=JobState.FAILED, failure=Failure(FailureCategory.EXECUTION, "it broke")))
    return store.get(job.id)


def test_broken_rows_are_listed_as_unknown_and_the_rest_still_work(tmp_path: Path, hostile: HostileServer) -> None:
    cli = hostile_cli(tmp_path, hostile)
    cli.data_dir.mkdir(parents=True)
    with JobStore(cli.store_file) as store:
        good = failed_job(store)
        broken = {case: failed_job(store) for case in BROKEN_DATA}
    connection = sqlite3.connect(cli.store_file)
    with connection:
        for case, make in BROKEN_DATA.items():
            (data,) = connection.execute("SELECT data FROM jobs WHERE id = ?", (broken[case].id,)).fetchone()
            connection.execute("UPDATE jobs SET data = ? WHERE id = ?", (make(json.loads(data)), broken[case].id))
        connection.execute("UPDATE jobs SET state = 'exploded' WHERE id = ?", (broken["unknown-state"].id,))
        before = dict(connection.execute("SELECT id, data FROM jobs").fetchall())
    connection.close()

    listed = cli.run("jobs", "--json", "--limit", "100")
    assert_clean_output(listed.stdout, listed.stderr)
    assert listed.returncode == 0, listed.stderr
    by_id = {job["id"]: job for job in json_lines(listed.stdout)}
    assert by_id[good.id]["state"] == "failed"
    for case, job in broken.items():
        shown = by_id[job.id]
        assert shown["state"] == "unknown", (case, shown)
        assert "could not be read" in shown["warning"], (case, shown)
    table = cli.run("jobs", "--limit", "100")
    assert table.returncode == 0 and good.id[:8] in table.stdout, table.stderr
    for case, job in broken.items():
        detail = cli.run("show", job.id)
        assert_clean_output(detail.stdout, detail.stderr)
        assert detail.returncode == 0 and "could not be read" in detail.stdout, (case, detail.stderr)

    # resubmit --failed takes the good failed job and leaves the unreadable rows (nothing to resubmit in them).
    resubmitted = cli.run("resubmit", "--failed", "--json")
    assert_clean_output(resubmitted.stdout, resubmitted.stderr)
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert [job["parent_id"] for job in json_lines(resubmitted.stdout)] == [good.id]

    # The broken rows are left exactly as they were.
    connection = sqlite3.connect(cli.store_file)
    after = dict(connection.execute("SELECT id, data FROM jobs").fetchall())
    connection.close()
    for job in broken.values():
        assert after[job.id] == before[job.id]
