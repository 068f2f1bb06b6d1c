"""Jobs other clients put on a dedicated ComfyUI server, as comfyq's *external* jobs (design.md §2 rule 11).

A shared server's `/queue` lists every client's running and pending prompts (with their graphs), and its `/history`
their results. The poller reads `/queue` every cycle anyway; with `external = true` it also reads the newest
`/history?max_items=K` entries once per cycle (K adapts: small while little happens, larger when every entry it
got was new, never above the profile's `external_history`). Prompts comfyq does not know become external jobs —
in flight from `/queue`, finished from `/history` (with outputs, failure details and the workflow, so they can be
resubmitted) — and from then on are followed like comfyq's own.

This module turns queue items and history entries into jobs and keeps the window (`ExternalJobs`, asked by the
poller once per cycle).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tui.core import payloads
from tui.core.backends.comfy_api import NoSuchRoute
from tui.core.jobs import Edition, Job, JobState, JobUpdate, new_job_id

if TYPE_CHECKING:
    from tui.core.backends.base import BackendContext
    from tui.core.backends.comfy_api import ComfyApi, QueueSnapshot
    from tui.core.config import Profile

# The smallest /history window: enough for the prompts that end between two polls on a busy server.
MIN_WINDOW = 16
# History entries remembered as already handled (ours or imported), per profile.
REMEMBERED_ENTRIES = 20_000


class HistoryWindow:
    """How many of the newest /history entries to ask for, and which of them were handled already."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.size = self.limit  # the first look reaches as far back as allowed
        self._handled: OrderedDict[str, None] = OrderedDict()

    def unhandled(self, prompt_ids: Iterable[str]) -> list[str]:
        return [prompt_id for prompt_id in prompt_ids if prompt_id not in self._handled]

    def handled(self, prompt_ids: Iterable[str]) -> None:
        for prompt_id in prompt_ids:
            self._handled[prompt_id] = None
            self._handled.move_to_end(prompt_id)
        while len(self._handled) > REMEMBERED_ENTRIES:
            self._handled.popitem(last=False)

    def resize(self, returned: int, new: int) -> None:
        """After a look that returned `returned` entries, `new` of them unhandled: grow when the window was full of
        new entries (some may have been missed), shrink back when little changed."""
        if self.limit == 0:
            return
        if returned >= self.size and new >= returned:
            self.size = min(self.limit, max(MIN_WINDOW, self.size * 2))
        elif new * 4 < self.size:
            self.size = max(min(MIN_WINDOW, self.limit), self.size // 2)


def _seconds(value: Any) -> float | None:
    """ComfyUI's millisecond timestamps → unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value) / 1000.0
    return None


def _extra_data(item: Any) -> Mapping[str, Any]:
    if isinstance(item, list) and len(item) > 3 and isinstance(item[3], dict):
        return item[3]
    return {}


def _graph(item: Any) -> dict[str, Any] | None:
    graph = item[2] if isinstance(item, list) and len(item) > 2 else None
    return graph if isinstance(graph, dict) else None


def _number(item: Any) -> int | None:
    number = item[0] if isinstance(item, list) and item else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _message_times(entry: Mapping[str, Any]) -> dict[str, float]:
    """When the history entry's run started and ended (from its status messages), as far as they say."""
    status = entry.get("status")
    messages = status.get("messages") if isinstance(status, dict) else None
    times: dict[str, float] = {}
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, (list, tuple)) and len(message) >= 2 and isinstance(message[1], dict):
            at = _seconds(message[1].get("timestamp"))
            if at is None:
                continue
            if message[0] == "execution_start":
                times.setdefault("start", at)
            elif message[0] in ("execution_success", "execution_error", "execution_interrupted"):
                times["end"] = at
    return times


def _base_job(profile: str, prompt_id: str, item: Any, seen: float) -> Job:
    extra = _extra_data(item)
    # Newer servers stamp `create_time` (ms) when they accept a prompt; else the first time comfyq saw it.
    created = _seconds(extra.get("create_time"))
    client_id = extra.get("client_id")
    return Job(
        id=new_job_id(),
        profile=profile,
        edition=Edition.DEDICATED,
        workflow=_graph(item),
        state=JobState.QUEUED,
        prompt_id=prompt_id,
        client_id=str(client_id) if isinstance(client_id, str) and client_id else None,
        queue_index=_number(item),
        timestamps={JobState.SUBMITTING.value: created or seen, JobState.QUEUED.value: created or seen},
        external=True,
        submit_time_known=created is not None,
    )


def from_queue_item(profile: str, item: Any, *, running: bool, position: int | None, seen: float) -> Job | None:
    """A job for another client's prompt in `/queue` (running or pending)."""
    if not (isinstance(item, list) and len(item) > 1 and item[1] is not None):
        return None
    job = _base_job(profile, str(item[1]), item, seen)
    if running:
        job.state = JobState.RUNNING
        job.timestamps[JobState.RUNNING.value] = seen
    else:
        job.queue_position = position
    return job


def from_history_entry(profile: str, prompt_id: str, entry: Any, *, seen: float) -> tuple[Job, JobUpdate] | None:
    """A job for another client's finished prompt in `/history`, and the update that settles it (outcome)."""
    if not isinstance(entry, dict):
        return None
    item = entry.get("prompt")
    job = _base_job(profile, prompt_id, item, seen)
    times = _message_times(entry)
    if "start" in times:
        job.timestamps[JobState.RUNNING.value] = times["start"]
        if not job.submit_time_known:  # it was submitted before it started, at the latest
            job.timestamps[JobState.SUBMITTING.value] = job.timestamps[JobState.QUEUED.value] = times["start"]
    outcome = payloads.parse_history_entry(entry, prompt_id)
    update = JobUpdate(
        job.id,
        state=outcome.state,
        at=times.get("end", seen),
        outputs=tuple(outcome.outputs),
        failure=outcome.failure,
        warning=outcome.warning,
        raw_result=outcome.raw or None,
    )
    return job, update


class ExternalJobs:
    """One dedicated profile's other-client prompts: the /history window, and prompt ids known to be stored."""

    def __init__(self, profile: Profile, context: BackendContext, api: ComfyApi) -> None:
        self.profile_name = profile.name
        self.enabled = bool(profile.external)
        self.context = context
        self.api = api
        self.window = HistoryWindow(int(profile.external_history) if self.enabled else 0)
        self._known_prompts: set[str] = set()

    async def recent_history(self) -> dict[str, Any]:
        """`GET /history?max_items=K` (the window), or nothing when external jobs are off or the route is missing."""
        window = self.window
        if window.size <= 0:
            return {}
        try:
            entries = await self.api.history_map(f"/history?max_items={window.size}")
        except NoSuchRoute:
            window.limit = window.size = 0  # a proxy that forwards only some routes: per-job look-ups suffice
            return {}
        return {str(prompt_id): entry for prompt_id, entry in entries.items() if isinstance(entry, dict)}

    def import_new(self, queue: QueueSnapshot, recent: dict[str, Any], active: set[str], now: float) -> None:
        """Other clients' prompts in /queue and the recent /history, not stored yet, become external jobs."""
        if not self.enabled:
            return
        window = self.window
        unhandled = window.unhandled(recent)
        window.handled(unhandled)  # (ours among them are settled by the cycle, from `recent`, whenever they are there)
        in_queue = [pid for pid in queue.items if pid not in active and pid not in self._known_prompts]
        in_history = [pid for pid in unhandled if pid not in active]
        window.resize(len(recent), len(unhandled))
        if not in_queue and not in_history:
            return
        store = self.context.store
        known = store.known_prompt_ids(self.profile_name, in_queue + in_history)
        if len(self._known_prompts) > REMEMBERED_ENTRIES:
            self._known_prompts.clear()
        self._known_prompts.update(known)
        new: list[tuple[Job, JobUpdate | None]] = []
        for prompt_id in in_queue:
            if prompt_id in known:
                continue
            job = from_queue_item(
                self.profile_name, queue.items[prompt_id], running=prompt_id in queue.running,
                position=queue.pending_position.get(prompt_id), seen=now,
            )
            if job is not None:
                new.append((job, None))
        for prompt_id in in_history:
            if prompt_id in known or prompt_id in queue.items:
                continue  # (one still in /queue is followed from there; its entry settles it next cycle)
            found = from_history_entry(self.profile_name, prompt_id, recent[prompt_id], seen=now)
            if found is not None:
                new.append(found)
        if new:
            added = store.add_external_prompts(new)
            self._known_prompts.update(job.prompt_id for job in added if job.prompt_id)
            self.context.publish(added)
