"""A profile's automatic retry policy (`retry = {max = N, on = [...]}`): which failed jobs get another attempt,
and how long to wait before it. `max = 2` means two retries (three attempts in all)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.jobs import Failure, FailureCategory, Job, JobState

if TYPE_CHECKING:
    from tui.core.config import Profile


def default_retry_delay(failure: Failure, attempt: int) -> float:
    """Seconds to wait before an automatic retry: a network failure gets a short, growing pause; others none."""
    if failure.category in (FailureCategory.TRANSPORT, FailureCategory.AUTH):
        return float(min(30, 2 ** (attempt - 1)))
    return 0.0


def retry_eligible(job: Job, profile: Profile | None) -> bool:
    """Does the profile's retry policy ask for another attempt of this finished job?"""
    if job.state is not JobState.FAILED or job.failure is None or job.external or job.workflow is None:
        return False
    policy = profile.retry if profile is not None else None
    if policy is None or not policy.max or job.attempt > policy.max:
        return False
    return job.failure.category.value in {str(category) for category in policy.on}
