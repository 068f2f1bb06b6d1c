"""Shared pieces of the backend tests (DedicatedBackend, EasQueueBackend against the emulators over loopback).

A backend runs with a real JobStore and a `Recorder` standing in for the engine's side of BackendContext; a
harness per edition does what the engine does around a submit (store first, send, record the answer, hint the
poller). Profiles are parsed from config text like a user's. Servers and stores come from conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import httpx

from tests.waiting import wait_until
from tui.core.backends import create_backend
from tui.core.backends.base import BackendContext, SourceStatus
from tui.core.backends.dedicated import DedicatedBackend
from tui.core.backends.eas_queue import EasQueueBackend
from tui.core.config import Profile, parse_config_text
from tui.core.jobs import Edition, Job, JobState, JobUpdate, new_job_id
from tui.core.store import JobStore
from tui.core.workflow import seed_workflow
from tui.sim.server import SimServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui" / "workflows"
DEDICATED_TOKEN = "dedicated-token-0123456789"
EAS_TOKEN = "eas-token-0123456789abcdef"
EAS_SERVICE = "comfyui-api"
# The dedicated backend's tests run against both ComfyUI generations (protocols/comfyui-newer.md).
COMFYUI_VERSIONS = ("0.3.64", "0.38.1")

B = TypeVar("B", DedicatedBackend, EasQueueBackend)

# conftest.py's `sim_servers`: start a SimServer with these options (defaults: one instance, quick steps, seed 1).
SimServerFactory = Callable[..., Awaitable[SimServer]]


def fixture_workflow(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def missing_checkpoint_workflow() -> dict[str, Any]:
    """The SD1.5 graph asking for a checkpoint the server does not have: fails validation at node 4."""
    workflow = fixture_workflow("sd15_txt2img_missing_checkpoint.json")
    workflow["4"]["inputs"]["ckpt_name"] = "no_such_model_v1.safetensors"
    return workflow


def slow_workflow(steps: int = 40) -> dict[str, Any]:
    """The seed SD1.5 graph, small, with `steps` sampler steps (each one emulator step long)."""
    workflow = seed_workflow()
    for assignment in ("5.width=64", "5.height=64", f"3.steps={steps}"):
        workflow = workflow.apply_assignment(assignment)
    return workflow.to_dict()


class Recorder:
    """The engine's side of BackendContext: remembers what was published and every status."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published: list[Job] = []
        self.statuses: list[SourceStatus] = []

    def publish(self, jobs: Any) -> None:
        with self.lock:
            self.published.extend(jobs)

    def report_status(self, status: SourceStatus) -> None:
        with self.lock:
            self.statuses.append(status)

    def last_status(self) -> SourceStatus | None:
        with self.lock:
            return self.statuses[-1] if self.statuses else None

    def versions(self, job_id: str) -> list[Job]:
        with self.lock:
            return [job for job in self.published if job.id == job_id]


# ---------------------------------------------------------------------------------------------- the harnesses


def backend_profile(server: SimServer, *, edition: str, name: str, token: str | None, lost_after: float = 30.0,
                    request_timeout: float = 5) -> Profile:
    """One profile on `server` (the API edition's input queue or the dedicated ComfyUI), with quick polling."""
    token_line = f'token = "{token}"\n' if token else ""
    address = f'input_url = "{server.api_input_url}"' if edition == "api" else f'url = "{server.dedicated_url}/"'
    text = (
        "[defaults]\n"
        "poll_interval = 0.05\n"
        "idle_poll_interval = 0.5\n"
        f"lost_after = {lost_after}\n"
        f"request_timeout = {request_timeout}\n"
        f"\n[profiles.{name}]\n"
        f'edition = "{edition}"\n'
        f"{address}\n"
        f"{token_line}"
    )
    return parse_config_text(text).profiles[name]


def dedicated_profile(server: SimServer, *, token: str | None = DEDICATED_TOKEN, lost_after: float = 30.0,
                      request_timeout: float = 5) -> Profile:
    return backend_profile(server, edition="dedicated", name="dedicated", token=token, lost_after=lost_after,
                           request_timeout=request_timeout)


def eas_profile(server: SimServer, *, token: str | None = EAS_TOKEN, lost_after: float = 30.0, name: str = "api"
                ) -> Profile:
    return backend_profile(server, edition="api", name=name, token=token, lost_after=lost_after)


class BackendHarness(Generic[B]):
    """A backend of type `kind` on `profile` with a real store and a Recorder; `finished` waits for a job's end."""

    def __init__(self, server: SimServer, store: JobStore, profile: Profile, kind: type[B]) -> None:
        self.server = server
        self.store = store
        self.profile = profile
        self.recorder = Recorder()
        self.context = BackendContext(store, self.recorder.publish, self.recorder.report_status)
        backend = create_backend(profile, self.context)
        assert isinstance(backend, kind)
        self.backend: B = backend

    async def finished(self, job: Job, timeout: float = 15.0) -> Job:
        await wait_until(lambda: self.store.get(job.id).state.is_terminal, timeout, f"job {job.id[:8]} to end")
        return self.store.get(job.id)

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Self]:
        """The backend started for the block and stopped after it."""
        await self.backend.start()
        try:
            yield self
        finally:
            await self.backend.stop()


# ---------------------------------------------------------------------------------------------- dedicated


class DedicatedHarness(BackendHarness[DedicatedBackend]):
    """A DedicatedBackend; `submit` does what the engine does around a submit."""

    def __init__(self, server: SimServer, store: JobStore, profile: Profile) -> None:
        super().__init__(server, store, profile, DedicatedBackend)

    def new_job(
        self, workflow: dict[str, Any], *, state: JobState = JobState.SUBMITTING, prompt_id: str | None = None
    ) -> Job:
        job = Job(
            id=new_job_id(),
            profile=self.profile.name,
            edition=Edition.DEDICATED,
            workflow=workflow,
            prompt_id=prompt_id or str(uuid.uuid4()),
            client_id=self.profile.client_id,
            timestamps={JobState.SUBMITTING.value: time.time()},
        )
        self.store.add(job)
        if state is not JobState.SUBMITTING:
            self.store.apply(JobUpdate(job.id, state=state))
        return self.store.get(job.id)

    async def submit(self, workflow: dict[str, Any]) -> Job:
        """What the engine does: store first, send, record the answer, hint the poller."""
        job = self.new_job(workflow)
        result = await self.backend.submit(job)
        assert result.accepted, result.failure
        assert result.prompt_id == job.prompt_id
        self.context.apply([JobUpdate(job.id, state=JobState.QUEUED, queue_index=result.queue_index)])
        self.backend.job_submitted(job)
        return self.store.get(job.id)


class RequestLog:
    """Counts the backend's own HTTP requests by path (an httpx event hook on its client)."""

    def __init__(self, backend: DedicatedBackend) -> None:
        self.paths: list[str] = []
        backend._http().event_hooks["request"].append(self._record)

    async def _record(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)

    def count(self, prefix: str) -> int:
        return sum(1 for path in self.paths if path.startswith(prefix))


# ---------------------------------------------------------------------------------------------- EAS queue


class EasHarness(BackendHarness[EasQueueBackend]):
    """An EasQueueBackend; `submit` does what the engine does around a submit."""

    def __init__(self, server: SimServer, store: JobStore, profile: Profile) -> None:
        super().__init__(server, store, profile, EasQueueBackend)
        self.backend.search_interval = 0.1  # tests want positions and `lost` quickly

    def new_job(
        self, workflow: dict[str, Any], *, state: JobState = JobState.SUBMITTING, queue_index: int | None = None
    ) -> Job:
        job_id = new_job_id()
        job = Job(
            id=job_id,
            profile=self.profile.name,
            edition=Edition.API,
            workflow=workflow,
            task_id=f"comfyq-{job_id}",
            timestamps={JobState.SUBMITTING.value: time.time()},
        )
        self.store.add(job)
        if state is not JobState.SUBMITTING or queue_index is not None:
            new_state = None if state is JobState.SUBMITTING else state
            self.store.apply(JobUpdate(job.id, state=new_state, queue_index=queue_index))
        return self.store.get(job.id)

    async def submit(self, workflow: dict[str, Any]) -> Job:
        job = self.new_job(workflow)
        result = await self.backend.submit(job)
        assert result.accepted, result.failure
        assert result.queue_index is not None and result.queue_index > 0
        assert result.request_id
        self.context.apply(
            [
                JobUpdate(job.id, queue_index=result.queue_index, request_id=result.request_id),
                JobUpdate(job.id, state=JobState.QUEUED),
            ]
        )
        self.backend.job_submitted(job)
        return self.store.get(job.id)

    def sink_length(self) -> int:
        return len(self.server.queues.sink_queue(EAS_SERVICE))


def window_profile(server: SimServer, window: int) -> Profile:
    """A profile `wide` on the API edition with a sink window of `window` results."""
    text = (
        f'[profiles.wide]\nedition = "api"\ninput_url = "{server.api_input_url}"\ntoken = "{EAS_TOKEN}"\n'
        f"window = {window}\nrequest_timeout = 5\n"
    )
    return parse_config_text(text).profiles["wide"]


def put_results(server: SimServer, first: int, count: int) -> list[int]:
    """`count` results straight onto the sink (task ids burst-<n>), as the service's workers write them."""
    sink = server.queues.sink_queue(EAS_SERVICE)
    indexes = []
    for number in range(first, first + count):
        outputs = {"9": {"images": [{"filename": f"burst_{number:04d}.png", "subfolder": "", "type": "output"}]}}
        indexes.append(sink.put(json.dumps([outputs]).encode(), {"task_id": f"burst-{number}"}).index)
    return indexes
