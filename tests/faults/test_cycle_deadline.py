"""The poller's whole cycle has a deadline (issue 11, item 3: "the poller never waits on one request longer than
its cycle"), not only each request.

A slow link in front of the real ComfyUI emulator holds every answer 1 s — each request is well within its own
3 s deadline, but a cycle (`/queue`, then the newest `/history`) takes 2 s. With a 1.6 s cycle deadline the
source must show as degraded with the reason, the poller must keep cycling, and once the link is fast again the
source is connected and the job settles.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.faults.slow_link import SlowLink
from tests.integration.backend_helpers import Recorder
from tests.waiting import wait_until
from tui.core.backends import create_backend
from tui.core.backends.base import BackendContext, SourceState
from tui.core.backends.dedicated import DedicatedBackend
from tui.core.config import parse_config_text
from tui.core.jobs import Edition, Job, JobState, JobUpdate, new_job_id
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimServer

pytestmark = pytest.mark.timeout(90)

REQUEST_TIMEOUT = 3.0
CYCLE_DEADLINE = 1.6
LINK_DELAY = 1.0


async def test_a_cycle_past_its_deadline_shows_degraded_keeps_cycling_and_recovers(tmp_path: Path) -> None:
    sim = SimServer(step_seconds=0.05, instances=1, output_dir=tmp_path / "out", seed=1)
    await sim.start()
    link = await SlowLink.start(sim.dedicated_url)
    store = JobStore(tmp_path / "jobs.sqlite3")
    statuses = Recorder()
    text = (
        "[defaults]\npoll_interval = 0.05\nidle_poll_interval = 0.5\n"
        f"request_timeout = {REQUEST_TIMEOUT}\n\n[profiles.slow]\nedition = \"dedicated\"\nurl = \"{link.url}/\"\n"
    )
    profile = parse_config_text(text).profiles["slow"]
    backend = create_backend(profile, BackendContext(store, statuses.publish, statuses.report_status))
    assert isinstance(backend, DedicatedBackend)
    backend.cycle_deadline = CYCLE_DEADLINE
    try:
        workflow = seed_workflow()
        for assignment in ("5.width=64", "5.height=64", "3.steps=120"):  # ~6 s of sampling: in flight a while
            workflow = workflow.apply_assignment(assignment)
        job = Job(
            id=new_job_id(), profile="slow", edition=Edition.DEDICATED, workflow=workflow.to_dict(),
            prompt_id=str(uuid.uuid4()), client_id=profile.client_id, timestamps={JobState.SUBMITTING.value: time.time()},
        )
        store.add(job)
        result = await backend.submit(job)
        assert result.accepted, result.failure
        store.apply(JobUpdate(job.id, state=JobState.QUEUED))
        await backend.start()
        await wait_until(lambda: backend.poll_cycles >= 2, 10, what="the poller to cycle on a fast link")

        link.delay = LINK_DELAY  # every request is slow now, each within its deadline, the cycle past its own
        status = await wait_until(
            lambda: (s := statuses.last_status()) is not None and s.state is SourceState.DEGRADED and s,
            20, what="a degraded status",
        )
        assert status.error is not None and "poll cycle" in status.error and f"{CYCLE_DEADLINE:g} s" in status.error, status
        # Not delayed forever: cut short at its deadline, the poller starts the next cycle after a short pause.
        cycles = backend.poll_cycles
        await wait_until(lambda: backend.poll_cycles >= cycles + 2, 15, what="two more poll cycles while degraded")
        assert store.get(job.id).state.is_active  # nothing was judged from a cycle cut short

        link.delay = 0.0
        await wait_until(
            lambda: (s := statuses.last_status()) is not None and s.state is SourceState.CONNECTED,
            20, what="connected again",
        )
        await wait_until(lambda: store.get(job.id).state.is_terminal, 30, what="the job to settle")
        assert store.get(job.id).state is JobState.SUCCEEDED
    finally:
        await backend.stop()
        store.close()
        await link.close()
        await sim.stop()
