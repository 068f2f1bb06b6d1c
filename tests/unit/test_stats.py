"""Service statistics and exports from a store of known jobs with fixed timestamps: exact counts and percentiles
(`comfyq stats --json`), and an export that round-trips through Python's csv module."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

import pytest

from tui.cli import main
from tui.core.export import COLUMNS
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, NodeError, Output, Progress
from tui.core.stats import BadWindow, Window, compute_stats, nearest_rank
from tui.core.store import JobFilter, JobStore

S = JobState
# Whole seconds: differences of these are exact in floating point, so the expected figures are exact too.
NOW = float(int(time.time()))
BASE = NOW - 1800  # half an hour ago


def make_job(job_id: str, *, profile: str = "alpha", batch: str | None = "spring-1", submitted: float,
             wait: float | None = None, run: float | None = None, state: JobState = S.SUCCEEDED,
             outputs: int = 0, failure: Failure | None = None, finished: float | None = None, **fields) -> Job:
    stamps = {"submitting": submitted, "queued": submitted}
    if wait is not None:
        stamps["running"] = submitted + wait
    if state.is_terminal:
        stamps[state.value] = finished if finished is not None else submitted + (wait or 0) + (run or 0)
    return Job(
        id=job_id, profile=profile, edition=Edition.DEDICATED, workflow={"3": {"class_type": "KSampler",
                                                                          "inputs": {"seed": 7, "steps": 20}}},
        state=state, timestamps=stamps, batch=batch, failure=failure,
        outputs=tuple(Output("9", "output", "run", f"img_{job_id}_{n}.png") for n in range(outputs)), **fields,
    )


KSAMPLER_OOM = Failure(FailureCategory.EXECUTION, "CUDA out of memory", node_id="3", class_type="KSampler")
BAD_CKPT = Failure(
    FailureCategory.REJECTED, "Prompt outputs failed validation",
    node_errors=(NodeError("4", "CheckpointLoaderSimple", "value_not_in_list", "Value not in list", "", "ckpt_name"),),
)


def known_jobs() -> list[Job]:
    jobs = []
    for k in range(1, 17):  # 16 succeeded: wait k s, run 2k s, k % 3 + 1 outputs
        jobs.append(make_job(f"ok{k:02d}", submitted=BASE + 10 * k, wait=k, run=2 * k, outputs=k % 3 + 1))
    jobs.append(make_job("oom1", submitted=BASE + 200, wait=20, run=1, state=S.FAILED, failure=KSAMPLER_OOM))
    jobs.append(make_job("oom2", submitted=BASE + 210, wait=30, run=1, state=S.FAILED, failure=KSAMPLER_OOM))
    jobs.append(make_job("rej", submitted=BASE + 220, state=S.FAILED, failure=BAD_CKPT))  # never ran
    jobs.append(make_job("cached", submitted=BASE + 230, outputs=1, finished=BASE + 231))  # cached: never ran
    # Outside the last hour: finished two hours ago.
    jobs.append(make_job("old", submitted=NOW - 7300, wait=5, run=5, outputs=1))
    # Another profile and another batch, in the window.
    jobs.append(make_job("beta1", profile="beta", batch="summer", submitted=BASE, wait=100, run=100, outputs=2))
    # Still in flight: counted as active, never as finished.
    running = make_job("live", submitted=NOW - 60, wait=10, state=S.RUNNING)
    running.progress = Progress("3", "KSampler", 4, 20)
    jobs.append(running)
    return jobs


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        store.add_many(known_jobs())
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, str, str]:
    config = data_dir / "config.toml"
    if not config.exists():
        # One configured profile that nothing contacts: stats and export only read the store.
        config.write_text('[profiles.local]\nedition = "dedicated"\nurl = "http://127.0.0.1:9"\n', encoding="utf-8")
    code = main(["--data-dir", str(data_dir), "--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_json_gives_the_exact_counts_and_percentiles(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, err = run_cli(capsys, data_dir, "stats", "-p", "alpha", "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert stats["profile"] == "alpha" and stats["window"]["label"] == "1h"
    assert stats["finished"] == 20
    assert stats["states"] == {"succeeded": 17, "failed": 3, "cancelled": 0, "lost": 0, "unknown": 0}
    assert stats["success_rate"] == 17 / 20 and stats["failure_rate"] == 3 / 20
    assert stats["per_hour"] == 20.0
    # Waits of the 18 jobs that ran: 1..16, 20, 30 → nearest rank 9 and 18.
    assert stats["wait_s"] == {"count": 18, "p50": 9.0, "p95": 30.0, "max": 30.0}
    # Runs: 2, 4, …, 32 and 1, 1 → sorted 1, 1, 2, 4, … : rank 9 is 14, rank 18 is 32.
    assert stats["run_s"] == {"count": 18, "p50": 14.0, "p95": 32.0, "max": 32.0}
    assert stats["never_ran"] == 2  # the rejected and the cached job
    assert stats["outputs"] == {"total": 33, "per_job": 33 / 17}
    assert stats["run_time_total_s"] == 274.0
    assert stats["failures"] == [
        {"category": "execution", "node": "KSampler", "count": 2},
        {"category": "rejected", "node": "ckpt_name", "count": 1},
    ]
    assert stats["active"] == {"submitting": 0, "queued": 0, "running": 1}
    assert stats["running_now_by_node"] == [{"node": "KSampler", "count": 1}]
    assert stats["busiest_nodes"] is None and "not measured" in stats["notes"][0]
    assert stats["run_histogram"]["counts"] and sum(stats["run_histogram"]["counts"]) == 18


def test_windows_profiles_and_batches_select_what_they_say(data_dir: Path) -> None:
    with JobStore(data_dir / "jobs.sqlite3") as store:
        day = compute_stats(store, Window.parse("24h"), JobFilter(profile="alpha"), now=NOW)
        assert day.finished == 21 and day.run.max == 32.0  # the old job is back in
        everything = compute_stats(store, Window.parse("all"), now=NOW)
        assert everything.finished == 22
        assert everything.per_hour == pytest.approx(22 / (7300 / 3600))  # from the first submission to now
        just_now = compute_stats(store, Window.parse("all"), JobFilter(batch="summer"), now=BASE + 60)
        assert just_now.per_hour == 1.0  # one job a minute old: 1/h over at least an hour, not 60/h
        assert [(p.profile, p.finished) for p in everything.profiles] == [("alpha", 21), ("beta", 1)]
        summer = compute_stats(store, Window.parse("1h"), JobFilter(batch="summer"), now=NOW)
        assert (summer.finished, summer.wait.p50, summer.run.p95) == (1, 100.0, 100.0)
        assert summer.profiles[0].failure_rate == 0.0
        spring = compute_stats(store, Window.parse("15m"), JobFilter(batch="spring"), now=NOW)
        assert spring.finished == 0 and spring.wait.p50 is None
        assert spring.empty_message() == "no jobs finished in the last 15 minutes (batch spring)"


def test_the_timeline_counts_every_finished_job_once(data_dir: Path) -> None:
    with JobStore(data_dir / "jobs.sqlite3") as store:
        stats = compute_stats(store, Window.parse("1h"), JobFilter(profile="alpha"), now=NOW, buckets=12)
    assert stats.bucket_seconds == 300.0 and len(stats.finished_series) == 12
    assert sum(stats.finished_series) == 20
    # Every job finished between 30 and 25 minutes ago: bucket 6 of 12 (the window is 60 minutes).
    assert stats.finished_series[6] == 20
    assert stats.wait_series[6] == pytest.approx((sum(range(1, 17)) + 50) / 18)


def test_an_empty_window_says_so_and_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, tmp_path, "stats")
    assert (code, out.strip()) == (0, "no jobs finished in the last hour")
    code, out, err = run_cli(capsys, tmp_path, "stats", "--json")
    assert code == 0 and json.loads(out)["finished"] == 0 and err.strip() == "no jobs finished in the last hour"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stats", "--since", "1x"), "--since '1x': not a time window"),
        (("stats", "--since", "0m"), "longer than 0"),
        (("stats", "-p", "nobody"), "unknown profile 'nobody'"),
        (("stats", "--batch", "winter"), "no batch named 'winter'"),
        (("export", "-p", "nobody"), "unknown profile 'nobody'"),
        (("export", "--state", "done-ish"), "not a state"),
        (("export", "-o", "/proc/no/such/dir/jobs.csv"), "cannot write there"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], data_dir: Path, args: tuple[str, ...],
                                          message: str) -> None:
    code, out, err = run_cli(capsys, data_dir, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_the_stats_table_names_the_figures(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run_cli(capsys, data_dir, "stats", "--since", "all")
    assert code == 0
    assert "22 finished" in out and "execution · KSampler: 2" in out and "rejected · ckpt_name: 1" in out
    assert "p50 9.0s" in out or "p50" in out
    assert "alpha: 21 finished" in out and "beta: 1 finished" in out


def test_export_csv_round_trips_through_the_csv_module(capsys: pytest.CaptureFixture[str], data_dir: Path,
                                                      tmp_path: Path) -> None:
    target = tmp_path / "out" 
    target.mkdir()
    code, out, err = run_cli(capsys, data_dir, "export", "--format", "csv", "-o", str(target / "jobs.csv"))
    assert code == 0 and out == "" and "23 jobs exported" in err
    assert not list(target.glob(".*part"))  # the temporary file became jobs.csv
    with open(target / "jobs.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0].keys()) == COLUMNS
    assert [row["id"] for row in rows] == [job.id for job in known_jobs()]
    by_id = {row["id"]: row for row in rows}
    ok = by_id["ok03"]
    assert ok["submitted_at"] == _iso(BASE + 30) and ok["started_at"] == _iso(BASE + 33)
    assert ok["finished_at"] == _iso(BASE + 39)
    assert (float(ok["wait_s"]), float(ok["run_s"])) == (3.0, 6.0)
    assert json.loads(ok["outputs"]) == ["run/img_ok03_0.png"]
    assert json.loads(ok["seeds"]) == {"3.seed": 7}
    assert by_id["rej"]["failure_category"] == "rejected" and by_id["rej"]["failure_node"] == "ckpt_name"
    assert by_id["rej"]["wait_s"] == "" and by_id["rej"]["started_at"] == ""
    assert by_id["live"]["finished_at"] == "" and by_id["live"]["state"] == "running"
    assert all(row["batch"] == "spring-1" for row in rows if row["profile"] == "alpha")


def test_export_jsonl_is_filtered_like_jobs(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = run_cli(capsys, data_dir, "export", "--format", "jsonl", "--state", "failed", "-p", "alpha")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["id"] for row in rows] == ["oom1", "oom2", "rej"]
    assert rows[0]["run_s"] == 1.0 and rows[0]["failure_class_type"] == "KSampler"
    code, out, _ = run_cli(capsys, data_dir, "export", "--format", "jsonl", "--filter", "batch:summer")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["beta1"]
    # The app's state names: a prefix (`fai`) and `done` work as they do in `jobs --state` and the filter line.
    code, out, _ = run_cli(capsys, data_dir, "export", "--format", "jsonl", "--state", "fai", "-p", "alpha")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["oom1", "oom2", "rej"]
    code, _, err = run_cli(capsys, data_dir, "export", "--format", "jsonl", "--state", "bogus")
    assert code == 2 and "bogus: not a state" in err


def test_windows_parse_and_percentiles_are_nearest_rank() -> None:
    assert Window.parse("15m").seconds == 900 and Window.parse("24h").seconds == 86400
    assert Window.parse("all").seconds is None and Window.parse("90s").seconds == 90
    assert Window.parse("1h").phrase() == "the last hour"
    for bad in ("1x", "", "h", "-1h", "1.5"):
        with pytest.raises(BadWindow):
            Window.parse(bad)
    values = list(range(1, 21))
    assert (nearest_rank(values, 50), nearest_rank(values, 95), nearest_rank(values, 100)) == (10, 19, 20)
    assert nearest_rank([4.0], 95) == 4.0 and math.isfinite(nearest_rank([0.0, 1.0], 50))


def _iso(timestamp: float) -> str:
    from tui.core.render import iso_utc

    return str(iso_utc(timestamp))
