"""How external jobs show their time ("seen") and rows of a server that does not answer."""

from __future__ import annotations

import time
from datetime import datetime

from tui.core.jobs import Edition, Job, JobState
from tui.core.render import job_to_dict
from tui.core.store import JobStore, SinkResult
from tui.core.presentation import external_origin, progress_text, submitted_text


def job(**fields: object) -> Job:
    base: dict = dict(id="j1", profile="p", edition=Edition.API, workflow=None, state=JobState.SUCCEEDED,
                      timestamps={"submitting": time.time() - 5, "succeeded": time.time()})
    base.update(fields)
    return Job(**base)  # type: ignore[arg-type]


def test_the_time_column_says_seen_when_the_submit_time_is_not_known() -> None:
    now = time.time()
    at = now - 60
    clock = datetime.fromtimestamp(at)
    mine = job(timestamps={"submitting": at})
    assert submitted_text(mine, now) == clock.strftime("%H:%M:%S")
    seen = job(timestamps={"submitting": at}, external=True, submit_time_known=False)
    assert submitted_text(seen, now) == clock.strftime("seen %H:%M")
    assert len(submitted_text(seen, now)) <= 11  # fits the column
    assert job_to_dict(seen, None)["submit_time_known"] is False
    assert "another client" in external_origin(seen)


def test_external_sink_results_are_stored_as_seen(tmp_path) -> None:
    with JobStore(tmp_path / "s.sqlite3") as store:
        (stored,) = store.upsert_sink_results(
            [SinkResult(profile="api", sink_index=7, task_id="someone-else", request_id=None, state=JobState.SUCCEEDED)]
        )
        assert stored.external and not stored.submit_time_known
        assert submitted_text(store.get(stored.id)).startswith("seen ")


def test_in_flight_rows_say_the_server_is_unreachable() -> None:
    since = time.time() - 30
    running = job(state=JobState.RUNNING, timestamps={"submitting": since}, unreachable_since=since)
    assert progress_text(running, 30) == datetime.fromtimestamp(since).strftime("server unreachable since %H:%M")
    assert progress_text(job(unreachable_since=since), 30) == ""  # finished: nothing in flight to warn about
