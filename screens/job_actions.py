"""The main screen's actions on jobs: submit the editor's workflow, resubmit, cancel.

`JobActionsScreen` is the base class of `MainScreen` (screens/main.py), which supplies the panes it acts on. Every
action that talks to the network runs in a worker; a key that cannot act says why in a toast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from screens.batch_follow import BatchFollower
from screens.confirm import ConfirmScreen
from tui.core.backends.common import BackendError
from tui.core.batch import BatchError, SeedMode, check_job_count, new_batch_name
from tui.core.engine import EngineUsageError, SubmissionRequest
from tui.core.jobs import Edition, Job, JobState
from tui.core.sweep import SweepAxis
from tui.core.workflow import Workflow
from tui.core.presentation import short_id
from tui.widgets.jobs_pane import QUICK_FILTERS, JobsPane
from tui.widgets.job_table import JobTable
from tui.widgets.workflow_editor import WorkflowEditor

if TYPE_CHECKING:
    from tui.app import ComfyqApp

SUBMITTED_TOAST_SECONDS = 3.0  # "n jobs to <profile>": the row is already there, the toast need not cover it long

class JobActionsScreen(Screen[None]):
    """Submit, resubmit and cancel; the subclass says where the jobs go (`target_profiles`)."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", id="main.submit"),
        Binding("r", "resubmit", "Resubmit", id="main.resubmit"),
        Binding("R", "resubmit_failed", "Resubmit failed", id="main.resubmit_failed"),
        Binding("x,ctrl+d", "cancel", "Cancel", id="main.cancel"),
        # The same keys when nothing under the cursor can be cancelled: a toast says why (the footer shows no Cancel).
        Binding("x,ctrl+d", "cancel_refused", "Cancel", show=False, id="main.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.batches = BatchFollower(self.comfyq.store)

    @property
    def comfyq(self) -> ComfyqApp:
        return cast("ComfyqApp", self.app)

    @property
    def jobs_table(self) -> JobTable:
        return self.query_one(JobTable)

    def target_profiles(self) -> list[str]:
        """Where a submission goes (the marked profiles, else the active one)."""
        raise NotImplementedError

    def show_batch_progress(self) -> None:
        """The status bar's batch line changed."""
        raise NotImplementedError

    def cursor_job(self) -> Job | None:
        table = self.jobs_table
        return table.job_at(table.cursor_row)

    # ----------------------------------------------------------------- submit

    @on(WorkflowEditor.SubmitRequested)
    def _submit_requested(self, event: WorkflowEditor.SubmitRequested) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        editor = self.query_one(WorkflowEditor)
        workflow = editor.workflow
        if workflow is None:
            error = editor.error
            self.app.notify(
                f"fix the workflow first: {error}" if error else "open or write a workflow first",
                title="Cannot submit",
                severity="warning",
            )
            editor.focus_error()
            return
        targets = self.target_profiles()
        if not targets:
            self.app.notify("add a profile first (a)", title="Cannot submit", severity="warning")
            return
        sweeps = editor.sweeps
        per_profile = editor.job_count
        total = per_profile * len(targets)
        try:
            check_job_count(total, self.comfyq.config.defaults.max_jobs,
                            what=f"{per_profile:,} jobs × {len(targets)} profiles" if len(targets) > 1 else "")
        except BatchError as error:
            self.app.notify(str(error), title="Cannot submit", severity="error")
            return
        source = editor.path.name if editor.path is not None else workflow.source
        batch = new_batch_name(self.comfyq.store, source)
        count, same_seed = editor.count, editor.same_seed
        if same_seed and count > 1:
            self.app.notify(
                f"the {count} copies are identical: ComfyUI runs the first and serves the rest from its cache",
                title="Same seed", severity="warning",
            )

        def send() -> None:
            self._submit(workflow, count, targets, sweeps=sweeps, same_seed=same_seed, batch=batch)

        if total <= self.comfyq.config.defaults.confirm_above:
            send()
            return
        where = targets[0] if len(targets) == 1 else f"{len(targets)} profiles"
        self.app.push_screen(
            ConfirmScreen(
                "Submit a large batch",
                f"Submit {total:,} jobs → {where} as batch {batch}?",
                confirm_label="Submit",
                variant="primary",
            ),
            lambda yes: send() if yes else None,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: a submit, resubmit or cancel that failed (the store on a full disk,
        # ...) is reported by the app's handler instead of being dropped.
        self.comfyq.on_worker_state_changed(event)

    @work(group="submit", exit_on_error=False)
    async def _submit(
        self, workflow: Workflow, count: int, profiles: list[str], *, sweeps: Sequence[SweepAxis] = (),
        same_seed: bool = False, batch: str | None = None,
    ) -> None:
        if batch is not None and (count > 1 or sweeps or len(profiles) > 1):  # one job is no batch to follow
            self.batches.follow(batch)
            self.show_batch_progress()
        first: Job | None = None
        for profile in profiles:
            jobs = await self.comfyq.engine.submit(SubmissionRequest(
                profile, workflow, count=count, sweep=sweeps, seed_mode=SeedMode.from_flags(same_seed=same_seed),
                batch=batch,
            ))
            first = first or (jobs[0] if jobs else None)
            failed = [job for job in jobs if job.state is JobState.FAILED]
            message = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} to {profile}"
            if failed:
                message += f"; {len(failed)} rejected: {failed[0].failure.message if failed[0].failure else ''}"
            if first is not None and jobs and jobs[0] is first:
                message += self._select_submitted(first)
            # The new row is on screen (and selected): a plain "sent" needs only a glance, a rejection its full time.
            self.app.notify(message, title="Submitted", severity="warning" if failed else "information",
                            timeout=None if failed else SUBMITTED_TOAST_SECONDS)

    def _select_submitted(self, job: Job) -> str:
        """Put the cursor on the job just submitted; when the view hides it, say so (the toast's tail)."""
        table = self.jobs_table
        table.update_jobs([self.comfyq.store.get(job.id)])  # its JobChanged may not have been drained yet
        if table.move_cursor_to_job(job.id):
            return ""
        pane = self.query_one(JobsPane)
        if not pane.shows(job.state):
            return f" — not in this view: the {QUICK_FILTERS[pane.quick_filter][0]} filter hides it (1 shows all)"
        return " — not in this view: the filter line hides it (esc in it clears it)"

    # --------------------------------------------------------------- resubmit

    def action_resubmit(self) -> None:
        table = self.jobs_table
        targets = table.targets()
        if not targets:
            return
        self._resubmit(targets)
        table.clear_marks()

    def action_resubmit_failed(self) -> None:
        table = self.jobs_table
        failed = [job.id for job in self.comfyq.store.failed(table.job_filter)]
        if not failed:
            self.app.notify("no failed jobs in this view", title="Resubmit failed")
            return
        count = f"{len(failed)} failed job{'s' if len(failed) != 1 else ''}"

        def answered(yes: bool | None) -> None:
            if yes:
                self._resubmit(failed)

        self.app.push_screen(
            ConfirmScreen(
                "Resubmit failed jobs",
                f"Resubmit {count} in this view (failed, lost or unknown, not resubmitted yet)?",
                confirm_label="Resubmit",
                variant="primary",
            ),
            answered,
        )

    def resubmit_with_new_seed(self) -> None:
        table = self.jobs_table
        targets = table.targets()
        if targets:
            self._resubmit(targets, new_seed=True)
            table.clear_marks()

    @work(group="resubmit", exit_on_error=False)
    async def _resubmit(self, job_ids: list[str], new_seed: bool = False) -> None:
        jobs = await self.comfyq.engine.resubmit(job_ids, new_seed=new_seed)
        self.app.notify(f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} resubmitted", title="Resubmit")

    # ----------------------------------------------------------------- cancel

    def cancel_refusal(self, job: Job) -> str | None:
        """Why `job` cannot be cancelled, or None when it can."""
        if job.state.is_terminal:
            return f"job {short_id(job.id)} already ended ({job.state.value}): nothing to cancel"
        if job.state is JobState.SUBMITTING:
            return None  # cancelled here at once, whatever the service can do
        if not self.comfyq.engine_started:
            return None  # the backends are not loaded yet: the engine answers when asked
        capabilities = self.comfyq.engine.capabilities(job.profile)
        if not capabilities.can_cancel:
            if job.edition is Edition.API:
                return f"profile {job.profile!r} (API edition) cannot cancel: the EAS queue cannot withdraw a task"
            return f"profile {job.profile!r} cannot cancel jobs"
        if job.state is JobState.RUNNING and not capabilities.can_cancel_running:
            return (f"job {short_id(job.id)} is already running on a service instance: profile {job.profile!r} "
                    "(API edition) can only withdraw a task still waiting in the queue")
        return None

    def _cancellable_targets(self) -> list[str]:
        store = self.comfyq.store
        return [job_id for job_id in self.jobs_table.targets() if self.cancel_refusal(store.get(job_id)) is None]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer Cancel only when a job under the cursor (or marked) can be cancelled; else the same keys say why."""
        if action in ("cancel", "cancel_refused") and self.is_mounted:
            can = bool(self._cancellable_targets())
            return can if action == "cancel" else (not can and bool(self.jobs_table.targets()))
        return True

    def action_cancel(self) -> None:
        targets = self._cancellable_targets()
        if not targets:
            self.action_cancel_refused()
            return
        what = f"job {short_id(targets[0])}" if len(targets) == 1 else (
            f"{len(targets)} jobs ({', '.join(short_id(t) for t in targets[:5])}…)"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(targets)

        self.app.push_screen(
            ConfirmScreen("Cancel", f"Cancel {what}? A queued job is dropped, a running one interrupted.",
                          confirm_label="Cancel job", keep_label="Keep job"),
            answered,
        )

    def action_cancel_refused(self) -> None:
        store = self.comfyq.store
        reasons = [reason for job_id in self.jobs_table.targets() if (reason := self.cancel_refusal(store.get(job_id)))]
        if reasons:
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            self.app.notify(reasons[0] + more, title="Cannot cancel", severity="warning")

    @work(group="cancel", exit_on_error=False)
    async def _cancel(self, job_ids: list[str]) -> None:
        cancelled = 0
        for job_id in job_ids:
            if self.comfyq.store.get(job_id).state.is_terminal:
                continue
            try:
                await self.comfyq.engine.cancel(job_id)
            except (EngineUsageError, BackendError) as error:
                # e.g. an API-edition task an instance took meanwhile: it cannot be interrupted; say so.
                self.app.notify(str(error), title="Cancel", severity="warning")
                continue
            cancelled += 1
        if cancelled:
            self.app.notify(f"cancel sent for {cancelled} job{'s' if cancelled != 1 else ''}", title="Cancel")
