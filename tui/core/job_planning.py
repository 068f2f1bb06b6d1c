"""The jobs a submission or a resubmission makes, before anything is stored or sent: the workflow with its
parameters applied, one job per copy and sweep combination, each with the ids its edition is followed by.

Pure planning (no store, no network): the engine stores what this returns (write-ahead) and then sends it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui.core.batch import SeedMode, job_count, plan_jobs, seed_params
from tui.core.jobs import Edition, Job, JobState, new_job_id
from tui.core.workflow import Workflow, workflow_from_dict

if TYPE_CHECKING:
    from tui.core.config import Profile
    from tui.core.sweep import SweepAxis


@dataclass(frozen=True)
class SubmissionRequest:
    """One submission as the user asked for it: what Engine.plan_submission plans and Engine.submit stores and sends.

    `params` maps "NODE.INPUT" (or "TITLE.INPUT") to a value; strings are typed like the current value.
    `count` copies of every `sweep` combination; `seed_mode` says which copies get new seeds (SeedMode.VARY: copy 1
    keeps the workflow's seeds and every other copy gets its own). Every job gets the batch name `batch` (None: the
    workflow's file name and the time).
    """

    profile: str
    workflow: Workflow
    count: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    seed_mode: SeedMode = SeedMode.VARY
    sweep: Sequence[SweepAxis] = ()
    batch: str | None = None

    def __post_init__(self) -> None:
        # A snapshot: a big submission is planned on a worker thread while the caller goes on (its dict may change).
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "sweep", tuple(self.sweep))

    @property
    def job_count(self) -> int:
        """How many jobs it makes: count × the sweep's combinations."""
        return job_count(self.count, self.sweep)


def apply_params(workflow: Workflow, params: Mapping[str, Any]) -> Workflow:
    """Apply `NODE.INPUT` (or `TITLE.INPUT`) → value assignments; strings are typed like the current value."""
    for target, value in params.items():
        workflow = workflow.set_value(target, value)
    return workflow


def new_job(
    profile: Profile,
    workflow: dict[str, Any],
    *,
    at: float,
    params: dict[str, Any],
    parent_id: str | None = None,
    attempt: int = 1,
    batch: str | None = None,
) -> Job:
    """A `submitting` job for `profile`, with the id its edition finds it again by after a crash."""
    job_id = new_job_id()
    job = Job(
        id=job_id,
        profile=profile.name,
        edition=profile.edition,
        workflow=workflow,
        state=JobState.SUBMITTING,
        timestamps={JobState.SUBMITTING.value: at},
        parent_id=parent_id,
        attempt=attempt,
        params=params,
        batch=batch,
    )
    if profile.edition is Edition.DEDICATED:
        # Our own prompt_id: after a crash the row can be looked up in /queue and /history by it.
        job.prompt_id = str(uuid.uuid4())
        job.client_id = profile.client_id
    else:
        # Our own task_id: the sink result carries it back, so even a crash mid-submit is matched.
        job.task_id = f"comfyq-{job_id}"
    return job


def plan_submission(request: SubmissionRequest, target: Profile, *, batch: str, max_jobs: int, at: float) -> list[Job]:
    """`request.count` copies of every sweep combination of its workflow (params applied), as jobs of `batch` on
    `target` (the request's profile)."""
    configured = apply_params(request.workflow, request.params)
    # One private copy for the whole batch: a job's workflow is read-only once made (the store shares parsed
    # workflows the same way), so every job's graph shares every node it does not change with the others.
    shared = Workflow(configured.to_dict(), configured.source)
    plan = plan_jobs(shared, copies=request.count, axes=request.sweep, seed_mode=request.seed_mode,
                     params=request.params, cap=max_jobs)
    return [new_job(target, planned.nodes, at=at, params=planned.params, batch=batch) for planned in plan]


def retry_of(parent: Job, target: Profile, *, new_seed: bool, rng: random.Random, batch: str, at: float) -> Job:
    """The next attempt of `parent` (its stored workflow, new seeds if asked) on `target`. The parent has a
    workflow (the caller checks)."""
    assert parent.workflow is not None
    workflow_dict = parent.workflow
    params = dict(parent.params)
    if new_seed:
        # workflow_from_dict checks the stored graph and makes the private copy; new seeds share the rest.
        seeded = workflow_from_dict(parent.workflow, source=f"job {parent.id[:8]}").randomize_seeds(rng)
        workflow_dict = seeded.nodes
        params.update(seed_params(seeded))
    return new_job(target, workflow_dict, at=at, params=params, parent_id=parent.id, attempt=parent.attempt + 1,
                   batch=batch)
