"""ChangeFeed: what `comfyq watch` prints when versions of a job arrive from its own events and from the store."""

from __future__ import annotations

import dataclasses

from tui.core.change_feed import ChangeFeed
from tui.core.jobs import Edition, Job, JobState, Output, Progress

S = JobState
T0 = 1_000.0


def job(state: JobState, **fields: object) -> Job:
    order = [S.SUBMITTING, S.QUEUED, S.RUNNING, state]
    stamps: dict[str, float] = {}
    for offset, passed in enumerate(order):
        stamps.setdefault(passed.value, T0 + offset)
        if passed is state:
            break
    base: dict = dict(id="j1", profile="p", edition=Edition.DEDICATED, workflow=None, state=state, timestamps=stamps)
    base.update(fields)
    return Job(**base)  # type: ignore[arg-type]


def feed(since: float = T0 - 1) -> ChangeFeed:
    return ChangeFeed(lambda j: j.to_dict(), since=since)


def test_each_version_once_whichever_way_it_arrives() -> None:
    changes = feed()
    queued = job(S.QUEUED, queue_position=1)
    assert [j.state for j in changes.changes([job(S.SUBMITTING)])] == [S.SUBMITTING]
    assert changes.changes([queued]) == [queued]
    assert changes.changes([queued]) == []  # the same version again (own event, then the store): not twice
    progressed = job(S.RUNNING, progress=Progress("3", "KSampler", 1, 8))
    assert changes.changes([progressed, progressed]) == [progressed]


def test_never_back_to_an_older_state() -> None:
    changes = feed()
    done = job(S.SUCCEEDED, outputs=(Output("9", "output", "", "a.png"),))
    changes.changes([done])
    assert changes.changes([job(S.RUNNING)]) == []


def test_states_passed_between_two_looks_are_given_first_in_order() -> None:
    changes = feed()
    changes.changes([job(S.SUBMITTING)])
    done = job(S.SUCCEEDED, outputs=(Output("9", "output", "", "a.png"),))
    shown = changes.changes([done])
    assert [j.state for j in shown] == [S.QUEUED, S.RUNNING, S.SUCCEEDED]
    running = shown[1]
    assert running.outputs == () and running.finished_at is None
    assert set(running.timestamps) == {"submitting", "queued", "running"}


def test_a_job_first_seen_finished_replays_only_what_happened_while_watching() -> None:
    changes = feed(since=T0 + 1.5)  # watching began after it was queued
    shown = changes.changes([job(S.FAILED)])
    assert [j.state for j in shown] == [S.RUNNING, S.FAILED]


def test_a_late_result_settling_a_lost_job_is_one_change() -> None:
    changes = feed()
    lost = job(S.LOST)
    changes.changes([lost])
    settled = dataclasses.replace(lost, state=S.SUCCEEDED, timestamps={**lost.timestamps, "succeeded": T0 + 9})
    assert changes.changes([settled]) == [settled]
