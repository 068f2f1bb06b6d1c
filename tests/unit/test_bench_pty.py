"""bench/_pty.py and the start-up figure's screen checks: a program in a pseudo-terminal, read as a person sees it.

Behaviour only (what the program is told, what is on screen, which chunk completed it), never how fast.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bench._pty import DA1_ANSWER, TerminalProcess, parse_proc_cpu_seconds, process_cpu_seconds
from bench.startup import anything_painted, every_pane_painted, missing_panes, profiles_connected

pytestmark = pytest.mark.timeout(60)

# A program that reports what its terminal told it, asks the device attributes the way textual-image does (and
# waits for the answer at most 2 s), then paints a line at row 10 and waits to be told to quit with "q".
PROBE = textwrap.dedent(
    r"""
    import fcntl, os, select, struct, sys, termios, tty
    rows, cols, xpixels, ypixels = struct.unpack("HHHH", fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8))
    tty.setraw(0)
    os.write(1, b"\x1b[c")
    answer = b""
    while not answer.endswith(b"c") and select.select([0], [], [], 2.0)[0]:
        answer += os.read(0, 1)
    os.write(1, f"size {cols}x{rows} pixels {xpixels}x{ypixels}\r\n".encode())
    os.write(1, b"answer " + answer.replace(b"\x1b", b"ESC") + b"\r\n")
    os.write(1, b"\x1b[10;5Hpainted at row ten")
    while os.read(0, 1) != b"q":
        pass
    """
)


def test_a_program_sees_a_terminal_of_the_size_asked_and_gets_answers(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    with TerminalProcess([sys.executable, str(script)], columns=100, lines=30) as terminal:
        arrived = terminal.wait_for(lambda lines: "painted at row ten" in lines[9], 20, "the painted line")
        assert arrived >= terminal.started
        lines = terminal.display()
        assert lines[0].startswith("size 100x30 pixels 1000x600")  # cells and pixels, as real terminals report
        assert lines[1].strip() == "answer " + DA1_ANSWER.decode().replace("\x1b", "ESC")
        assert lines[9][4:].startswith("painted at row ten")  # where the cursor was put: a screen, not a log
        assert terminal.cpu_seconds() >= 0
        terminal.send("q")
        assert terminal.process.wait(10) == 0


def test_wait_for_reports_the_chunk_that_completed_the_screen(tmp_path: Path) -> None:
    script = tmp_path / "two_parts.py"
    script.write_text(
        "import sys, time\nsys.stdout.write('first part\\r\\n'); sys.stdout.flush()\ntime.sleep(0.3)\n"
        "sys.stdout.write('second part\\r\\n'); sys.stdout.flush()\ntime.sleep(30)\n",
        encoding="utf-8",
    )
    with TerminalProcess([sys.executable, str(script)]) as terminal:
        first = terminal.wait_for(lambda lines: "first part" in lines[0], 20, "the first part")
        second = terminal.wait_for(lambda lines: "second part" in lines[1], 20, "the second part")
        # The second part was written 0.3 s after the first: its arrival time is its own, not the first's.
        assert second - first >= 0.2


def test_wait_for_says_what_is_on_screen_when_the_program_exits_or_times_out(tmp_path: Path) -> None:
    with TerminalProcess([sys.executable, "-c", "print('bye')"]) as terminal:
        with pytest.raises(RuntimeError, match="exited \\(0\\) before the panes: bye"):
            terminal.wait_for(lambda lines: False, 20, "the panes")
    with TerminalProcess([sys.executable, "-c", "print('waiting'); import time; time.sleep(30)"]) as terminal:
        with pytest.raises(TimeoutError, match="no panes after 0.5 s; the screen shows: waiting"):
            terminal.wait_for(lambda lines: False, 0.5, "panes")
        started = time.monotonic()
    assert terminal.process.poll() is not None  # close() stopped it (SIGTERM to its process group)
    assert time.monotonic() - started < 30


def test_cpu_seconds_are_read_after_the_command_name_even_with_spaces_and_parentheses() -> None:
    fields = ["S"] + ["0"] * 10 + ["250", "50"] + ["0"] * 30  # utime (field 14) = 250, stime (15) = 50 ticks
    line = "4242 (python (bench) x) " + " ".join(fields)
    assert parse_proc_cpu_seconds(line, 100) == pytest.approx(3.0)


def test_cpu_seconds_of_this_process_and_its_main_thread_follow_their_cpu_clocks() -> None:
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    # /proc counts in clock ticks (1/100 s here); the clocks are exact: they agree within a few ticks.
    assert process_cpu_seconds(os.getpid()) == pytest.approx(time.process_time(), abs=0.1)
    assert threading.current_thread() is threading.main_thread()
    assert process_cpu_seconds(os.getpid(), os.getpid()) == pytest.approx(time.thread_time(), abs=0.1)


# ------------------------------------------------------------------------------------------ the screen checks

COMFYQ_SCREEN = [
    "╭─ Profiles ──────────────╮╭────────────────────────────────────────────╮",
    "│ ▶ sim-api  api          ││ 1 All 0   2 Active 0   3 Failed 0          │",
    "│     127.0.0.1:36225     ││  state       id       profile   took  out  │",
    "│   sim-dedicated  dedica ││                                            │",
    "╭─ Workflow ──────────────╮│                                            │",
    "│Positive prompt #6       ││                                            │",
    "│ beautiful scenery natur ││                                            │",
    " profile sim-api  sim-dedicated ✔ connected  sim-api ✔ connected           ",
    " space Mark  ⏎ Detail  ^s Submit  r Resubmit  q Quit ▏ ^p Commands        ",
]


def test_every_pane_painted_looks_at_what_a_person_sees() -> None:
    assert every_pane_painted(COMFYQ_SCREEN) and missing_panes(COMFYQ_SCREEN) == []
    assert anything_painted(COMFYQ_SCREEN) and not anything_painted(["   ", ""])


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        ((1, 3), ["profiles"]),  # only the status line names them: the profile list is not painted yet
        ((6,), ["editor"]),
        ((2,), ["job table"]),
        ((8,), ["footer keys"]),
        ((1, 2, 3, 6, 8), ["profiles", "editor", "job table", "footer keys"]),
    ],
)
def test_a_pane_not_yet_painted_is_missing(drop: tuple[int, ...], missing: list[str]) -> None:
    screen = [line for number, line in enumerate(COMFYQ_SCREEN) if number not in drop]
    assert missing_panes(screen) == missing
    assert not every_pane_painted(screen)


def test_profiles_connected_needs_one_connected_per_profile() -> None:
    assert profiles_connected(COMFYQ_SCREEN)
    assert not profiles_connected([" profile sim-api  sim-dedicated ✔ connected  sim-api ✘ refused"])


def test_the_idle_row_says_why_when_the_profiles_never_connected() -> None:
    from bench.startup import _rows

    ours = [{"first_s": 0.5, "painted_s": 1.0, "idle_skipped": "no both profiles connected after 30 s; ..."}]
    base = [{"first_s": 0.4, "painted_s": 0.5, "idle_percent": 0.2}]
    painted, first, idle = _rows(ours, base)
    assert painted.ratio == pytest.approx(2.0) and painted.met is False  # the start-up figures still stand
    assert first.ratio == pytest.approx(1.25) and first.met is None
    assert idle.comfyq is None and idle.met is None
    assert idle.note.startswith("not measured: no both profiles connected")


def test_the_idle_row_judges_comfyq_against_one_percent_of_a_core() -> None:
    from bench.startup import _rows

    ours = [{"first_s": 0.5, "painted_s": 0.6, "idle_percent": value, "idle_main_thread_percent": value}
            for value in (0.8, 1.4, 0.9)]
    base = [{"first_s": 0.4, "painted_s": 0.5, "idle_percent": 0.0}] * 3
    painted, _, idle = _rows(ours, base)
    assert painted.ratio == pytest.approx(1.2) and painted.met is True  # ≤ 1.2× is met at 1.2×
    assert idle.comfyq is not None and idle.comfyq.median == pytest.approx(0.9) and idle.met is True
    assert idle.ratio is None  # the stock app used no CPU tick: no ratio is made up
