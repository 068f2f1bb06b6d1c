"""Sending stored jobs: write-ahead first, then each job to its profile's backend with bounded concurrency, and
what the service answered stored (design.md §2 rules 2-3).

Every row is durable before the first byte goes out, under the shared "sending" flock (another process's
reconcile must never take a row being sent for one a crash left). A batch is sent by a bounded number of worker
tasks, not one task per job; each profile's own submit slots bound its sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from tui.core.answer_batch import AnswerBatcher
from tui.core.backends.base import Backend, BackendContext, SubmitResult
from tui.core.jobs import Failure, FailureCategory, Job, JobState, JobUpdate
from tui.core.sending_lock import SendingLock

if TYPE_CHECKING:
    from tui.core.store import JobStore

log = logging.getLogger(__name__)

# Batches above this many jobs are planned and stored in a worker thread, STORE_CHUNK rows per transaction
# (~40 ms each here): the app stays responsive while 10,000 jobs are written.
BACKGROUND_ABOVE = 500
STORE_CHUNK = 500
# The most tasks one submit runs at once, whatever the profiles' submit slots add up to.
MAX_SUBMIT_TASKS = 256

# A profile's backend, its context and its submit slots.
Route = tuple[Backend, BackendContext, asyncio.Semaphore]


class Sender:
    """Stores and sends batches of jobs; knows which jobs this process is sending right now."""

    def __init__(
        self,
        store: JobStore,
        *,
        route: Callable[[str], Route],
        slots: Callable[[str], int],
        publish: Callable[[Sequence[Job]], None],
        clock: Callable[[], float],
        cancel_remote: Callable[[Backend, Job], Awaitable[None]],
    ) -> None:
        self.store = store
        self._route = route
        self._slots = slots
        self._publish = publish
        self.clock = clock
        self._cancel_remote = cancel_remote
        # Jobs this process is sending right now: reconcile must not judge them (their answer is on its way).
        self.sending: set[str] = set()
        self.lock = SendingLock(store.path)
        self.answers = AnswerBatcher(store)

    async def store_and_send(self, jobs: list[Job]) -> list[Job]:
        if not jobs:
            return []
        self.sending.update(job.id for job in jobs)
        try:
            # Held before the rows exist: another process's reconcile must never take them for a crash's.
            with self.lock.held():
                # Write-ahead: every row is durable before the first byte goes out.
                if len(jobs) <= BACKGROUND_ABOVE:
                    self.store.add_many(jobs)
                else:
                    await asyncio.to_thread(self._add_in_chunks, jobs)
                self._publish(jobs)
                sent = await self._send_all(jobs)
        finally:
            self.sending.difference_update(job.id for job in jobs)
        return sent

    async def _send_all(self, jobs: Sequence[Job]) -> list[Job]:
        """Send `jobs` with a bounded number of tasks (twice the submit slots of their profiles), not one task per
        job: each worker takes the next job in order. Results come back in the order of `jobs`."""
        slots = sum(self._slots(name) for name in {job.profile for job in jobs})
        results: list[Job | None] = [None] * len(jobs)
        turns = iter(range(len(jobs)))  # shared by the workers: one event loop thread, so no lock is needed

        async def worker() -> None:
            for index in turns:
                results[index] = await self._send(jobs[index])

        await asyncio.gather(*(worker() for _ in range(max(1, min(len(jobs), 2 * slots, MAX_SUBMIT_TASKS)))))
        return [job for job in results if job is not None]

    def _add_in_chunks(self, jobs: Sequence[Job]) -> None:
        """Store a big batch from a worker thread, a few hundred rows per transaction: the store's lock is free
        between them, so the app's reads (the table, the counts) wait at most one chunk, not the whole batch.
        A crash part-way leaves `submitting` rows nothing was sent for; the next start settles them as usual."""
        for start in range(0, len(jobs), STORE_CHUNK):
            self.store.add_many(jobs[start : start + STORE_CHUNK])

    async def _send(self, job: Job) -> Job:
        backend, context, semaphore = self._route(job.profile)
        with self.answers.sending(context):
            async with semaphore:
                current = self.store.get(job.id)
                if current.state is not JobState.SUBMITTING:
                    return current  # cancelled locally while waiting for its turn
                try:
                    result = await backend.submit(current)
                except Exception as exc:  # a backend bug or an unexpected network error: the job fails, visibly
                    log.exception("%s: submit of %s raised", job.profile, job.id)
                    result = SubmitResult(
                        accepted=False,
                        failure=Failure(FailureCategory.TRANSPORT, f"submit failed: {exc}"),
                        transport_error=True,
                    )
        now = self.clock()
        if result.accepted:
            # Ids first, on their own: a result that already arrived (succeeded) refuses the `queued` move, but
            # the queue index / request id must still be kept.
            updates = [
                JobUpdate(
                    job.id,
                    at=now,
                    prompt_id=result.prompt_id,
                    queue_index=result.queue_index,
                    request_id=result.request_id,
                    warning=result.warning,
                ),
                JobUpdate(job.id, state=JobState.QUEUED, at=now),
            ]
        else:
            failure = result.failure or Failure(FailureCategory.TRANSPORT, "the service refused the job without a reason")
            updates = [JobUpdate(job.id, state=JobState.FAILED, at=now, failure=failure)]
        stored = await self.answers.record(context, job.id, updates)
        if result.accepted:
            if stored.state is JobState.CANCELLED:
                # Cancelled while it was being sent: the service has it now, so ask it to drop it.
                await self._cancel_remote(backend, stored)
            else:
                try:
                    backend.job_submitted(stored)
                except Exception:
                    log.exception("%s: job_submitted hint failed", job.profile)
        return stored

