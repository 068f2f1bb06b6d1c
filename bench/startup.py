"""startup: `comfyq`'s main screen to its first painted frame, vs a bare Textual app of the same panes.

Method: in this process, headless (`App.run_test(size=SCREEN_SIZE)`). The clock starts before the app object is
built (comfyq opens its config and job store there) and stops at the end of the first frame in which the job table
painted a line (see bench/_probe.py). The bare app has the same panes as Static placeholders — its clock stops at
the first frame that painted the jobs placeholder. One unmeasured warm-up run of each comes first, so module
imports (paid once per process in both cases) are not counted. Runs alternate comfyq / bare to share the noise.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from bench._common import SCREEN_SIZE, Row, Stat, make_launch, temp_dir
from bench._probe import FirstPaint

FIGURE = "startup"
TARGET_RATIO = 1.3
_WAIT_SECONDS = 30.0


class JobsPlaceholder(Static):
    """The bare app's stand-in for the job table (its own class, so its first paint can be seen)."""


class BareApp(App[None]):
    """The same panes as comfyq's main screen, each a Static."""

    CSS = """
    #panes { height: 1fr; }
    #sidebar { width: 44; }
    #profiles { height: auto; max-height: 40%; border: round $primary 50%; }
    #editor { height: 1fr; border: round $primary 50%; }
    #work { width: 1fr; }
    #jobs-pane { height: 2fr; border: round $primary 50%; }
    #jobs { height: 1fr; }
    #detail { height: 1fr; border: round $primary 50%; }
    #status { height: 1; dock: bottom; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            with Vertical(id="sidebar"):
                yield Static("profiles", id="profiles")
                yield Static("workflow editor", id="editor")
            with Vertical(id="work"):
                with Vertical(id="jobs-pane"):
                    yield Static("All  Active  Failed  Done", id="quick-filters")
                    yield JobsPlaceholder("jobs", id="jobs")
                yield Static("detail", id="detail")
        yield Static("status", id="status")
        yield Footer()


async def _wait_painted(probe: FirstPaint) -> None:
    deadline = time.monotonic() + _WAIT_SECONDS
    while probe.painted_at is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the first frame never came")
        await asyncio.sleep(0.001)


async def comfyq_startup(data_dir: Path) -> tuple[float, float]:
    """Seconds from building ComfyqApp over `data_dir` to (the first frame with the job table painted, the first
    frame with every pane painted — profiles, editor and detail are mounted just after the job table's frame)."""
    from tui.app import ComfyqApp
    from tui.widgets.job_table import JobTable
    from tui.widgets.profile_list import ProfileList

    options = make_launch(data_dir)
    with FirstPaint(JobTable).installed() as first, FirstPaint(ProfileList).installed() as complete:
        start = time.perf_counter()
        app = ComfyqApp(options)
        async with app.run_test(size=SCREEN_SIZE):
            await _wait_painted(first)
            await _wait_painted(complete)
            assert first.painted_at is not None and complete.painted_at is not None
            elapsed = (first.painted_at - start, complete.painted_at - start)
    await app.shutdown()  # after the app stopped: closes the store
    return elapsed


async def comfyq_first_paint(data_dir: Path) -> float:
    """Seconds from building ComfyqApp over `data_dir` to the first frame with the job table painted."""
    return (await comfyq_startup(data_dir))[0]


async def bare_first_paint() -> float:
    with FirstPaint(JobsPlaceholder).installed() as probe:
        start = time.perf_counter()
        app = BareApp()
        async with app.run_test(size=SCREEN_SIZE):
            await _wait_painted(probe)
            assert probe.painted_at is not None
            elapsed = probe.painted_at - start
    return elapsed


async def measure(runs: int = 5) -> list[Row]:
    comfyq: list[float] = []
    complete: list[float] = []
    bare: list[float] = []
    with temp_dir("startup") as tmp:
        data_dir = Path(tmp)
        await comfyq_startup(data_dir)  # warm-up: imports, CSS parsing caches
        await bare_first_paint()
        for _ in range(runs):
            # Collect the previous app's garbage outside the clock: otherwise whichever app happens to trigger a
            # full collection pays for both (that made single runs 3× slower, at random).
            gc.collect()
            first, everything = await comfyq_startup(data_dir)
            comfyq.append(first * 1000)
            complete.append(everything * 1000)
            gc.collect()
            bare.append(await bare_first_paint() * 1000)
    ours = Stat.of(comfyq, "ms")
    base = Stat.of(bare, "ms")
    ratio = ours.median / base.median
    all_panes = Stat.of(complete, "ms")
    return [
        Row(
            "startup: first painted frame",
            ours,
            base,
            ratio,
            "× bare app",
            f"≤ {TARGET_RATIO}× bare app",
            ratio <= TARGET_RATIO,
            note="in-process, warm imports; empty job store",
        ),
        # Not a target: the whole picture. The first frame shows the jobs in the panes' frames; profiles, editor
        # (≈ 25 widgets) and detail are mounted in the frame after.
        Row(
            "startup: every pane painted",
            all_panes,
            base,
            all_panes.median / base.median,
            "× bare app",
            "—",
            None,
            note="profiles, editor and detail follow the job table's frame",
        ),
    ]


def run(runs: int = 5) -> list[Row]:
    return asyncio.run(measure(runs))
