"""SVG snapshots (pytest-textual-snapshot) of the main screen, the job detail, the profile form and the help screen.

Everything that could change between runs is frozen: job ids and timestamps come from a pre-filled store, the
clock (`time.time`) and the time zone are fixed, the engine does not start, and paths are relative to a temporary
working directory. Update after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`,
then look at the SVGs in tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.tui.conftest import SIZE, app_on, seeded_dirs, wait_for
from tui.app import ComfyqApp
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, NodeError, Output, Progress
from tui.core.workflow import seed_workflow

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc).timestamp()
T0 = NOW - 900  # the first job, 15 minutes before "now"

CONFIG = """# snapshot config
[profiles.artlab-api]
edition = "api"
input_url = "http://127.0.0.1:9000/api/predict/comfyui-api"
token = "Yjha-0123-4567-89abc"
oss_bucket_path = "oss://my-bucket/artlab"

[profiles.studio]
edition = "dedicated"
url = "http://127.0.0.1:8188/"
oss_bucket_path = "oss://my-bucket/studio"
"""

SEED = seed_workflow().to_dict()
OOM_TRACEBACK = (
    '  File "/ComfyUI/execution.py", line 496, in execute\n',
    '  File "/ComfyUI/nodes.py", line 1525, in sample\n',
    '  File "/ComfyUI/comfy/sample.py", line 45, in sample\n',
)


def frozen_id(number: int) -> str:
    return f"{number:x}" * 32 if number < 16 else f"{number:032x}"


def stamps(start: float, *steps: tuple[str, float]) -> dict[str, float]:
    result = {"submitting": start}
    for state, after in steps:
        result[state] = start + after
    return result


def snapshot_jobs() -> list[Job]:
    """Six jobs in every interesting state, oldest first; ids, timestamps and outputs fixed."""
    rejected = Job(
        id="6a1f0c2e" + "0" * 24,
        profile="studio",
        edition=Edition.DEDICATED,
        workflow=SEED,
        state=JobState.FAILED,
        prompt_id="0b7d3f4e-1c2a-4b5d-9e8f-0123456789ab",
        client_id="comfyq-client-1",
        timestamps=stamps(T0, ("failed", 0.2)),
        failure=Failure(
            category=FailureCategory.REJECTED,
            message="Prompt outputs failed validation",
            node_errors=(
                NodeError(
                    node_id="4",
                    class_type="CheckpointLoaderSimple",
                    type="value_not_in_list",
                    message="Value not in list",
                    details="ckpt_name: 'missing.safetensors' not in ['v1-5-pruned-emaonly.safetensors']",
                    input_name="ckpt_name",
                ),
            ),
        ),
    )
    oom = Job(
        id="7c3e9a10" + "1" * 24,
        profile="studio",
        edition=Edition.DEDICATED,
        workflow=SEED,
        state=JobState.FAILED,
        prompt_id="1c8e4a5f-2d3b-4c6e-8f90-123456789abc",
        client_id="comfyq-client-1",
        timestamps=stamps(T0 + 60, ("queued", 0.1), ("running", 0.4), ("failed", 7.9)),
        failure=Failure(
            category=FailureCategory.EXECUTION,
            message="CUDA out of memory. Tried to allocate 2.00 GiB.",
            node_id="3",
            class_type="KSampler",
            exception_type="torch.OutOfMemoryError",
            traceback=OOM_TRACEBACK,
        ),
    )
    retry = Job(
        id="8d4fab21" + "2" * 24,
        profile="studio",
        edition=Edition.DEDICATED,
        workflow=SEED,
        state=JobState.SUCCEEDED,
        prompt_id="2d9f5b60-3e4c-4d7f-9a01-23456789abcd",
        client_id="comfyq-client-1",
        timestamps=stamps(T0 + 120, ("queued", 0.1), ("running", 0.3), ("succeeded", 9.6)),
        outputs=(Output("9", "output", "", "ComfyUI_00042_.png"),),
        parent_id=oom.id,
        attempt=2,
    )
    queued = Job(
        id="9e50bc32" + "3" * 24,
        profile="artlab-api",
        edition=Edition.API,
        workflow=SEED,
        state=JobState.QUEUED,
        task_id="comfyq-9e50bc32" + "3" * 24,
        queue_index=17,
        request_id="4f1e2d3c-0000-4000-8000-00000000abcd",
        timestamps=stamps(T0 + 800, ("queued", 0.3)),
        queue_position=2,
    )
    active = Job(
        id="a061cd43" + "4" * 24,
        profile="artlab-api",
        edition=Edition.API,
        workflow=SEED,
        state=JobState.RUNNING,
        task_id="comfyq-a061cd43" + "4" * 24,
        queue_index=16,
        request_id="4f1e2d3c-0000-4000-8000-00000000abce",
        timestamps=stamps(T0 + 790, ("queued", 0.2), ("running", 2.0)),
        progress=Progress(node_id="3", class_type="KSampler", value=12, max=20),
    )
    done = Job(
        id="b172de54" + "5" * 24,
        profile="artlab-api",
        edition=Edition.API,
        workflow=SEED,
        state=JobState.SUCCEEDED,
        task_id="comfyq-b172de54" + "5" * 24,
        queue_index=15,
        request_id="4f1e2d3c-0000-4000-8000-00000000abcf",
        sink_index=15,
        timestamps=stamps(T0 + 820, ("queued", 0.2), ("running", 1.1), ("succeeded", 12.4)),
        outputs=(
            Output("9", "output", "portraits", "ComfyUI_00015_.png"),
            Output("12", "temp", "", "ComfyUI_temp_abcd_00001_.png"),
        ),
        raw_result='{"9": {"images": [{"filename": "ComfyUI_00015_.png", "subfolder": "portraits"}]}}',
    )
    return [rejected, oom, retry, active, queued, done]


@pytest.fixture
def frozen_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], ComfyqApp]:
    """Builds the app on a pre-filled store with the clock, the time zone and the paths fixed."""
    monkeypatch.chdir(tmp_path)  # relative paths: no temporary directory name can appear on screen
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(time, "time", lambda: NOW)
    dirs = seeded_dirs(Path("."), CONFIG, snapshot_jobs())
    apps: list[ComfyqApp] = []

    def build() -> ComfyqApp:
        app = app_on(dirs)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.store.close()
    monkeypatch.undo()
    time.tzset()


async def panes_mounted(pilot) -> None:  # type: ignore[no-untyped-def]
    """The snapshots wait for what the main screen computes in worker threads."""
    # The profiles' last-hour figures are computed in a worker thread: the snapshot shows them.
    def figures_shown() -> bool:
        found = pilot.app.screen.query("#profiles")  # none until the main screen is up
        return bool(found) and found.first().hour_figures_shown

    await wait_for(pilot, figures_shown, "last-hour figures")
    await pilot.pause()


def test_main_screen(snap_compare, frozen_app: Callable[[], ComfyqApp]) -> None:  # type: ignore[no-untyped-def]
    """Profiles, the workflow form, six jobs in every state, and the detail of the newest (succeeded) job."""
    assert snap_compare(frozen_app(), run_before=panes_mounted, terminal_size=SIZE)


def test_main_screen_80x24(snap_compare, frozen_app: Callable[[], ComfyqApp]) -> None:  # type: ignore[no-untyped-def]
    """The same at 80×24: the narrow layout still shows state, id, progress and the main keys."""
    assert snap_compare(frozen_app(), run_before=panes_mounted, terminal_size=(80, 24))


def test_job_detail_screen(snap_compare, frozen_app: Callable[[], ComfyqApp]) -> None:  # type: ignore[no-untyped-def]
    """enter on the failed job that was resubmitted: timeline, error block, attempts, ids."""
    app = frozen_app()
    # Newest first: done, queued, running, retry, oom (the fifth row).
    assert snap_compare(
        app, press=["down", "down", "down", "down", "enter"], run_before=panes_mounted, terminal_size=SIZE
    )


def test_profile_form(snap_compare, frozen_app: Callable[[], ComfyqApp]) -> None:  # type: ignore[no-untyped-def]
    """E on the first profile: the edit form with its values, the token masked."""

    async def focus_profiles(pilot) -> None:  # type: ignore[no-untyped-def]
        await panes_mounted(pilot)
        pilot.app.screen.query_one("#profiles").focus()
        await pilot.pause()

    assert snap_compare(frozen_app(), press=["E"], run_before=focus_profiles, terminal_size=SIZE)


def test_help_screen(snap_compare, frozen_app: Callable[[], ComfyqApp]) -> None:  # type: ignore[no-untyped-def]
    """?: every binding, its keys and its id."""
    assert snap_compare(frozen_app(), press=["question_mark"], run_before=panes_mounted, terminal_size=SIZE)
