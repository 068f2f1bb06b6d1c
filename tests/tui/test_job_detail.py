"""The job detail (pane and full screen) over a real JobStore, with jobs built from captured ComfyUI answers."""

from __future__ import annotations

import io
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.content import Content
from textual.reactive import var
from textual.signal import Signal
from textual.widgets import Collapsible, DataTable, OptionList, Static

from screens.job_detail import JobDetailScreen
from tests.tui.conftest import wait_for
from tui.core.config import Config, parse_config_text
from tui.core.jobs import Edition, Job, JobState, JobUpdate, Output, new_job_id
from tui.core.payloads import Outcome, parse_history_response, parse_sink_payload
from tui.core.store import JobStore
from tui.core.presentation import TEMP_OSS_TEXT
from tui.widgets.job_detail import JobDetail

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COMFYUI = FIXTURES / "comfyui"
SINK = FIXTURES / "sink"
SIZE = (120, 36)
SINK_INDEXES = itertools.count(5)  # unique per profile in the store

BUCKET = "oss://my-bucket/comfy"
CONFIG_TEXT = f"""
[profiles.dedi]
edition = "dedicated"
url = "http://127.0.0.1:8188"
oss_bucket_path = "{BUCKET}"

[profiles.queue]
edition = "api"
input_url = "http://127.0.0.1:9000/api/predict/comfy-svc"
oss_bucket_path = "{BUCKET}/"
"""


def history_outcome(name: str) -> Outcome:
    body = json.loads((COMFYUI / name).read_text())
    prompt_id = next(iter(body))
    outcome = parse_history_response(body, prompt_id)
    assert outcome is not None
    return outcome


def sink_outcome(name: str) -> tuple[Outcome, dict[str, str]]:
    sample = json.loads((SINK / name).read_text())
    data = sample["data"]
    payload = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    return parse_sink_payload(payload, sample.get("tags", {})), sample.get("tags", {})


def store_job(
    store: JobStore,
    outcome: Outcome | None,
    *,
    profile: str = "dedi",
    parent: Job | None = None,
    job_id: str | None = None,
    start: float | None = None,
) -> Job:
    """A job that went submitting -> queued -> running -> `outcome` (or stays running when outcome is None)."""
    start = time.time() - 30 if start is None else start
    edition = Edition.API if profile == "queue" else Edition.DEDICATED
    job_id = job_id or new_job_id()
    remote_id = job_id[::-1]  # derived, so fixed ids give fixed remote ids (snapshots)
    job = Job(
        id=job_id,
        profile=profile,
        edition=edition,
        workflow={"3": {"class_type": "KSampler", "inputs": {"seed": 7}}},
        task_id=remote_id if edition is Edition.API else None,
        prompt_id=None if edition is Edition.API else remote_id,
        client_id="client-1" if edition is Edition.DEDICATED else None,
        timestamps={"submitting": start},
        parent_id=parent.id if parent else None,
        attempt=parent.attempt + 1 if parent else 1,
    )
    store.add(job)
    store.apply(JobUpdate(job.id, state=JobState.QUEUED, at=start + 1, queue_index=41, request_id="req-9"))
    store.apply(JobUpdate(job.id, state=JobState.RUNNING, at=start + 3))
    if outcome is not None:
        store.apply(
            JobUpdate(
                job.id,
                state=outcome.state,
                at=start + 9,
                outputs=outcome.outputs,
                failure=outcome.failure,
                warning=outcome.warning,
                raw_result=outcome.raw,
                sink_index=next(SINK_INDEXES) if edition is Edition.API else None,
            )
        )
    return store.get(job.id)


class DetailApp(App[None]):
    """Just the detail pane, fed like the main screen feeds it."""

    def __init__(self, config: Config, store: JobStore, job: Job | None) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.first_job = job
        self.navigations: list[str] = []

    def compose(self) -> ComposeResult:
        yield JobDetail(self.store, id="detail")

    def on_mount(self) -> None:
        detail = self.query_one(JobDetail)
        detail.show_job(self.first_job)
        detail.focus()

    def on_job_detail_navigate(self, event: JobDetail.Navigate) -> None:
        self.navigations.append(event.job_id)
        self.query_one(JobDetail).show_job(self.store.get(event.job_id))


class FullScreenApp(App[None]):
    """What JobDetailScreen reads of ComfyqApp: the store, the config (a reactive it watches) and the jobs signal."""

    config: var[Config | None] = var(None, init=False)

    def __init__(self, config: Config, store: JobStore, job_id: str) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.job_id = job_id
        self.jobs_signal: Signal[list[Job]] = Signal(self, "jobs")

    def on_mount(self) -> None:
        self.push_screen(JobDetailScreen(self.job_id))


@pytest.fixture
def config() -> Config:
    return parse_config_text(CONFIG_TEXT, env={})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(tmp_path / "jobs.sqlite3")
    yield job_store
    job_store.close()


def shown(detail: JobDetail, selector: str) -> bool:
    """Whether the section is on screen (sections a job never needed are not built at all)."""
    found = detail.query(selector)
    return bool(found) and found.first().display


def cell_texts(table: DataTable, column: str) -> list[str]:
    return [str(value) for value in table.get_column(column)]


def static_text(widget: Static) -> str:
    """What a Static shows, as plain text (whatever it was given: str, Text, Content or a rich table)."""
    content = widget.content
    if isinstance(content, (str, Content)):
        return str(content)
    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


async def test_succeeded_job_shows_files_and_oss_paths(config: Config, store: JobStore) -> None:
    job = store_job(store, history_outcome("01b_get_history_id_batch_success.json"))
    app = DetailApp(config, store, job)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        table = detail.query_one("#detail-outputs", DataTable)
        filenames = cell_texts(table, "filename")
        assert "fixture_batch_00001_.png" in filenames
        assert "ComfyUI_temp_hvttz_00001_.png" in filenames
        paths = cell_texts(table, "oss")
        assert f"{BUCKET}/output/fixture_batch_00001_.png" in paths
        temp_row = filenames.index("ComfyUI_temp_hvttz_00001_.png")
        assert paths[temp_row] == TEMP_OSS_TEXT
        header = static_text(detail.query_one("#detail-header", Static))
        assert "succeeded" in header and job.id[:8] in header and "dedi" in header
        timeline = static_text(detail.query_one("#detail-timeline", Static))
        for state in ("submitting", "queued", "running", "succeeded"):
            assert state in timeline
        assert "6.0s" in timeline  # running -> succeeded
        ids = static_text(detail.query_one("#detail-ids", Static))
        assert job.prompt_id in ids and "client-1" in ids
        assert not shown(detail, "#detail-error")


async def test_subfolder_and_api_ids(config: Config, store: JobStore) -> None:
    outcome, _ = sink_outcome("outputs_in_subfolder_and_temp.json")
    job = store_job(store, outcome, profile="queue")
    app = DetailApp(config, store, job)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        table = detail.query_one("#detail-outputs", DataTable)
        path = f"{BUCKET}/output/portraits/2026/shot_00001_.png"
        assert cell_texts(table, "oss") == [path, TEMP_OSS_TEXT]  # files with an OSS path first
        assert cell_texts(table, "subfolder") == ["portraits/2026", ""]
        ids = static_text(detail.query_one("#detail-ids", Static))
        assert job.task_id in ids and "req-9" in ids and "index 41" in ids
        assert f"sink index {store.get(job.id).sink_index}" in ids

        # Too narrow for every column: the OSS path stays, the temp file is named in its place.
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert [str(column.label) for column in table.columns.values()] == ["node", "type", "OSS path (or file)"]
        assert cell_texts(table, "oss") == [path, f"ComfyUI_temp_abcde_00001_.png  {TEMP_OSS_TEXT}"]
        await pilot.press("y")
        assert app.clipboard == path


async def test_copy_keys(config: Config, store: JobStore) -> None:
    job = store_job(store, history_outcome("01b_get_history_id_batch_success.json"))
    app = DetailApp(config, store, job)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        table = detail.query_one("#detail-outputs", DataTable)
        filenames = cell_texts(table, "filename")
        first_output = filenames.index("fixture_batch_00001_.png")
        table.move_cursor(row=first_output)
        await pilot.press("y")
        assert app.clipboard == f"{BUCKET}/output/fixture_batch_00001_.png"

        await pilot.press("Y")
        lines = app.clipboard.splitlines()
        assert lines == [f"{BUCKET}/output/fixture_batch_0000{n}_.png" for n in range(1, 5)]

        await pilot.press("c")
        assert app.clipboard == f"job {job.id}, prompt_id {job.prompt_id}, request_id req-9"

        # A temp output has no OSS path: nothing is copied, the user is told why.
        table.move_cursor(row=filenames.index("ComfyUI_temp_hvttz_00002_.png"))
        app.copy_to_clipboard("before")
        assert detail.copy_selected_oss_path() is False
        await pilot.press("y")
        assert app.clipboard == "before"
        await pilot.pause()
        assert any("no OSS path" in notification.message for notification in app._notifications)


async def test_execution_failure_shows_error_block(config: Config, store: JobStore) -> None:
    job = store_job(store, history_outcome("05_get_history_id_exec_error_blend.json"))
    app = DetailApp(config, store, job)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        assert detail.has_class("-failed")
        block = detail.query_one("#detail-error")
        assert block.display
        text = static_text(detail.query_one("#detail-error-text", Static))
        assert "execution" in text
        assert "node 3" in text and "ImageBlend" in text and "RuntimeError" in text
        assert "The size of tensor a (2) must match" in text
        traceback = detail.query_one("#detail-traceback", Collapsible)
        assert traceback.display and traceback.collapsed
        traceback.collapsed = False
        await pilot.pause()
        assert "execution.py" in static_text(detail.query_one("#detail-traceback-text", Static))
        assert not shown(detail, "#detail-outputs")


async def test_rejected_job_lists_node_errors(config: Config, store: JobStore) -> None:
    outcome, _ = sink_outcome("validation_body_bad_values.json")
    job = store_job(store, outcome, profile="queue")
    app = DetailApp(config, store, job)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = static_text(app.query_one("#detail-error-text", Static))
        assert "rejected" in text and "4 errors in 3 nodes" in text
        assert "EmptyImage" in text and "ImageScale" in text and "upscale_method" in text


async def test_raw_result_and_workflow_render_when_opened(config: Config, store: JobStore) -> None:
    outcome, _ = sink_outcome("non_json_text.json")
    job = store_job(store, outcome, profile="queue")
    done = store_job(store, history_outcome("01_get_history_id_success.json"))
    app = DetailApp(config, store, job)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        raw = detail.query_one("#detail-raw", Collapsible)
        assert raw.collapsed and static_text(detail.query_one("#detail-raw-text", Static)) == ""
        raw.collapsed = False
        await pilot.pause()
        assert static_text(detail.query_one("#detail-raw-text", Static)) == job.raw_result
        assert "text" in str(raw.title)

        detail.show_job(done)  # raw stays open: the JSON result is pretty-printed
        await pilot.pause()
        shown = static_text(detail.query_one("#detail-raw-text", Static))
        assert shown == json.dumps(json.loads(done.raw_result), indent=2, ensure_ascii=False)
        assert "JSON" in str(raw.title)

        workflow = detail.query_one("#detail-workflow", Collapsible)
        workflow.collapsed = False
        await pilot.pause()
        assert '"class_type": "KSampler"' in static_text(detail.query_one("#detail-workflow-text", Static))


async def test_live_updates_keep_the_sections_and_scroll(config: Config, store: JobStore) -> None:
    job = store_job(store, None)
    app = DetailApp(config, store, job)
    async with app.run_test(size=(80, 14)) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        workflow = detail.query_one("#detail-workflow", Collapsible)
        workflow.collapsed = False
        await pilot.pause()
        detail.scroll_end(animate=False)
        await pilot.pause()
        scrolled = detail.scroll_y
        assert scrolled > 0
        from tui.core.jobs import Progress

        for value in range(1, 6):
            updated = store.apply(JobUpdate(job.id, progress=Progress("3", "KSampler", value, 20)))
            assert updated is not None
            detail.show_job(updated)
            await pilot.pause()
        assert detail.query_one("#detail-workflow", Collapsible) is workflow and not workflow.collapsed
        assert "KSampler 5/20" in static_text(detail.query_one("#detail-header", Static))
        assert detail.scroll_y == scrolled


async def test_chain_navigation_in_the_pane(config: Config, store: JobStore) -> None:
    first = store_job(store, history_outcome("05_get_history_id_exec_error_blend.json"))
    second = store_job(store, history_outcome("05_get_history_id_exec_error_scaleby.json"), parent=first)
    third = store_job(store, history_outcome("01_get_history_id_success.json"), parent=second)
    app = DetailApp(config, store, second)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        chain = detail.query_one("#detail-chain", OptionList)
        assert chain.display and chain.option_count == 3
        assert [chain.get_option_at_index(i).id for i in range(3)] == [first.id, second.id, third.id]
        assert "attempt 2/3" in static_text(detail.query_one("#detail-header", Static))

        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.navigations == [third.id]
        assert detail.job is not None and detail.job.id == third.id

        chain.focus()
        chain.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert app.navigations[-1] == first.id
        assert detail.job.id == first.id


async def test_new_attempt_appears_in_the_chain(config: Config, store: JobStore) -> None:
    first = store_job(store, history_outcome("05_get_history_id_exec_error_blend.json"))
    app = DetailApp(config, store, first)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        assert not shown(detail, "#detail-chain")
        retry = store_job(store, None, parent=first)
        detail.jobs_changed([retry])
        await pilot.pause()
        chain = detail.query_one("#detail-chain", OptionList)
        assert chain.display and chain.option_count == 2


def shown_sections(detail: JobDetail) -> list[str]:
    """The ids of the sections on screen, top to bottom."""
    return [child.id or "" for child in detail.children if child.display]


class SequenceApp(App[None]):
    """Shows several jobs one after the other as soon as the pane is mounted (before its first frame)."""

    def __init__(self, config: Config, store: JobStore, jobs: list[Job]) -> None:
        super().__init__()
        self.config = config
        self.store = store
        self.sequence = jobs

    def compose(self) -> ComposeResult:
        yield JobDetail(self.store, id="detail")

    def on_mount(self) -> None:
        detail = self.query_one(JobDetail)
        for job in self.sequence:
            detail.show_job(job)


async def test_sections_needed_before_the_first_frame_are_built_in_their_place(config: Config, store: JobStore) -> None:
    running = store_job(store, None)  # no outputs, no failure, no raw result yet: only its workflow below the ids
    failed = store_job(store, history_outcome("05_get_history_id_exec_error_blend.json"))
    retry = store_job(store, history_outcome("01b_get_history_id_batch_success.json"), parent=failed)
    # The running job's sections are built first; the failure's must still land above and between them.
    app = SequenceApp(config, store, [running, failed])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        assert shown_sections(detail) == [
            "detail-header", "detail-timeline", "detail-error", "detail-chain-heading", "detail-chain",
            "detail-ids-heading", "detail-ids", "detail-raw", "detail-workflow",
        ]  # fmt: skip
        error_block = detail.query_one("#detail-error")
        assert [child.id for child in error_block.children] == ["detail-error-text", "detail-traceback"]
        assert "RuntimeError" in static_text(detail.query_one("#detail-error-text", Static))

        # Once the pane is on screen the rest is built, hidden, in order; each section exists once.
        await pilot.pause()
        assert [child.id for child in detail.children] == [
            "detail-header", "detail-timeline", "detail-error", "detail-warning", "detail-outputs-heading",
            "detail-outputs", "detail-chain-heading", "detail-chain", "detail-ids-heading", "detail-ids",
            "detail-raw", "detail-workflow",
        ]  # fmt: skip
        assert detail.query_one("#detail-error") is error_block and len(detail.query("#detail-traceback")) == 1

        detail.show_job(retry)
        await pilot.pause()
        assert shown_sections(detail) == [
            "detail-header", "detail-timeline", "detail-outputs-heading", "detail-outputs", "detail-chain-heading",
            "detail-chain", "detail-ids-heading", "detail-ids", "detail-raw", "detail-workflow",
        ]  # fmt: skip
        assert detail.query_one("#detail-outputs", DataTable).row_count == len(retry.outputs)

        detail.show_job(failed)
        await pilot.pause()
        assert "detail-error" in shown_sections(detail) and "detail-outputs" not in shown_sections(detail)
        assert detail.selected_oss_path() is None and detail.all_oss_paths() == []

        detail.show_job(None)
        await pilot.pause()
        assert shown_sections(detail) == ["detail-header"]


async def test_a_pane_without_a_job_is_one_line_then_gets_every_section_hidden(config: Config, store: JobStore) -> None:
    app = DetailApp(config, store, None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        await wait_for(pilot, lambda: len(detail.children) > 1, "the hidden sections")
        assert shown_sections(detail) == ["detail-header"]
        assert len(detail.children) == 12 and len(detail.query("#detail-traceback")) == 1


async def test_full_screen_switches_attempt(config: Config, store: JobStore) -> None:
    first = store_job(store, history_outcome("05_get_history_id_exec_error_blend.json"))
    second = store_job(store, history_outcome("01_get_history_id_success.json"), parent=first)
    app = FullScreenApp(config, store, first.id)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        detail = screen.query_one(JobDetail)
        assert detail.job is not None and detail.job.id == first.id
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert screen.job_id == second.id and detail.job.id == second.id
        assert detail.query_one("#detail-outputs", DataTable).row_count == len(second.outputs)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JobDetailScreen)


async def test_no_job_and_no_bucket(store: JobStore) -> None:
    config = parse_config_text('[profiles.dedi]\nedition = "dedicated"\nurl = "http://127.0.0.1:8188"\n', env={})
    job = store_job(store, history_outcome("01_get_history_id_success.json"))
    app = DetailApp(config, store, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        assert "no job selected" in static_text(detail.query_one("#detail-header", Static))
        detail.show_job(job)
        await pilot.pause()
        table = detail.query_one("#detail-outputs", DataTable)
        assert all("oss_bucket_path" in path for path in cell_texts(table, "oss"))
        app.copy_to_clipboard("before")
        await pilot.press("Y")
        assert app.clipboard == "before"
        detail.show_job(None)
        await pilot.pause()
        assert not table.display


async def test_the_pane_can_be_zoomed(config: Config, store: JobStore) -> None:
    job = store_job(store, history_outcome("01_get_history_id_success.json"))
    app = DetailApp(config, store, job)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        detail = app.query_one(JobDetail)
        # From the outputs table too: the whole detail is what zooms.
        assert app.screen.maximize(detail.query_one("#detail-outputs", DataTable))
        assert app.screen.maximized is detail


# ------------------------------------------------------------------------------------------------ snapshots

SnapCompare = Callable[..., bool]
SNAPSHOT_START = 978_429_600.0  # 2001-01-02 10:00 UTC: fixed, and never "today" (clock shows the date)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def snapshot_chain(store: JobStore) -> tuple[Job, Job]:
    first = store_job(
        store, history_outcome("05_get_history_id_exec_error_blend.json"), job_id="1" * 32, start=SNAPSHOT_START
    )
    second = store_job(
        store,
        history_outcome("01b_get_history_id_batch_success.json"),
        parent=first,
        job_id="2" * 32,
        start=SNAPSHOT_START + 60,
    )
    return first, second


def test_snapshot_full_screen_success(snap_compare: SnapCompare, config: Config, store: JobStore, utc: None) -> None:
    _, second = snapshot_chain(store)
    assert snap_compare(FullScreenApp(config, store, second.id), terminal_size=SIZE)


def test_snapshot_pane_failure(snap_compare: SnapCompare, config: Config, store: JobStore, utc: None) -> None:
    first, _ = snapshot_chain(store)
    assert snap_compare(DetailApp(config, store, first), terminal_size=(76, 13))


async def test_closing_the_full_screen_detail_at_once_does_not_crash(config: Config, store: JobStore) -> None:
    """enter then esc before the detail's first frame is out: its deferred section building finds it detached."""
    job = store_job(store, history_outcome("01_get_history_id_success.json"))
    app = FullScreenApp(config, store, job.id)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for _ in range(3):
            app.push_screen(JobDetailScreen(job.id))
            await pilot.pause(0)
            app.pop_screen()
        await pilot.pause(0.2)
        assert app.return_code is None and app.is_running


async def test_a_long_oss_path_wraps_instead_of_being_cut_and_copies_whole(config: Config, store: JobStore) -> None:
    """A path longer than the outputs table's room is folded over the row's next lines, in the pane and full
    screen; `y` copies it whole."""
    subfolder = "/".join(f"project-{n:02d}-renders-final-approved" for n in range(4))
    filename = "a_really_long_output_file_name_for_the_client_review_00001_.png"
    outcome = Outcome(JobState.SUCCEEDED, outputs=(Output("9", "output", subfolder, filename),))
    job = store_job(store, outcome)
    path = f"{BUCKET}/output/{subfolder}/{filename}"
    assert len(path) > 200
    for size in ((120, 36), (80, 24)):
        app = FullScreenApp(config, store, job.id)
        async with app.run_test(size=size) as pilot:
            detail = await wait_for(pilot, lambda: app.screen.query(JobDetail).first() if app.screen.query(JobDetail)
                                    else None, "the detail screen")
            await wait_for(pilot, lambda: detail.job is not None, "the job")
            await pilot.pause()
            lines = [strip.text for strip in app.screen._compositor.render_strips()]
            # The path's pieces, read across the screen lines inside the table's frame, make the whole path.
            table = detail.query_one("#detail-outputs", DataTable)
            region = table.content_region
            shown = "".join(line[region.x : region.right].strip().split("  ")[-1].strip()
                            for line in lines[region.y : region.bottom] if "…" not in line)
            assert path in shown.replace(" ", ""), (size, "\n".join(lines))
            assert not any("…" in line[region.x : region.right] for line in lines[region.y : region.bottom])
            await pilot.press("y")
            assert app.clipboard == path
