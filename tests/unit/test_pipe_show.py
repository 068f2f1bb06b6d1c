"""`comfyq show ID | grep …`: into a pipe a line is as long as its text — never padded with spaces to the longest
line. rich pads every cell of a grid to its column's width, and with no width limit in a pipe (lines are not folded
there, logs get grepped) one 600-character failure message made every line of `show` 600 characters of spaces."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from tui.commands import job_output
from tui.commands.session import pipe_console
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState
from tui.sim.comfyui_errors import OOM_MESSAGE, OOM_TIPS


def test_show_into_a_pipe_pads_no_line_to_the_longest_one() -> None:
    now = time.time()
    job = Job(id="b9aeb449-0000-4000-8000-000000000000", profile="sim-api", edition=Edition.API, workflow=None,
              state=JobState.FAILED, timestamps={"submitting": now - 3, "failed": now})
    job.failure = Failure(FailureCategory.EXECUTION, f"node 3 KSampler: torch.OutOfMemoryError: {OOM_MESSAGE}\n{OOM_TIPS}",
                          node_id="3", class_type="KSampler", exception_type="torch.OutOfMemoryError",
                          traceback=("  File \"/opt/ComfyUI/execution.py\", line 496, in execute\n",))
    out = io.StringIO()
    session = SimpleNamespace(out=pipe_console(file=out), profile_or_none=lambda name: None,
                              store=SimpleNamespace(children=lambda job_id: []))
    job_output.print_job_detail(session, job)  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert any(OOM_MESSAGE[:60] in line for line in lines), lines  # the whole message is there, on its line
    padded = [line for line in lines if line != line.rstrip()]
    assert not padded, f"{len(padded)} lines end in spaces, e.g. {padded[0][:40]!r}… ({len(padded[0])} characters)"
    state_line = next(line for line in lines if line.startswith("State"))
    assert len(state_line) < 40, state_line
