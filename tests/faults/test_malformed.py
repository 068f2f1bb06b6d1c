"""Malformed inputs, table-driven: broken config files, broken and UI-format workflows, every error body in the
captured ComfyUI fixtures, truncated / non-JSON / 50 MB / stalled / dropped answers, unknown sink shapes and frames
with unexpected tags.

In every case the real `comfyq` runs as a subprocess and must: say what is wrong (a position or a hint), exit with the
documented code (2 usage/config, 1 a job failed, 3 unreachable/unauthorized), never print a traceback, and leave the
job store intact (SQLite integrity check, the rows that should be there are there).
"""

from __future__ import annotations

import base64
import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui.core.jobs import Edition, FailureCategory, Job, JobState, new_job_id
from tui.core.store import RAW_RESULT_LIMIT, JobStore

from tests.faults.helpers import (
    Cli,
    Emulator,
    assert_clean_output,
    assert_store_intact,
    json_lines,
    popen_to_files,
    running,
    write_config,
)
from tests.faults.hostile import ReplayServer, Reply
from tests.payload_expectations import HISTORY_EXPECTED, PROMPT_EXPECTED, SINK_EXPECTED
from tests.waiting import wait_until_sync

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COMFYUI = FIXTURES / "comfyui"
SINK = FIXTURES / "sink"
MB = 1024 * 1024

EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def witness_store(cli: Cli) -> str:
    """A store with one job in it before the bad input arrives; returns that job's id."""
    cli.data_dir.mkdir(parents=True, exist_ok=True)
    job = Job(
        id=new_job_id(),
        profile="witness",
        edition=Edition.DEDICATED,
        workflow={"1": {"class_type": "SaveImage", "inputs": {}}},
        state=JobState.FAILED,
        timestamps={JobState.SUBMITTING.value: 1.0, JobState.FAILED.value: 2.0},
    )
    with JobStore(cli.store_file) as store:
        store.add(job)
    return job.id


# ================================================================================================ config files

GOOD_PROFILE = '[profiles.x]\nedition = "dedicated"\nurl = "http://127.0.0.1:9/"\n'

# id -> (config text or bytes, what stderr must say after "PATH"; "" = just the path)
CONFIG_CASES: dict[str, tuple[str | bytes, str]] = {
    "toml-syntax-missing-value": ('[profiles.x]\nedition = "api"\ninput_url = \n', ":3: TOML syntax error"),
    "toml-unclosed-table-header": ('[profiles.x\nedition = "api"\n', ":1: TOML syntax error"),
    "toml-duplicate-key": ('[profiles.x]\nedition = "dedicated"\nedition = "api"\n', ":3: TOML syntax error"),
    "unknown-edition": ('[profiles.x]\nedition = "apii"\n', ":2: profiles.x.edition: unknown edition 'apii'"),
    "typo-in-key": (
        '[profiles.x]\nedition = "api"\ninput_urll = "http://127.0.0.1:9/api/predict/s"\n',
        ":3: profiles.x.input_urll: unknown key (did you mean 'input_url'?)",
    ),
    "url-bad-scheme": (
        '[profiles.x]\nedition = "dedicated"\nurl = "ftp://files.example"\n',
        ":3: profiles.x.url: bad URL 'ftp://files.example'",
    ),
    "url-bad-port": ('[profiles.x]\nedition = "dedicated"\nurl = "http://h:99999"\n', ":3: profiles.x.url: bad URL"),
    "token-env-unset": (
        GOOD_PROFILE + 'token_env = "COMFYQ_FAULTS_SURELY_UNSET"\n',
        ":4: profiles.x.token_env: environment variable COMFYQ_FAULTS_SURELY_UNSET is not set",
    ),
    "wrong-type": (GOOD_PROFILE + 'request_timeout = "fast"\n', ":4: profiles.x.request_timeout: expected"),
    "negative-default": (
        "[defaults]\nrequest_timeout = -1\n" + GOOD_PROFILE, ":2: defaults.request_timeout: must be greater than 0"
    ),
    "no-profiles": ('[profile.x]\nedition = "dedicated"\n', ":1: profile: unknown key (did you mean 'profiles'?)"),
    "not-utf8": (b'[profiles.x]\nedition = "dedicated"\nurl = "http://h\xff"\n', ": not UTF-8"),
}


@pytest.mark.parametrize("command", ["jobs", "submit"])
@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_broken_config_names_path_and_line_and_exits_2(tmp_path: Path, workflow_file: Path, case: str, command: str) -> None:
    text, expected = CONFIG_CASES[case]
    config = tmp_path / "config.toml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text, encoding="utf-8")
    cli = Cli(config, tmp_path / "data")
    witness = witness_store(cli)
    args = ["jobs"] if command == "jobs" else ["submit", str(workflow_file), "-p", "x"]
    result = cli.run(*args, timeout=30)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"{config}{expected}" in result.stderr
    assert result.stdout == ""
    assert_clean_output(result.stderr)
    jobs = assert_store_intact(cli.store_file, [witness])
    assert len(jobs) == 1  # nothing was stored


# ================================================================================================ workflows

# id -> (workflow file content, what stderr must say after "PATH")
WORKFLOW_CASES: dict[str, tuple[str | bytes, str]] = {
    "json-syntax": ('{\n  "3": {,}\n}\n', ":2:9: invalid JSON"),
    "truncated-json": ('{"3": {"class_type": "KSampler", "inputs": {', ":1:45: invalid JSON"),
    "ui-format": ('{"last_node_id": 9, "nodes": [], "links": []}', ": this is a UI-format workflow"),
    "ui-format-hint": (
        '{"nodes": [{"id": 1, "type": "SaveImage"}], "links": []}',
        ": this is a UI-format workflow: export it from ComfyUI with Export (API)",
    ),
    "empty-file": ("", ": the workflow is empty"),
    "a-list": ("[1, 2]", ": expected a JSON object mapping node ids to nodes, got a list"),
    "a-string": ('"hello"', ": expected a JSON object mapping node ids to nodes, got a string"),
    "no-nodes": ("{}", ": the workflow has no nodes"),
    "node-without-class-type": ('{"1": {"inputs": {}}}', ':1:2: node 1 has no "class_type"'),
    "inputs-not-an-object": ('{"1": {"class_type": "SaveImage", "inputs": 5}}', ':1:2: node 1 (SaveImage): "inputs"'),
    "link-to-missing-node": (
        '{"1": {"class_type": "SaveImage", "inputs": {"images": ["42", 0]}}}',
        ":1:46: node 1 (SaveImage) input \"images\" links to node 42",
    ),
    "binary-file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", ": the file is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(WORKFLOW_CASES))
def test_broken_workflow_gives_position_or_hint_and_exits_2(
    tmp_path: Path, replay: ReplayServer, case: str
) -> None:
    content, expected = WORKFLOW_CASES[case]
    workflow = tmp_path / "wf.json"
    if isinstance(content, bytes):
        workflow.write_bytes(content)
    else:
        workflow.write_text(content, encoding="utf-8")
    cli = Cli(write_config(tmp_path / "config.toml", replay_config(replay)), tmp_path / "data")
    witness = witness_store(cli)
    result = cli.run("submit", str(workflow), "-p", "replay", "--wait", timeout=30)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"{workflow}{expected}" in result.stderr
    assert_clean_output(result.stdout, result.stderr)
    assert assert_store_intact(cli.store_file, [witness]) and not replay.requests.answers(
        lambda answer: answer.method == "POST"
    ), "a broken workflow reached the service"


# ================================================================================================ service answers


def replay_config(replay: ReplayServer) -> str:
    return (
        "[defaults]\n"
        "poll_interval = 0.05\n"
        "idle_poll_interval = 0.5\n"
        "request_timeout = 2\n"
        "lost_after = 1.5\n"
        "\n"
        "[profiles.replay]\n"
        'edition = "dedicated"\n'
        f'url = "{replay.url}/"\n'
        'oss_bucket_path = "oss://replay-bucket/out"\n'
    )


def fixture_reply(name: str, *, history_entry: bool = False) -> Reply:
    meta = json.loads((COMFYUI / f"{name}.meta.json").read_text())
    response = meta["response"]
    content_type = next(
        (value for key, value in response["headers"].items() if key.lower() == "content-type"), None
    )
    return Reply(
        status=response["status"],
        body=(COMFYUI / response["body_file"]).read_bytes(),
        content_type=content_type,
        history_entry=history_entry,
    )


@dataclass(frozen=True)
class Expect:
    """What the job and the CLI must end with."""

    exit_code: int
    state: str
    category: str | None = None
    message: str | None = None  # the failure's exact message
    fragments: tuple[str, ...] = ()  # pieces the failure message (or stderr, for active jobs) must contain
    outputs: int | None = None
    warning: bool = False
    max_message: int = 1000  # messages stay readable however big the answer was
    raw_capped: bool = False  # the answer was huge: the store keeps only the start of it, and says so


@dataclass(frozen=True)
class ServiceCase:
    prompt: Reply | None = None
    history: Reply | None = None
    queue: Reply | None = None
    expect: Expect = field(default_factory=lambda: Expect(0, "succeeded"))
    timeout: str = "20"


def _prompt_cases() -> dict[str, ServiceCase]:
    cases = {}
    for name, (accepted, category, message) in sorted(PROMPT_EXPECTED.items()):
        if accepted and message is None:
            continue  # a plain acceptance is no error body
        reply = fixture_reply(name)
        if accepted:  # accepted with a warning (part of the prompt was invalid)
            expect = Expect(0, "succeeded", warning=True, outputs=1)
        elif reply.status in (401, 403):
            # The backend's own message: unauthorized, naming the profile whose token to check.
            expect = Expect(EXIT_UNREACHABLE, "failed", "auth", fragments=("unauthorized", "replay"))
        else:
            assert category is not None
            expect = Expect(EXIT_JOB_FAILED, "failed", category.value, message)
        cases[f"post-prompt:{name}"] = ServiceCase(prompt=reply, expect=expect)
    return cases


def _history_cases() -> dict[str, ServiceCase]:
    cases = {}
    for name, expected in sorted(HISTORY_EXPECTED.items()):
        if expected is None or expected[0] is not JobState.FAILED:
            continue
        state, category, message, outputs = expected
        assert category is not None
        cases[f"get-history:{name}"] = ServiceCase(
            history=fixture_reply(name, history_entry=True),
            expect=Expect(EXIT_JOB_FAILED, "failed", category.value, message, outputs=outputs),
        )
    # An id the server forgot (deleted from the queue before it ran): lost, with a failure of category `lost` (in
    # neither /queue nor /history in consecutive looks).
    cases["get-history:06_get_history_id_deleted_from_queue"] = ServiceCase(
        history=fixture_reply("06_get_history_id_deleted_from_queue"),
        expect=Expect(EXIT_JOB_FAILED, "lost", "lost", fragments=("/queue", "/history"), warning=True),
    )
    return cases


def _huge_history_entry() -> bytes:
    entry = json.loads((COMFYUI / "01_get_history_id_success.json").read_text())
    (value,) = entry.values()
    value["meta"]["padding"] = "x" * (50 * MB)
    return json.dumps(entry).encode()


STILL_ACTIVE = Expect(EXIT_UNREACHABLE, "queued")
OTHER_CASES: dict[str, ServiceCase] = {
    "post-prompt:truncated-json": ServiceCase(
        prompt=Reply(body=b'{"prompt_id": "4f1c', content_type="application/json"),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("without a prompt id",)),
    ),
    "post-prompt:html-200": ServiceCase(
        prompt=Reply(body=b"<html><body>Welcome to nginx!</body></html>", content_type="text/html"),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("without a prompt id", "nginx")),
    ),
    "post-prompt:json-not-an-object": ServiceCase(
        prompt=Reply(body=b"[1, 2, 3]"),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("without a prompt id",)),
    ),
    "post-prompt:502-html": ServiceCase(
        prompt=Reply(status=502, body=b"<html>bad gateway</html>", content_type="text/html"),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("502",)),
    ),
    "post-prompt:50MB-body": ServiceCase(
        prompt=Reply(status=400, body=b"x" * (50 * MB), content_type="text/plain"),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("400",), max_message=400),
    ),
    "post-prompt:stall": ServiceCase(
        prompt=Reply(stall=True),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("in time",)),
    ),
    "post-prompt:connection-dropped": ServiceCase(
        prompt=Reply(drop=True),
        expect=Expect(EXIT_UNREACHABLE, "failed", "transport", fragments=("cannot reach",)),
    ),
    # A job the service accepted but whose history answers are unreadable stays in flight (the next look may
    # work), and `--wait --timeout` ends with "cannot reach" and exit 3 — the job is not given up or lost.
    "get-history:truncated-json": ServiceCase(
        history=Reply(body=b'{"x": {"status": {"status_str": "succ'),
        expect=Expect(EXIT_UNREACHABLE, "queued", fragments=("unreadable",)),
        timeout="4",
    ),
    "get-history:html-200": ServiceCase(
        history=Reply(body=b"<html>maintenance</html>", content_type="text/html"),
        expect=Expect(EXIT_UNREACHABLE, "queued", fragments=("unreadable",)),
        timeout="4",
    ),
    "get-history:500": ServiceCase(
        history=fixture_reply("04_get_history_bad_max_items"),
        expect=Expect(EXIT_UNREACHABLE, "queued", fragments=("500",)),
        timeout="4",
    ),
    "get-history:stall": ServiceCase(
        history=Reply(stall=True),
        expect=Expect(EXIT_UNREACHABLE, "queued", fragments=("in time",)),
        timeout="5",
    ),
    "get-history:50MB-success-entry": ServiceCase(
        history=Reply(body=_huge_history_entry(), history_entry=True),
        expect=Expect(0, "succeeded", outputs=1, raw_capped=True),
        timeout="40",
    ),
    "get-queue:not-json": ServiceCase(
        queue=Reply(body=b"queue?", content_type="text/plain"),
        expect=Expect(EXIT_UNREACHABLE, "queued", fragments=("not JSON",)),
        timeout="4",
    ),
    "get-queue:stall": ServiceCase(
        queue=Reply(stall=True),
        expect=Expect(EXIT_UNREACHABLE, "queued", fragments=("in time",)),
        timeout="5",
    ),
}

SERVICE_CASES: dict[str, ServiceCase] = {**_prompt_cases(), **_history_cases(), **OTHER_CASES}


@pytest.mark.parametrize("case", sorted(SERVICE_CASES))
def test_service_answer(tmp_path: Path, replay: ReplayServer, workflow_file: Path, case: str) -> None:
    spec = SERVICE_CASES[case]
    expect = spec.expect
    replay.prompt, replay.history, replay.queue = spec.prompt, spec.history, spec.queue
    cli = Cli(write_config(tmp_path / "config.toml", replay_config(replay)), tmp_path / "data")
    witness = witness_store(cli)

    result = cli.run("submit", str(workflow_file), "-p", "replay", "--wait", "--timeout", spec.timeout, "--json",
                     timeout=120)
    assert_clean_output(result.stdout, result.stderr)
    assert result.returncode == expect.exit_code, result.stderr
    (job,) = json_lines(result.stdout)
    assert job["state"] == expect.state, (job, result.stderr)
    failure = job["failure"]
    if expect.category is None:
        assert failure is None, failure
    else:
        assert failure is not None and failure["category"] == expect.category, failure
        if expect.message is not None:
            assert failure["message"] == expect.message
        assert len(failure["message"]) <= expect.max_message
    where = failure["message"] if expect.category else result.stderr
    for fragment in expect.fragments:
        assert fragment.lower() in where.lower(), (fragment, where)
    if expect.outputs is not None:
        assert len(job["outputs"]) == expect.outputs
    if expect.exit_code == EXIT_UNREACHABLE and expect.state in ("queued", "running"):
        assert "cannot reach" in result.stderr

    jobs = assert_store_intact(cli.store_file, [witness, job["id"]])
    assert len(jobs) == 2
    shown = cli.run("show", job["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    (detail,) = json_lines(shown.stdout)
    assert detail["state"] == job["state"]
    stored = next(stored for stored in jobs if stored.id == job["id"])
    if expect.warning:
        assert stored.warning, "the warning was not kept"
    if expect.raw_capped:
        assert_raw_capped(stored)


def assert_raw_capped(job: Job) -> None:
    """A huge answer is not stored whole: its start, and a note of how long it was."""
    raw = job.raw_result or ""
    assert RAW_RESULT_LIMIT <= len(raw) < RAW_RESULT_LIMIT + 200, len(raw)
    assert "truncated" in raw[RAW_RESULT_LIMIT:]


# ================================================================================================ the sink


def _sample(name: str) -> tuple[bytes, dict[str, str]]:
    sample = json.loads((SINK / f"{name}.json").read_text())
    data = sample["data"].encode() if "data" in sample else base64.b64decode(sample["data_base64"])
    return data, dict(sample["tags"])


GOOD_DATA = json.dumps(
    [{"9": {"images": [{"filename": "odd_00001_.png", "subfolder": "", "type": "output"}]}}]
).encode()


@dataclass(frozen=True)
class SinkCase:
    frames: tuple[tuple[bytes, dict[str, str]], ...]
    task_id: str | None  # how the test finds the row (None: by the frame's sink index)
    state: JobState
    ours: bool = False  # the task_id belongs to a job comfyq submitted (in the store before the frame came)
    category: FailureCategory | None = None
    raw_contains: bytes | None = None
    outputs: int | None = None  # files the result must still name, whatever its size
    raw_capped: bool = False


def _sink_cases() -> dict[str, SinkCase]:
    cases = {}
    for name, (state, _category, _message, _pid, _files) in sorted(SINK_EXPECTED.items()):
        if state is not JobState.UNKNOWN:
            continue
        data, _ = _sample(name)
        task_id = f"odd-{name}"
        cases[f"unknown-shape:{name}"] = SinkCase(((data, {"task_id": task_id}),), task_id, JobState.UNKNOWN)
    cases["our-job:garbage-data"] = SinkCase(
        ((b"\x00\x01 worker fell over", {"task_id": "ours-garbage"}),), "ours-garbage", JobState.UNKNOWN, ours=True,
        raw_contains=b"worker fell over",
    )
    data_401, tags_401 = _sample("last_code_401")
    cases["our-job:lastCode-401"] = SinkCase(
        ((data_401, {**tags_401, "task_id": "ours-401"}),), "ours-401", JobState.FAILED, ours=True,
        category=FailureCategory.AUTH,
    )
    cases["tags:no-task-id"] = SinkCase(((GOOD_DATA, {"colour": "blue"}),), None, JobState.SUCCEEDED)
    cases["tags:empty-task-id"] = SinkCase(((GOOD_DATA, {"task_id": ""}),), None, JobState.SUCCEEDED)
    cases["tags:lastCode-garbage"] = SinkCase(
        ((GOOD_DATA, {"task_id": "odd-lastcode", "lastCode": "two hundred"}),), "odd-lastcode", JobState.SUCCEEDED
    )
    cases["tags:unicode-and-long"] = SinkCase(
        ((GOOD_DATA, {"task_id": "odd-ünï-☃", "note": "n" * 5000}),), "odd-ünï-☃", JobState.SUCCEEDED
    )
    cases["tags:same-task-id-twice"] = SinkCase(
        ((GOOD_DATA, {"task_id": "odd-twice"}), (GOOD_DATA, {"task_id": "odd-twice"})), "odd-twice",
        JobState.SUCCEEDED,
    )
    cases["data:empty"] = SinkCase(((b"", {"task_id": "odd-empty"}),), "odd-empty", JobState.UNKNOWN)
    cases["data:1MB-garbage"] = SinkCase(
        ((b"\xfe" * MB, {"task_id": "odd-big"}),), "odd-big", JobState.UNKNOWN
    )
    huge = _huge_sink_result()
    cases["data:50MB-result"] = SinkCase(
        ((huge, {"task_id": "odd-50mb"}),), "odd-50mb", JobState.SUCCEEDED, raw_contains=huge[:2000], outputs=1,
        raw_capped=True,
    )
    return cases


def _huge_sink_result() -> bytes:
    """The documented sink form (an executed event, then the outputs object) with 50 MB in the event."""
    image = {"filename": "huge_00001_.png", "subfolder": "", "type": "output"}
    event = {"type": "executed", "data": {"node": "9", "output": {"images": [image]}, "prompt_id": "p-50mb",
                                          "padding": "z" * (50 * MB)}}
    return json.dumps([event, {"9": {"images": [image]}}]).encode()


SINK_CASES = _sink_cases()


@dataclass
class SinkRun:
    jobs: list[Job]
    indexes: dict[str, list[int]]  # case -> sink indexes of its frames
    ours: dict[str, str]  # task_id -> our job id
    stderr: str
    exit_code: int


@pytest.fixture(scope="module")
def sink_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkRun]:
    """Every sink case put on one emulator's sink, watched by one `comfyq watch` until all are stored."""
    tmp = tmp_path_factory.mktemp("sink")
    emulator = Emulator(tmp / "sim-out")
    try:
        cli = Cli(write_config(tmp / "config.toml", emulator.config_text(defaults="lost_after = 600\n")), tmp / "data")
        cli.data_dir.mkdir()
        ours = {}
        with JobStore(cli.store_file) as store:
            for case in SINK_CASES.values():
                if case.ours and case.task_id:
                    job = Job(
                        id=new_job_id(), profile="sim-api", edition=Edition.API, workflow={"9": {"class_type": "X"}},
                        state=JobState.QUEUED, task_id=case.task_id, timestamps={"submitting": 1.0, "queued": 1.0},
                    )
                    store.add(job)
                    ours[case.task_id] = job.id
        indexes = {}
        for name, case in SINK_CASES.items():
            indexes[name] = emulator.put_on_sink(list(case.frames))
        total_frames = sum(len(found) for found in indexes.values())

        process, _, err = popen_to_files(cli, "watch", "-p", "sim-api", "--json", name="watch")
        with running(process):
            wait_until_sync(
                lambda: emulator.sink_attributes()["stream.length"] == "0",
                timeout=40,
                what=f"all {total_frames} frames stored and committed",
            )
            assert process.poll() is None, "watch ended on its own"
            process.send_signal(signal.SIGINT)
            code = process.wait(20)
        jobs = assert_store_intact(cli.store_file, list(ours.values()))
        yield SinkRun(jobs, indexes, ours, err.read_text(), code)
    finally:
        emulator.close()


def test_sink_watch_survives_every_odd_frame(sink_run: SinkRun) -> None:
    assert sink_run.exit_code == 130
    assert_clean_output(sink_run.stderr)


@pytest.mark.parametrize("case", sorted(SINK_CASES))
def test_sink_frame(sink_run: SinkRun, case: str) -> None:
    spec = SINK_CASES[case]
    indexes = sink_run.indexes[case]
    if spec.task_id is not None:
        rows = [job for job in sink_run.jobs if job.task_id == spec.task_id]
    else:
        rows = [job for job in sink_run.jobs if job.sink_index in indexes]
    assert len(rows) == 1, rows  # stored once, never dropped, never doubled
    (job,) = rows
    assert job.sink_index in indexes
    assert job.state is spec.state, (job.state, job.warning, job.failure)
    if spec.ours:
        assert job.id == sink_run.ours[spec.task_id or ""] and not job.external
    else:
        assert job.external
    if spec.category is not None:
        assert job.failure is not None and job.failure.category is spec.category
    if spec.outputs is not None:
        assert len(job.outputs) == spec.outputs, job.outputs
    if spec.raw_capped:
        assert_raw_capped(job)
    # The raw result is kept for the detail view: unknown shapes can still be read by a human.
    assert job.raw_result or not spec.frames[-1][0]
    if spec.state is JobState.UNKNOWN:
        assert job.warning and "unrecognised" in job.warning
    expected_raw = spec.raw_contains or spec.frames[-1][0]
    try:
        text = expected_raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""  # bytes that are not text are kept in a readable form (their repr), not checked here
    assert text in job.raw_result
