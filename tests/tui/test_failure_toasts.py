"""Failures that end together are announced in one toast, not one toast each.

A batch where every copy runs out of memory used to stack a toast per job over the jobs pane (and over the quick
filter tabs a user clicks) for their whole timeout: the same grouping the start-up errors got (issue 13).
"""

from __future__ import annotations

from tests.tui.conftest import Sim, running, submit_and_settle, toasts, wait_for
from tui.core.jobs import JobState


async def test_jobs_failing_together_get_one_toast_with_their_reasons(sim: Sim) -> None:
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        failed = await submit_and_settle(pilot, app, 3, JobState.FAILED)
        await wait_for(
            pilot,
            lambda: any("3 jobs failed" in toast for toast in toasts(app)),
            lambda: f"one toast for the three failures (toasts: {toasts(app)})",
            timeout=10,
        )
        failure_toasts = [toast for toast in toasts(app) if "failed" in toast.split(":", 1)[0].lower()
                          and "Batch" not in toast]
        assert len(failure_toasts) == 1, failure_toasts
        [toast] = failure_toasts
        assert "OOM · KSampler ×3" in toast, toast
        assert not any(job.id[:8] in toast for job in failed)  # ids are the table's job, not the toast's



async def test_a_plain_submission_toast_is_brief_and_a_lone_failure_toast_is_short(sim: Sim) -> None:
    """Toasts stack from the bottom up over the jobs pane: 'sent' needs a glance, a failure names its job and the
    reason's start (the detail pane has the whole message)."""
    sim.set_fail_rate(1.0)
    app = sim.app()
    async with running(app) as pilot:
        [failed] = await submit_and_settle(pilot, app, 1, JobState.FAILED)
        [submitted] = [note for note in app._notifications if note.title == "Submitted"]
        assert submitted.timeout <= 3.0, submitted.timeout
        await wait_for(
            pilot,
            lambda: [note for note in app._notifications if failed.id[:8] in note.message],
            lambda: f"the failure's toast (toasts: {toasts(app)})",
            timeout=10,
        )
        [note] = [note for note in app._notifications if failed.id[:8] in note.message]
        assert "OOM · KSampler" in note.message and len(note.message) <= 160, note.message
