"""The benchmarks stay runnable: each figure's function runs with tiny sizes and yields rows with numbers.

These tests assert behaviour (rows, numbers, ratios, request accounting), never timing: how fast anything is, is
what `python -m bench` reports, not what a test decides.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench._common import Row, Stat, not_measured, percentile

pytestmark = pytest.mark.timeout(180)


def assert_measured(rows: list[Row], expected: int) -> None:
    assert len(rows) == expected, [row.figure for row in rows]
    for row in rows:
        assert not row.note.startswith("not measured"), row.note
        for stat in (row.comfyq, row.baseline):
            assert isinstance(stat, Stat), row.figure
            assert stat.runs >= 1
            assert math.isfinite(stat.median) and stat.median >= 0, (row.figure, stat)
            assert stat.low <= stat.median <= stat.high
        assert row.ratio is not None and row.ratio > 0, (row.figure, row.ratio)
        assert row.met in (True, False, None)
        assert row.target


def test_startup_rows() -> None:
    from bench import startup

    rows = startup.run(runs=1, idle_runs=1, idle_seconds=0.5)
    assert [row.figure.split(",")[0] for row in rows] == [
        "startup: `comfyq` to every pane painted", "startup: first frame on screen", "idle CPU"]
    assert_measured(rows[:2], 2)
    everything, first, idle = rows
    assert everything.met is not None  # the ≤ 1.2× target always decides
    assert first.met is None  # information
    assert everything.comfyq is not None and first.comfyq is not None
    assert everything.comfyq.median >= first.comfyq.median  # the whole screen never comes before the first frame
    # Idle: measured on both sides (the stock app may use no CPU tick at all in half a second: no ratio then).
    assert idle.comfyq is not None and idle.baseline is not None and idle.met is not None
    assert idle.comfyq.median >= 0 and idle.baseline.median >= 0


def test_live_rows_measure_painted_events() -> None:
    from bench import live

    rows = live.run(runs=1, rates=(200,), seconds=0.6, rows=300, active=60)
    assert_measured(rows, 6)
    assert [row.figure.split(": ")[1] for row in rows] == [
        "update frame", "p50 event→screen", "p99 event→screen", "p99 key press", "CPU of the app process",
        "achieved rate"]
    assert rows[0].met is None  # the update frame is information
    assert rows[3].met is not None and rows[3].target == "≤ 16 ms"  # keys are judged at every rate
    cpu = rows[4]
    assert cpu.comfyq is not None and cpu.baseline is not None
    assert 0 < cpu.comfyq.median < 3 and 0 < cpu.baseline.median < 3  # a share of cores, not seconds
    assert cpu.met is None  # the CPU target is set for 1,000/s only
    samples = rows[1].extra
    # Events for on-screen rows were seen painted on both sides, and none were left unpainted.
    assert samples["comfyq_samples"][0] > 0 and samples["baseline_samples"][0] > 0
    assert samples["comfyq_unpainted"] == [0.0] and samples["baseline_unpainted"] == [0.0]


def test_batch_rows_store_every_combination() -> None:
    from bench import batch

    rows = batch.run(runs=1, seeds=2)  # 200 jobs each side; each run checks the store holds every combination
    assert_measured(rows, 1)
    assert rows[0].met is None and "200-job" in rows[0].figure
def test_stats_rows_agree_with_the_naive_pass() -> None:
    from bench import stats

    rows = stats.run(runs=1, jobs=600)
    assert_measured(rows, 2)  # a row whose figures differed from the naive pass would say "not measured"
    assert "600" in rows[0].figure and rows[0].met is not None


def test_scale_rows() -> None:
    from bench import scale

    assert_measured(scale.run(runs=1, jobs=400), 4)


def test_poll_counts_one_history_look_per_finished_job() -> None:
    from bench import poll

    rows = poll.run(runs=1, jobs=12)
    assert_measured(rows, 2)
    comfyq = rows[0].extra["comfyq"][0]
    baseline = rows[0].extra["baseline"][0]
    assert comfyq["finished"] == 12 and baseline["finished"] == 12
    # Finished jobs are settled from the per-cycle look at the newest /history entries (external = true), and by
    # single looks only for what fell outside it: at most one per finished job.
    assert comfyq["counts"].get("GET /history", 0) >= 1
    assert comfyq["counts"].get("GET /history/{prompt_id}", 0) <= 12
    assert comfyq["counts"]["GET /history"] <= comfyq["cycles"] + 1
    # The per-job poller asks about every unfinished job every cycle: at least one look per job.
    assert baseline["counts"]["GET /history/{prompt_id}"] >= 12
    assert "POST /prompt" not in comfyq["counts"]  # submissions are not counted as polls


def test_sink_rows() -> None:
    from bench import sink

    rows = sink.run(runs=1, results=40)
    assert_measured(rows, 2)
    loopback, behind_round_trip = rows
    assert loopback.extra["latency_ms"] == 0 and loopback.met is None  # information
    assert behind_round_trip.extra["latency_ms"] == sink.LATENCY_MS and behind_round_trip.met is not None


async def test_latency_middleware_waits_a_round_trip_per_request_and_one_more_per_connection() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bench._servers import latency_middleware

    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application(middlewares=[latency_middleware(20.0, sleep=record)])
    app.router.add_get("/", hello)
    async with TestClient(TestServer(app)) as client:
        for _ in range(3):  # one keep-alive connection: the handshake is paid once
            response = await client.get("/")
            assert await response.text() == "hi"
    async with TestClient(TestServer(app)) as client:  # a new connection pays it again
        assert (await client.get("/")).status == 200
    assert waits == pytest.approx([0.040, 0.020, 0.020, 0.040])


def test_sim_loop_with_latency_delays_every_request() -> None:
    import time

    import httpx

    from bench._servers import SimLoop

    sim = SimLoop(latency_ms=50.0, instances=1, service="bench-latency", step_seconds=3600.0)
    server = sim.start()
    try:
        url = f"{server.base_url}/api/predict/bench-latency/api_prompt"
        with httpx.Client() as client:
            start = time.perf_counter()
            for number in range(2):
                response = client.post(url, params={"task_id": f"t{number}"}, json={"1": {}})
                assert response.status_code == 200, response.text
            elapsed = time.perf_counter() - start
        # Behaviour, not speed: the emulated round trips are really there (a lower bound no machine can beat):
        # handshake + request, then one more request on the same connection.
        assert elapsed >= 3 * 0.050
        assert sim.call(lambda: server.queues.input_queue("bench-latency").next_index) == 3
    finally:
        sim.stop()


def test_submission_rows_on_loopback_and_behind_a_round_trip() -> None:
    from bench import submission

    rows = submission.run(runs=1, prompts=10)
    assert_measured(rows, 2)
    assert [row.extra["latency_ms"] for row in rows] == [0.0, submission.RTT_MS]
    # The round-trip row carries the target; the loopback row (CPU only) is information.
    assert rows[0].met is None and rows[1].met is not None


def test_pull_row_downloads_every_file_on_both_sides() -> None:
    from bench import pull

    rows = pull.run(runs=1, files=10)  # each run checks every file arrived whole on both sides
    assert_measured(rows, 1)
    assert rows[0].extra["files"] == 10 and rows[0].extra["latency_ms"] == pull.RTT_MS
    assert rows[0].met is not None


def test_preview_rows() -> None:
    from bench import preview

    rows = preview.run(runs=1)
    assert [row.figure.split(":")[0] for row in rows] == ["preview 1024×1024 PNG from OSS", "preview, cached", "preview"]
    assert_measured(rows[:2], 2)
    assert rows[2].comfyq is not None and rows[2].met is not None


def test_a_failing_figure_is_shown_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: object) -> list[Row]:
        raise ConnectionError("emulator exploded\nat the end")

    monkeypatch.setattr(bench_main, "_runner", lambda name: broken)
    rows = bench_main.run_figure("sink", quick=True)
    assert len(rows) == 1
    assert rows[0].note == "not measured: ConnectionError: at the end"
    assert rows[0].comfyq is None and rows[0].baseline is None and rows[0].met is None


def test_table_json_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = [
        Row("fast thing", Stat.of([1.0, 2.0, 3.0], "ms"), Stat.of([100.0, 90.0, 110.0], "ms"), 50.0, "× faster",
            "≥ 50×", True),
        Row("slow thing", Stat.of([5.0], "s"), Stat.of([1.0], "s"), 0.2, "× faster", "≥ 5×", False),
        not_measured("absent", "≥ 3×", "the part is not in the repo"),
    ]
    monkeypatch.setattr(bench_main, "run_figure", lambda name, quick: made if name == "sink" else [])
    out_json = tmp_path / "bench.json"
    out_md = tmp_path / "bench.md"
    assert bench_main.main(["--only", "sink", "--json", str(out_json), "--markdown", str(out_md)]) == 0
    saved = json.loads(out_json.read_text(encoding="utf-8"))
    assert [row["figure"] for row in saved["rows"]] == ["fast thing", "slow thing", "absent"]
    assert saved["rows"][0]["comfyq"]["median"] == 2.0
    assert saved["rows"][2]["comfyq"] is None
    markdown = out_md.read_text(encoding="utf-8")
    assert "| fast thing | 2.00 ms (1.00–3.00) | 100 ms (90.0–110) | 50.0 × faster | ≥ 50× | ✔ |" in markdown
    assert "✘" in markdown  # a missed target is shown
    assert "not measured: the part is not in the repo" in markdown


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_serve_rows_count_the_server_and_its_sessions() -> None:
    from bench import serve

    rows = serve.run(runs=1)
    assert_measured(rows, 2)
    one, five = rows
    assert one.comfyq is not None and one.baseline is not None and five.comfyq is not None
    assert one.comfyq.median > one.baseline.median  # a session's app process is counted with the server
    assert five.baseline == one.comfyq
    assert five.extra["per_added_session_mib"] > 0
