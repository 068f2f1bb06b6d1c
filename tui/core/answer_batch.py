"""Service answers to submissions, stored together: one store transaction for the answers that arrive within a
few milliseconds of each other, instead of one per answer (which was most of the store's cost of a batch).

Sends are not held up: a send's slot is released before its answer is recorded. The write-ahead row was stored
before the send, so a crash before a flush leaves a `submitting` row that reconcile finds by its own ids, exactly
as a crash just before the answer arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tui.core.backends.base import BackendContext
from tui.core.jobs import Job, JobUpdate

if TYPE_CHECKING:
    from tui.core.store import JobStore

# The first answer of a batch waits this long for others (the sends go on meanwhile), unless no other send of its
# profile is pending.
ANSWER_BATCH_SECONDS = 0.01


class AnswerBatcher:
    """Per profile's context: the answers waiting to be stored, and how many sends are still unanswered."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._answers: dict[BackendContext, list[tuple[str, list[JobUpdate], asyncio.Future[Job]]]] = {}
        self._unanswered: dict[BackendContext, int] = {}

    @contextlib.contextmanager
    def sending(self, context: BackendContext) -> Iterator[None]:
        """Around one send: while it is out, the answers before it wait (briefly) to be stored with its own."""
        self._unanswered[context] = self._unanswered.get(context, 0) + 1
        try:
            yield
        finally:
            self._unanswered[context] -= 1

    async def record(self, context: BackendContext, job_id: str, updates: list[JobUpdate]) -> Job:
        """Store what the service answered about one job (with the others arriving now); returns the job as stored."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Job] = loop.create_future()
        batch = self._answers.setdefault(context, [])
        if not batch:
            loop.call_later(ANSWER_BATCH_SECONDS, self.flush, context)
        batch.append((job_id, updates, answer))
        if not self._unanswered.get(context):
            self.flush(context)  # nothing else is on its way: no reason to wait
        return await answer

    def flush(self, context: BackendContext) -> None:
        batch = self._answers.pop(context, [])
        if not batch:
            return
        try:
            changed = {job.id: job for job in context.apply([update for _, updates, _ in batch for update in updates])}
            stored = {job_id: changed.get(job_id) or self.store.get(job_id) for job_id, _, _ in batch}
        except Exception as exc:  # the store failed (disk full, ...): every send of the batch reports it
            for _, _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for job_id, _, answer in batch:
            if not answer.done():
                answer.set_result(stored[job_id])

    @property
    def settled(self) -> bool:
        """No send is out and no answer waits to be stored."""
        return not self._answers and not any(self._unanswered.values())

    def flush_all(self) -> None:
        """Store every answer received and not stored yet (on stop)."""
        for context in list(self._answers):
            self.flush(context)
