"""The TUI under bad service answers: a job submitted with ctrl+s gets its failure (or stays in flight with the source
shown in trouble), the app keeps running and answering keys, and quits cleanly with `q`.

The app runs headless (`run_test`) in this process; the service is the replay server of conftest.py on loopback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tui.core.jobs import JobState

from tests.faults.helpers import assert_store_intact, write_config
from tests.faults.hostile import ReplayServer, Reply

pytestmark = pytest.mark.timeout(60)

COMFYUI = Path(__file__).resolve().parent.parent / "fixtures" / "comfyui"
MB = 1024 * 1024


def _fixture(name: str, *, history_entry: bool = False) -> Reply:
    meta = json.loads((COMFYUI / f"{name}.meta.json").read_text())
    response = meta["response"]
    return Reply(
        status=response["status"],
        body=(COMFYUI / response["body_file"]).read_bytes(),
        history_entry=history_entry,
    )


@dataclass(frozen=True)
class TuiCase:
    prompt: Reply | None = None
    history: Reply | None = None
    state: JobState = JobState.FAILED
    category: str | None = None
    source_trouble: bool = False  # the job stays in flight and the app reports the source's error


TUI_CASES = {
    "post-prompt:truncated-json": TuiCase(prompt=Reply(body=b'{"prompt_id": "4f'), category="transport"),
    "post-prompt:validation-400": TuiCase(prompt=_fixture("03_post_prompt_bad_values"), category="rejected"),
    "post-prompt:50MB-body": TuiCase(prompt=Reply(status=400, body=b"y" * (50 * MB)), category="transport"),
    "post-prompt:stall": TuiCase(prompt=Reply(stall=True), category="transport"),
    "get-history:execution-error": TuiCase(
        history=_fixture("05_get_history_id_exec_error_blend", history_entry=True), category="execution"
    ),
    "get-history:not-json": TuiCase(
        history=Reply(body=b"<html>maintenance</html>", content_type="text/html"),
        state=JobState.QUEUED,
        source_trouble=True,
    ),
}


@pytest.mark.parametrize("case", sorted(TUI_CASES))
async def test_tui_keeps_running_under_bad_answers(tmp_path: Path, replay: ReplayServer, case: str) -> None:
    from tui.app import ComfyqApp, LaunchOptions
    from tui.core.config import load_config
    from tui.core.engine import apply_params
    from tui.core.locations import resolve_locations
    from tui.core.workflow import seed_workflow

    spec = TUI_CASES[case]
    replay.prompt, replay.history = spec.prompt, spec.history
    config_file = write_config(
        tmp_path / "config.toml",
        "[defaults]\npoll_interval = 0.05\nidle_poll_interval = 0.5\nrequest_timeout = 1\n\n"
        f'[profiles.replay]\nedition = "dedicated"\nurl = "{replay.url}/"\n',
    )
    locations = resolve_locations(config=config_file, data_dir=tmp_path / "data")
    locations.data_dir.mkdir(parents=True)
    config = load_config(locations.config_file, explicit=True)
    workflow = apply_params(seed_workflow(), {"5.width": "64", "5.height": "64", "3.steps": "1"})
    app = ComfyqApp(LaunchOptions(config=config, locations=locations, workflow=workflow))
    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(500):
            if app.engine_started:
                break
            await pilot.pause(0.02)
        assert app.engine_started
        await pilot.press("ctrl+s")
        job = None
        for _ in range(500):
            jobs = app.store.page(limit=5)
            if jobs and (jobs[0].state.is_terminal or (spec.source_trouble and app.last_error)):
                job = jobs[0]
                break
            await pilot.pause(0.02)
        assert job is not None, f"no outcome; last error: {app.last_error}"
        assert job.state is spec.state, (job.state, job.failure)
        if spec.category is not None:
            assert job.failure is not None and job.failure.category.value == spec.category
            assert len(job.failure.message) < 1000
        if spec.source_trouble:
            # A clear message: which answer could not be read.
            assert app.last_error is not None and "unreadable" in app.last_error, app.last_error
        # Still alive and answering: the help screen opens and closes.
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert app.screen.__class__.__name__ != "MainScreen"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen.__class__.__name__ == "MainScreen"
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0
    assert_store_intact(locations.store_file, [job.id])
