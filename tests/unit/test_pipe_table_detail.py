"""Into a pipe, the job table's Detail column says why a job failed in a few words — the short form the app's table
leads with (`OOM · KSampler`, `rejected · ckpt_name`, `timeout`, `HTTP 503`, `lost`) — and never the whole message: a
ComfyUI OOM is one 500-character sentence chain, which made every failed row of `submit --wait | cat` a very wide
line (issue 13). The whole text stays in `comfyq show` and `--json`; lines are still never cut or folded at a width.
"""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from rich.console import Console

from tui.commands import job_output
from tui.commands.safe_console import SafeConsole
from tui.commands.wait_display import WaitDisplay
from tui.commands.session import pipe_console
from tui.core.events import JobChanged
from tui.core.jobs import Edition, Failure, FailureCategory, Job, JobState, NodeError
from tui.core.presentation import failure_announcement
from tui.sim.comfyui_errors import OOM_MESSAGE, OOM_TIPS

OOM = Failure(
    FailureCategory.EXECUTION,
    f"node 3 KSampler: torch.OutOfMemoryError: {OOM_MESSAGE}\n{OOM_TIPS}",
    node_id="3",
    class_type="KSampler",
    exception_type="torch.OutOfMemoryError",
)
REJECTED = Failure(
    FailureCategory.REJECTED,
    "Prompt outputs failed validation",
    node_errors=(NodeError("4", "CheckpointLoaderSimple", "value_not_in_list", "Value not in list",
                           "ckpt_name: 'x.safetensors' not in ['y.safetensors']", "ckpt_name"),),
)
TIMEOUT = Failure(FailureCategory.TRANSPORT, "POST /prompt timed out after 30 s (the overall deadline of the request)")
HTTP_503 = Failure(FailureCategory.TRANSPORT, "POST /prompt answered HTTP 503: Service Unavailable, try again later")
LOST = Failure(FailureCategory.LOST, "the server does not know it: http://127.0.0.1:8188 has had this job in neither "
                                     "/queue nor /history in 2 looks in a row (deleted there, or forgotten in a restart)")
WARNING = ("outcome unknown: POST /prompt went unanswered, and http://127.0.0.1:8188, answering again, has not had it "
           "for 120 s (not in /queue nor /history). It most likely never arrived")

# Each failure and the Detail a pipe shows for it.
EXPECTED = [(OOM, "OOM · KSampler"), (REJECTED, "rejected · ckpt_name"), (TIMEOUT, "timeout"), (HTTP_503, "HTTP 503"),
            (LOST, "lost")]


def console_for(stream: io.StringIO) -> SafeConsole:
    """The console the CLI makes for a stream that is not a terminal."""
    return pipe_console(file=stream)


def _job(number: int, state: JobState, failure: Failure | None = None, warning: str | None = None) -> Job:
    now = time.time()
    job = Job(id=f"{number:08x}-0000-4000-8000-000000000000", profile="sim-dedicated", edition=Edition.DEDICATED,
              workflow=None, state=state, timestamps={"submitting": now - 10, state.value: now - 1})
    job.failure = failure
    job.warning = warning
    return job


def _failed_jobs() -> list[Job]:
    jobs = [_job(number, JobState.LOST if failure is LOST else JobState.FAILED, failure)
            for number, (failure, _) in enumerate(EXPECTED)]
    return jobs + [_job(len(jobs), JobState.UNKNOWN, warning=WARNING)]


def _print_into_a_pipe(jobs: list[Job], *, outputs: bool = False) -> list[str]:
    out = io.StringIO()
    # Not a terminal, as `| cat` gives: the console the CLI makes for a pipe.
    session = SimpleNamespace(out=console_for(out), profile_or_none=lambda name: None)
    job_output.print_table(session, jobs, outputs=outputs)  # type: ignore[arg-type]
    return out.getvalue().splitlines()


def _detail_cell(header: str, line: str) -> str:
    return line[header.index("Detail"):].rstrip()


def test_into_a_pipe_the_detail_column_is_the_short_reason() -> None:
    jobs = _failed_jobs()
    header, _rule, *rows = _print_into_a_pipe(jobs)
    assert len(rows) == len(jobs), rows
    for row, (_failure, expected) in zip(rows, EXPECTED):
        assert _detail_cell(header, row) == expected, row
    assert _detail_cell(header, rows[-1]) == "⚠ outcome unknown", rows[-1]
    assert all("CUDA out of memory" not in row and "…" not in row for row in rows), rows
    assert max(len(row) for row in rows) < 100, rows  # was over 500 characters for the OOM row


def test_a_long_warning_is_cut_after_a_word_to_a_short_clause() -> None:
    job = _job(1, JobState.SUCCEEDED, warning="succeeded, but none of the outputs it reported could be found in "
                                              "the history entry of this prompt")
    header, _rule, row = _print_into_a_pipe([job])
    detail = _detail_cell(header, row)
    assert detail.startswith("⚠ succeeded, but none of the") and detail.endswith("…"), detail
    assert len(detail) <= 2 + 40, detail


def test_after_a_wait_the_problems_keep_one_line_per_failed_job_with_its_message() -> None:
    jobs = _failed_jobs()
    lines = _print_into_a_pipe(jobs, outputs=True)
    problems = lines[lines.index("Problems") + 1:]
    ours = [line for line in problems if line[:8] in {job.id[:8] for job in jobs}]
    assert len(ours) == len(jobs), problems
    oom = next(line for line in ours if line.startswith(jobs[0].id[:8]))
    assert "OOM · KSampler — CUDA out of memory. Tried to allocate 2.00 GiB." in oom  # the message is here
    assert "TIPS" not in oom  # its first line only; the traceback and the tips stay in `comfyq show`


def test_progress_lines_on_stderr_into_a_pipe_say_the_short_reason() -> None:
    """`submit --wait 2>log`: one line per job that ends, as short as the table's."""
    err = io.StringIO()
    session = SimpleNamespace(err=console_for(err), out=None, profile_or_none=lambda name: None)
    job = _job(7, JobState.FAILED, OOM)
    display = WaitDisplay(session, [job.id])  # type: ignore[arg-type]
    display.on_event(JobChanged(job))
    assert err.getvalue().splitlines() == [f"{job.id[:8]} failed OOM · KSampler"]


def test_on_a_terminal_the_detail_still_leads_with_the_short_form_then_the_message() -> None:
    out = io.StringIO()
    session = SimpleNamespace(out=Console(file=out, width=120, force_terminal=True, color_system=None),
                              profile_or_none=lambda name: None)
    job_output.print_table(session, [_job(1, JobState.FAILED, OOM)])  # type: ignore[arg-type]
    row = out.getvalue().splitlines()[2]
    assert "OOM · KSampler — CUDA out of memory" in row and row.rstrip().endswith("…") and len(row) <= 120, row


# ------------------------------------------------------------------ the app's failure toast says the same words


def test_a_failure_announcement_counts_several_by_short_reason_and_keeps_a_lone_one_short() -> None:
    oom = [_job(number, JobState.FAILED, OOM) for number in range(3)]
    rejected = _job(3, JobState.FAILED, REJECTED)
    title, message = failure_announcement([*oom, rejected])
    assert title == "4 jobs failed"
    assert message == "OOM · KSampler ×3, rejected · ckpt_name ×1 (sim-dedicated) — the Failed filter lists them"

    title, message = failure_announcement(oom[:1], max_chars=60)
    assert title == "Failed: execution"
    assert message.startswith(f"job {oom[0].id[:8]} (sim-dedicated): OOM · KSampler — ")
    assert message.endswith("…") and len(message.split(": ", 1)[1]) == 60
