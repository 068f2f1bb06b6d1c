"""pull: `comfyq pull --batch` of FILES × 1 MB from the emulator's OSS endpoint behind a 20 ms round trip, vs the
sequential `get_object_to_file` loop a user would write with the SDK (bench/seed_pull.py).

Method: the emulator (SimServer, its OSS endpoint checking every request's V4 signature) in this process, behind
the emulated network round trip (`SimLoop(latency_ms=...)`: every request waits RTT_MS, a new connection one
more). FILES random 1 MB files are the outputs of FILES/10 jobs of one batch (10 outputs each) in a job store.
Both sides run as subprocesses and are timed from spawn to exit (what the user waits for), into fresh folders:
- comfyq: `python -m tui ... pull --batch bench -o OUT --json` (its default concurrency, 8);
- baseline: `python -m bench.seed_pull ...`: list the prefix, then `get_object_to_file` per object, one by one.
Both sides write into a RAM-backed folder (/dev/shm, when it has room): this VM's disk writes ~100 MB/s, so on it
both sides would spend most of their time waiting for the disk, measuring the disk rather than the downloads.
Each run checks that every file arrived whole (count and sizes; the first and last by hash). One unmeasured
warm-up of each side fills the bytecode cache and the emulator's CRC-64 cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench._common import Row, Stat
from bench._servers import SimLoop

FIGURE = "pull"
TARGET_RATIO = 5.0
RTT_MS = 20.0
FILE_BYTES = 1024 * 1024
OUTPUTS_PER_JOB = 10
BATCH = "bench"
REPO = Path(__file__).resolve().parents[1]


def _env(pycache: Path, key_id: str, secret: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMFYQ_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["OSS_ACCESS_KEY_ID"] = key_id
    env["OSS_ACCESS_KEY_SECRET"] = secret
    return env


def _make_files(output_dir: Path, files: int) -> list[str]:
    names = []
    for number in range(files):
        name = f"bench_{number:05}_.png"
        (output_dir / name).write_bytes(os.urandom(FILE_BYTES))
        names.append(name)
    return names


def _make_store(data_dir: Path, names: list[str]) -> None:
    from tui.core.jobs import Edition, Job, JobState, Output, new_job_id
    from tui.core.store import JobStore

    store = JobStore(data_dir / "jobs.sqlite3")
    try:
        jobs = []
        for start in range(0, len(names), OUTPUTS_PER_JOB):
            outputs = tuple(Output("9", "output", "", name) for name in names[start : start + OUTPUTS_PER_JOB])
            jobs.append(Job(id=new_job_id(), profile="bench", edition=Edition.API, workflow=None,
                            state=JobState.SUCCEEDED, outputs=outputs, batch=BATCH))
        store.add_many(jobs)
    finally:
        store.close()


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:6])}… exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed


def _check(out: Path, source: Path, names: list[str]) -> None:
    got = sorted(path.name for path in out.iterdir())
    if got != sorted(names):
        raise RuntimeError(f"{len(got)} files arrived in {out.name}, expected {len(names)}")
    for name in names:
        if (out / name).stat().st_size != FILE_BYTES:
            raise RuntimeError(f"{name} arrived with {(out / name).stat().st_size} bytes")
    for name in (names[0], names[-1]):
        if hashlib.sha256((out / name).read_bytes()).digest() != hashlib.sha256((source / name).read_bytes()).digest():
            raise RuntimeError(f"{name} differs from the emulator's file")


def _fast_dir(needed: int) -> str | None:
    """A RAM-backed place with room for `needed` bytes (None: use the ordinary temp dir)."""
    shm = Path("/dev/shm")
    try:
        return str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 2 * needed else None
    except OSError:
        return None


def measure(files: int = 1000, runs: int = 3, rtt_ms: float = RTT_MS) -> list[Row]:
    import tempfile

    # The emulator's files and one run's copy exist at once (each copy is removed after its check).
    with tempfile.TemporaryDirectory(prefix="comfyq-bench-pull-", dir=_fast_dir(2 * files * FILE_BYTES)) as tmp:
        root = Path(tmp)
        sim = SimLoop(latency_ms=rtt_ms, instances=1, step_seconds=0.0, output_dir=root / "emulator-out")
        server = sim.start()
        try:
            names = _make_files(server.output_dir, files)
            data_dir = root / "data"
            data_dir.mkdir()
            _make_store(data_dir, names)
            config = root / "config.toml"
            config.write_text(
                f'[profiles.bench]\nedition = "api"\ninput_url = "{server.api_input_url}"\n'
                f'oss_bucket_path = "{server.oss.bucket_path}"\noss_region = "cn-hangzhou"\n'
                f'oss_endpoint = "{server.base_url}"\n',
                encoding="utf-8",
            )
            env = _env(root / "pycache", server.oss.access_key_id, server.oss.access_key_secret)
            prefix = f"{server.oss.bucket_path.split('://', 1)[1].split('/', 1)[1]}/output/"

            def ours(out: Path) -> float:
                return _timed([sys.executable, "-m", "tui", "--config", str(config), "--data-dir", str(data_dir),
                               "pull", "--batch", BATCH, "-o", str(out), "--json"], env)

            def seed(out: Path) -> float:
                out.mkdir()
                return _timed([sys.executable, "-m", "bench.seed_pull", server.base_url, "cn-hangzhou",
                               server.oss.bucket, prefix, str(out)], env)

            comfyq_s: list[float] = []
            seed_s: list[float] = []
            for run in range(runs + 1):  # run 0: unmeasured warm-up
                for side, times in ((ours, comfyq_s), (seed, seed_s)):
                    out = root / f"out-{side.__name__}-{run}"
                    elapsed = side(out)
                    _check(out, server.output_dir, names)
                    shutil.rmtree(out)
                    if run > 0:
                        times.append(elapsed)
        finally:
            sim.stop()
    ours_stat, base_stat = Stat.of(comfyq_s, "s"), Stat.of(seed_s, "s")
    ratio = base_stat.median / ours_stat.median
    where = "RAM disk" if str(root).startswith("/dev/shm") else "temp dir on disk"
    return [Row(
        f"pull {files:,} × 1 MB from OSS, {rtt_ms:g} ms round trip (wall, incl. process start)",
        ours_stat, base_stat, ratio, "× faster", f"≥ {TARGET_RATIO:g}× SDK loop", ratio >= TARGET_RATIO,
        note=f"comfyq pull --batch (8 at a time, signed V4, CRC-64 checked) vs list + sequential get_object_to_file;"
        f" written to a {where}",
        extra={"comfyq_s": comfyq_s, "baseline_s": seed_s, "latency_ms": rtt_ms, "files": files},
    )]


def run(runs: int = 3, files: int = 1000) -> list[Row]:
    return measure(files, runs)
