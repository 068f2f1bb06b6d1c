"""A dedicated ComfyUI that restarts or goes away while jobs are in flight (issue 10, "restarts noticed in seconds").

Against the emulator over loopback with the real clients:
- a restart that forgets the queue and history makes the in-flight jobs `lost` (failure category `lost`, "the
  server restarted and forgot it") within 15 s of the server's return, not after `lost_after`;
- while the server is down, the in-flight rows say "server unreachable since HH:MM" instead of a stale `running`;
- an outage that forgets nothing (connections dropped, the port closed and opened again) never makes a job lost,
  over a normal run of 1,000 jobs with a tiny `lost_after` (any queue↔history inconsistency would show).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.integration.backend_helpers import DEDICATED_TOKEN as TOKEN
from tests.integration.backend_helpers import DedicatedHarness as Harness
from tests.integration.backend_helpers import SimServerFactory, slow_workflow
from tests.integration.backend_helpers import dedicated_profile as make_profile
from tests.waiting import wait_until
from tui.core.config import parse_config_text
from tui.core.jobs import FailureCategory, JobState
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimServer
from tui.core.presentation import progress_text

pytestmark = pytest.mark.timeout(180)

RETURN_DEADLINE_SECONDS = 15.0


@pytest.fixture
async def server(sim_servers: SimServerFactory) -> SimServer:
    return await sim_servers(token=TOKEN, step_seconds=0.05)


def default_timing_profile(server: SimServer):
    """The shipped poll timing (1 s in flight, 10 s idle) and a long lost_after: the 15 s must not come from it."""
    text = (
        "[defaults]\nlost_after = 300\n"
        f'\n[profiles.dedicated]\nedition = "dedicated"\nurl = "{server.dedicated_url}/"\ntoken = "{TOKEN}"\n'
    )
    return parse_config_text(text).profiles["dedicated"]


async def test_a_restart_that_forgets_makes_in_flight_jobs_lost_within_seconds_of_the_return(
    server: SimServer, store: JobStore
) -> None:
    h = Harness(server, store, default_timing_profile(server))
    await h.backend.start()
    try:
        jobs = [await h.submit(slow_workflow(steps=400)) for _ in range(3)]
        await wait_until(lambda: store.get(jobs[0].id).state is JobState.RUNNING, what="the first job to run")
        await wait_until(lambda: store.get(jobs[2].id).queue_position == 1, what="queue positions")

        down = asyncio.create_task(server.restart_comfyui(down_seconds=4.0))
        # While it is down, every in-flight row says so (not a stale `running` with its last node).
        marked = await wait_until(
            lambda: all(store.get(job.id).unreachable_since for job in jobs), timeout=10, what="rows marked"
        )
        assert marked
        for job in jobs:
            shown = progress_text(store.get(job.id), 40)
            assert shown.startswith("server unreachable since "), shown
        await down
        returned = time.monotonic()
        await wait_until(
            lambda: all(store.get(job.id).state.is_terminal for job in jobs),
            timeout=RETURN_DEADLINE_SECONDS + 5,
            what="the forgotten jobs to end",
        )
        took = time.monotonic() - returned
        assert took <= RETURN_DEADLINE_SECONDS, f"noticed {took:.1f} s after the server came back"
        for job in jobs:
            done = store.get(job.id)
            assert done.state is JobState.LOST, done.state
            assert done.failure is not None and done.failure.category is FailureCategory.LOST
            assert "restarted and forgot it" in done.failure.message, done.failure.message
            assert done.unreachable_since is None
            assert done.to_dict()["failure"]["category"] == "lost"
    finally:
        await h.backend.stop()


async def test_rows_stop_saying_unreachable_when_the_server_answers_again(server: SimServer, store: JobStore) -> None:
    h = Harness(server, store, make_profile(server, lost_after=300))
    await h.backend.start()
    try:
        job = await h.submit(slow_workflow(steps=200))
        await wait_until(lambda: store.get(job.id).state is JobState.RUNNING, what="running")
        await server.stop_listening()
        await wait_until(lambda: store.get(job.id).unreachable_since, timeout=10, what="marked unreachable")
        await server.start_listening()  # back, having forgotten nothing: the job runs on
        await wait_until(lambda: store.get(job.id).unreachable_since is None, timeout=15, what="mark cleared")
        done = await h.finished(job, timeout=60)
        assert done.state is JobState.SUCCEEDED, (done.state, done.failure)
    finally:
        await h.backend.stop()


async def test_a_thousand_jobs_with_outages_that_forget_nothing_are_never_called_lost(
    tmp_path: Path, store: JobStore
) -> None:
    server = SimServer(token=TOKEN, step_seconds=0.0, instances=1, output_dir=tmp_path / "out", seed=3)
    await server.start()
    # A tiny lost_after: a job absent from both /queue and /history for half a second, in any look, would be lost.
    h = Harness(server, store, make_profile(server, lost_after=0.5))
    await h.backend.start()
    try:
        base = seed_workflow()
        for assignment in ("5.width=16", "5.height=16", "3.steps=1"):
            base = base.apply_assignment(assignment)
        jobs = []
        for number in range(1000):
            jobs.append(await h.submit(base.apply_assignment(f"3.seed={number}").to_dict()))
        # Outages mid-run that forget nothing (connections dropped, port closed and opened): each arms the
        # "forgotten in a restart" judgement, which must still never fire.
        for _ in range(3):
            await wait_until(lambda: h.backend.poll_cycles > 0 and h.backend.progress.error is None, what="ws up")
            await server.stop_listening()
            await asyncio.sleep(0.5)
            await server.start_listening()
            await asyncio.sleep(1.0)
        ids = [job.id for job in jobs]
        await wait_until(
            lambda: all(job.state.is_terminal for job in store.get_many(ids).values()), timeout=150, what="all ended"
        )
        final = store.get_many(ids).values()
        states = {job.state for job in final}
        assert states == {JobState.SUCCEEDED}, [(job.id[:8], job.state, job.warning) for job in final
                                                if job.state is not JobState.SUCCEEDED][:5]
        # The outages were noticed (back-to-back ones may count as one), so the fast judgement was armed throughout.
        assert h.backend.settler.outages >= 1
    finally:
        await h.backend.stop()
        await server.stop()
