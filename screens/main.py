"""The main screen: profiles | workflow editor on the left, jobs | detail on the right, status bar below.

The screen wires widgets to the engine and the store; it holds no job logic of its own. Every action that talks to
the network runs in a worker, and every failure goes to `app.report_error` (one place).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Label, Static
from textual.worker import Worker

from tui.core.backends.base import SourceStatus
from tui.core.batch import BatchError, batch_progress, check_job_count, new_batch_name
from tui.core.jobs import ACTIVE_STATES, FAILING_STATES, TERMINAL_STATES, Job, JobState
from tui.core.safe_text import visible
from tui.core.store import JobFilter
from tui.widgets.job_detail import JobDetail
from tui.widgets.key_bar import KeyBar
from tui.widgets.job_table import JobTable
from tui.widgets.profile_list import ProfileList
from tui.widgets.quick_filters import QuickFilterBar
from tui.widgets.status_bar import StatusBar
from tui.widgets.workflow_editor import WorkflowEditor

if TYPE_CHECKING:
    from tui.app import ComfyqApp, LaunchOptions
    from tui.core.sweep import SweepAxis

PaneT = TypeVar("PaneT", bound=Widget)

# Quick filters: tab id -> (label, states or None for all). "Failed" means still failing: the latest attempt of
# each chain (a failed job whose resubmission succeeded is not failing any more).
QUICK_FILTERS: dict[str, tuple[str, frozenset[JobState] | None]] = {
    "all": ("All", None),
    "active": ("Active", frozenset(ACTIVE_STATES)),
    "failed": ("Failed", FAILING_STATES),
    "done": ("Done", frozenset(TERMINAL_STATES)),
}
LATEST_ONLY_FILTERS = frozenset({"failed"})


def _breakpoint_classes(app: App[object]) -> list[str]:
    """The app's breakpoint classes (-narrow/-wide, -short/-tall) for the terminal's size now.

    Given at construction, so the first resize finds them already set: otherwise it restyles every widget once more
    just after they were all styled (a fifth of the time to the first frame).
    """
    width, height = app.size
    classes = []
    for breakpoints, dimension in ((app.HORIZONTAL_BREAKPOINTS, width), (app.VERTICAL_BREAKPOINTS, height)):
        chosen = [name for threshold, name in sorted(breakpoints or []) if dimension >= threshold]
        if chosen:
            classes.append(chosen[-1])
    return classes


class PaneSlot(Static):
    """Where a pane will be, for the first frame: its border and title, `lines` empty lines inside."""

    def __init__(self, title: str, *, id: str, lines: int = 1) -> None:
        super().__init__("\n" * (lines - 1), id=id, classes="pane-slot")
        self.border_title = title


class JobsPane(Vertical):
    """The jobs table with its quick filters and filter box; `z` zooms it."""

    ALLOW_MAXIMIZE = True


class MainScreen(Screen[None]):
    """Profiles, workflow editor, live job table and job detail — everything one key away."""

    AUTO_FOCUS = "#jobs"  # straight to the table (focusing the first pane, then the table, restyles both twice)

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", id="main.submit"),
        Binding("r", "resubmit", "Resubmit", id="main.resubmit"),
        Binding("R", "resubmit_failed", "Resubmit failed", id="main.resubmit_failed"),
        Binding("x,ctrl+d", "cancel", "Cancel", id="main.cancel"),
        Binding("slash", "filter", "Filter", key_display="/", id="main.filter"),
        Binding("y", "copy_oss_path", "Copy OSS path", show=False, id="main.copy_oss"),
        Binding("Y", "copy_all_oss_paths", "Copy all OSS paths", show=False, id="main.copy_all_oss"),
        Binding("c", "copy_ids", "Copy ids", show=False, id="main.copy_ids"),
        Binding("w", "load_job_workflow", "Load job's workflow", show=False, id="main.load_workflow"),
        Binding("e", "open_in_editor", "$EDITOR", id="main.editor"),
        Binding("ctrl+o", "open_workflow", "Open workflow", show=False, id="main.open_workflow"),
        Binding("f2", "save_workflow", "Save workflow", show=False, id="main.save_workflow"),
        Binding("1", "quick_filter('all')", "All", show=False, id="main.filter_all"),
        Binding("2", "quick_filter('active')", "Active", show=False, id="main.filter_active"),
        Binding("3", "quick_filter('failed')", "Failed", show=False, id="main.filter_failed"),
        Binding("4", "quick_filter('done')", "Done", show=False, id="main.filter_done"),
        Binding("z", "zoom", "Zoom pane", id="main.zoom"),
        Binding("i", "stats", "Stats", show=False, id="main.stats"),  # the key bar is full: ?, palette
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False, id="main.sidebar"),
        Binding("escape", "escape", "Back", show=False, id="main.escape"),
    ]

    def __init__(self, options: LaunchOptions) -> None:
        super().__init__()
        self.add_class(*_breakpoint_classes(self.app), update=False)
        self.options = options
        self._quick_filter = "all"
        self._text_filter = JobFilter()
        self._counts_due = 0.0
        self._announced: set[str] = set()
        self._batches: list[str] = []  # batches submitted from this screen that have not ended yet (oldest first)
        self._last_batch: str | None = None  # the newest of them: the status bar keeps its final count
        self._batches_changed = False  # a job of a followed batch changed since they were last counted
        self._batches_due = 0.0
        self._detail_follow_due = False
        self._cancel_offered: bool | None = None
        self.panes_ready = False  # profiles, editor and detail are mounted just after the first frame
        self._after_panes: list[Callable[[], object]] = []  # actions asked for before that: run once they are
        self._hour_figures_due = 0.0  # when the profiles pane's last-hour figures are recomputed next

    @property
    def comfyq(self) -> ComfyqApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        app = self.comfyq
        with Horizontal(id="panes"):
            with Vertical(id="sidebar"):
                # Three lines per profile (ProfileList._render_profile): the slot keeps the pane's height.
                yield PaneSlot("Profiles", id="profiles-slot", lines=3 * len(app.config.profiles) or 1)
                yield PaneSlot("Workflow", id="editor-slot")
            with Vertical(id="work"):
                with JobsPane(id="jobs-pane"):
                    yield QuickFilterBar(
                        {key: label for key, (label, _) in QUICK_FILTERS.items()}, active=self._quick_filter,
                        id="quick-filters",
                    )
                    yield JobTable(app.store, id="jobs")
                yield PaneSlot("Detail", id="detail-slot")
        yield StatusBar(id="status")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(JobTable)
        table.reload()
        self.query_one(StatusBar).set_profiles(list(self.comfyq.config.profiles))
        self._refresh_counts(force=True)
        self.set_interval(1.0, self._tick)
        self.call_after_refresh(self._mount_panes)

    async def _mount_panes(self) -> None:
        """Profiles, editor and detail (≈ 30 widgets between them), mounted once the job table is on screen.

        Styling widgets is most of what it costs to start: the first frame shows the jobs in the panes' frames,
        the rest of the panes follow in the next one.
        """
        app = self.comfyq
        if app.closing:
            return
        profiles = ProfileList(app.config, id="profiles")
        editor = WorkflowEditor(self.options.workflow, self.options.workflow_path, id="editor")
        detail = JobDetail(app.config, app.store, id="detail")
        with app.batch_update():
            await self.query_one("#sidebar").mount(profiles, editor, before="#profiles-slot")
            await self.query_one("#work").mount(detail, after="#jobs-pane")
            await self.query(PaneSlot).remove()
        self.panes_ready = True
        self.call_after_refresh(self.comfyq.settle_after_start)  # after the panes' frame, not before it
        # What happened before the list was there: sources' states, and the jobs already in flight per profile.
        for status in list(app.engine.source_statuses.values()):
            profiles.update_status(status)
        for name in app.config.profiles:
            in_flight = app.store.ids(JobFilter(states=frozenset(ACTIVE_STATES), profile=name))
            if in_flight:
                profiles.set_in_flight(name, set(in_flight))
        self._hour_figures_due = time.monotonic() + 10.0
        self._refresh_hour_figures()  # in a worker thread: the first frames never wait on it
        self._update_target_label()
        self._show_cursor_job(self.query_one(JobTable).cursor_job_id)
        self._refresh_bindings_if_changed()
        pending, self._after_panes = self._after_panes, []
        for action in pending:
            action()

    def _ready_or_later(self, action: Callable[[], object]) -> bool:
        """True when the panes are mounted; else `action` runs as soon as they are (a key pressed while the app
        starts is not lost) and False is returned."""
        if self.panes_ready:
            return True
        self._after_panes.append(action)
        return False

    def _pane(self, kind: type[PaneT]) -> PaneT | None:
        """A pane's widget, or None before it is mounted (see `_mount_panes`) and while the app takes the screen
        apart at exit (an engine event can still arrive then)."""
        if not self.panes_ready:
            return None
        found = self.query(kind)
        return found.first(kind) if found else None

    def _profiles(self) -> ProfileList | None:
        return self._pane(ProfileList)

    def _editor(self) -> WorkflowEditor | None:
        return self._pane(WorkflowEditor)

    def _detail(self) -> JobDetail | None:
        return self._pane(JobDetail)

    # --------------------------------------------------------- engine feed

    def jobs_changed(self, jobs: Sequence[Job]) -> None:
        """Called by the app with the latest version of every job that changed since the last call."""
        table = self.query_one(JobTable)
        table.update_jobs(jobs)
        if (detail := self._detail()) is not None:
            detail.jobs_changed(jobs)
        if (profiles := self._profiles()) is not None:
            profiles.jobs_changed(jobs)
            if any(job.state.is_terminal for job in jobs):
                self._hour_figures_due = min(self._hour_figures_due, time.monotonic() + 1.0)
        cursor = table.cursor_job_id
        if cursor is not None and any(job.id == cursor for job in jobs):
            self._refresh_bindings_if_changed()  # Cancel leaves the footer when the cursor job ends
        self._announce(jobs)
        self._refresh_counts()

    def _announce(self, jobs: Sequence[Job]) -> None:
        """A toast when a job fails, and one when a batch submitted from this screen has ended."""
        for job in jobs:
            if job.state is JobState.FAILED and job.failure is not None and job.id not in self._announced:
                self._announced.add(job.id)
                self.app.notify(
                    f"job {job.id[:8]} ({job.profile}): {job.failure.message[:200]}",
                    title=f"Failed: {job.failure.category.value}",
                    severity="error",
                )
        typed = self._text_filter.batch
        if any(job.batch and (job.batch in self._batches or (typed and job.batch.startswith(typed))) for job in jobs):
            self._batches_changed = True  # a followed batch, or the one in the filter (e.g. sent by `comfyq submit`)
        self._check_batches()

    def _check_batches(self) -> None:
        """Count the followed batches (a query each) at most four times a second however fast events come; the
        1 s tick catches a change left over from a skipped turn."""
        now = time.monotonic()
        if not self._batches_changed or now < self._batches_due:
            return
        self._batches_changed = False
        self._batches_due = now + 0.25
        for name in list(self._batches):
            progress = batch_progress(self.comfyq.store, name)
            if progress.done:
                self._batches.remove(name)
                self.app.notify(
                    f"{progress.total} done · {progress.failed} failed", title=f"Batch finished: {visible(name)}",
                    severity="warning" if progress.failed else "information",
                )
                # People leave long batches running in another window: a desktop notification too.
                self.comfyq.notify_terminal(f"comfyq: {name}", f"{progress.total} done · ✔ {progress.succeeded} "
                                            f"✘ {progress.failed}")
        self._show_batch_progress()

    def _show_batch_progress(self) -> None:
        """The status bar follows the batch in the filter (`batch:NAME`), else the newest one still running."""
        store = self.comfyq.store
        name = None
        typed = self._text_filter.batch
        if typed:
            names = store.batch_names(typed, limit=2)
            name = typed if typed in names else (names[0] if len(names) == 1 else None)
        if name is None:
            name = self._last_batch
        self.query_one(StatusBar).batch = batch_progress(store, name).summary() if name else None

    def source_status_changed(self, status: SourceStatus) -> None:
        if (profiles := self._profiles()) is not None:
            profiles.update_status(status)
        for bar in self.query(StatusBar).results(StatusBar):  # none while the screen is being taken apart
            bar.update_status(status)

    def show_last_error(self, message: str, profile: str | None = None) -> None:
        self.query_one(StatusBar).show_error(message, profile)

    def _tick(self) -> None:
        if self.comfyq.closing:
            return  # shutdown() closed the store; the app exits in a moment
        self.query_one(JobTable).tick()
        if (profiles := self._profiles()) is not None:
            profiles.tick()
            if time.monotonic() >= self._hour_figures_due:
                # The window slides: recomputed every 10 s, and a second after a job finishes.
                self._hour_figures_due = time.monotonic() + 10.0
                self._refresh_hour_figures()
        self._refresh_counts()
        self._check_batches()

    def _refresh_counts(self, force: bool = False) -> None:
        # One GROUP BY query at most twice a second, however fast events arrive.
        now = time.monotonic()
        if not force and now < self._counts_due:
            return
        self._counts_due = now + 0.5
        store = self.comfyq.store
        counts = store.counts_by_state()
        totals = {
            key: sum(n for state, n in counts.items() if states is None or state in states)
            for key, (_, states) in QUICK_FILTERS.items()
        }
        failing = totals["failed"] = store.failing_count()
        self.query_one(QuickFilterBar).set_counts(totals)
        status = self.query_one(StatusBar)
        status.failing = failing
        status.counts = counts

    # ------------------------------------------------------------- filters

    def _apply_filter(self) -> None:
        states = QUICK_FILTERS[self._quick_filter][1]
        typed = self._text_filter
        if typed.states is not None:
            states = typed.states if states is None else frozenset(states & typed.states)
        latest_only = typed.latest_only or self._quick_filter in LATEST_ONLY_FILTERS
        # `batch:NAME` naming a whole batch means that batch (as `--batch NAME` does), not every batch starting
        # with it (`…-104055` and `…-104055-2` both sent within one second); a start of a name narrows as typed.
        exact = bool(typed.batch) and self.comfyq.store.batch_names(typed.batch, limit=1) == [typed.batch]
        self.query_one(JobTable).set_filter(
            replace(typed, states=states, latest_only=latest_only, batch_exact=exact, problems=())
        )
        self._show_batch_progress()

    @on(QuickFilterBar.Chosen)
    def _quick_filter_chosen(self, event: QuickFilterBar.Chosen) -> None:
        self.action_quick_filter(event.key)

    def action_quick_filter(self, key: str) -> None:
        self.query_one(QuickFilterBar).active = key
        if key != self._quick_filter:
            self._quick_filter = key
            self._apply_filter()

    def _filter_input(self) -> Input:
        """The filter line under the quick filters, made the first time it is needed (most sessions never do)."""
        found = self.query("#filter")
        if found:
            return found.first(Input)
        filter_input = Input(placeholder="filter: text  state:failed  profile:NAME   (esc to close)", id="filter")
        self.query_one("#jobs-pane").mount(filter_input, after="#quick-filters")
        return filter_input

    def action_filter(self) -> None:
        filter_input = self._filter_input()
        filter_input.display = True
        filter_input.focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self._text_filter = JobFilter.parse(event.value)
        self._apply_filter()
        self._show_filter_problems(self._filter_problems(self._text_filter))

    def _filter_problems(self, typed: JobFilter) -> list[str]:
        """What in the typed filter can match nothing, each with the names that would."""
        problems = list(typed.problems)
        profiles = sorted(self.comfyq.config.profiles)
        if typed.profile is not None and not any(name.startswith(typed.profile) for name in profiles):
            problems.append(f"profile:{typed.profile}: no such profile (one of: {', '.join(profiles) or 'none'})")
        return problems

    def _show_filter_problems(self, problems: list[str]) -> None:
        found = self.query("#filter-problems")
        if not problems and not found:
            return
        if found:
            note = found.first(Static)
        else:
            note = Static(id="filter-problems", markup=False)
            self.query_one("#jobs-pane").mount(note, after="#filter")
        note.update("✘ " + " · ".join(visible(problem) for problem in problems) if problems else "")
        note.display = bool(problems)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.query_one(JobTable).focus()

    def action_escape(self) -> None:
        found = self.query("#filter")
        filter_input = found.first(Input) if found else None
        if filter_input is not None and filter_input.has_focus:
            if filter_input.value:
                filter_input.value = ""
            filter_input.display = False
            self._show_filter_problems([])
            self.query_one(JobTable).focus()
        elif self.maximized is not None:
            self.minimize()
        elif self.query_one(JobTable).marked:
            self.query_one(JobTable).clear_marks()

    # ------------------------------------------------------------ selection

    @on(JobTable.Highlighted)
    def _cursor_moved(self, event: JobTable.Highlighted) -> None:
        # The cursor paints first; the detail pane follows in the frame after (switching jobs re-lays it out).
        # Holding a key down thus moves the cursor at full speed, and the detail shows the job where it stops.
        if not self._detail_follow_due:
            self._detail_follow_due = True
            self.call_after_refresh(self._follow_cursor)
        self._refresh_bindings_if_changed()

    def _follow_cursor(self) -> None:
        self._detail_follow_due = False
        if not self.comfyq.closing and self.is_mounted:
            self._show_cursor_job(self.query_one(JobTable).cursor_job_id)

    def _refresh_bindings_if_changed(self) -> None:
        # The footer rebuilds all its keys on refresh_bindings(): only when Cancel comes or goes.
        offered = bool(self.check_action("cancel", ()))
        if offered != self._cancel_offered:
            self._cancel_offered = offered
            self.refresh_bindings()

    def _show_cursor_job(self, job_id: str | None) -> None:
        detail = self._detail()
        if detail is None:
            return
        if job_id is None:
            detail.show_job(None)
            return
        job = self.query_one(JobTable).job_at(self.query_one(JobTable).cursor_row)
        if job is None or job.id != job_id:
            job = self.comfyq.store.get(job_id)
        detail.show_job(job)

    @on(JobTable.Selected)
    def _open_detail(self, event: JobTable.Selected) -> None:
        self.open_detail(event.job_id)

    def open_detail(self, job_id: str) -> None:
        from screens.job_detail import JobDetailScreen

        self.app.push_screen(JobDetailScreen(job_id))

    def open_cursor_detail(self) -> None:
        job_id = self.query_one(JobTable).cursor_job_id
        if job_id is not None:
            self.open_detail(job_id)

    @on(JobTable.MarksChanged)
    def _marks_changed(self, event: JobTable.MarksChanged) -> None:
        self.query_one(StatusBar).marked = len(event.marked)

    @on(JobDetail.Navigate)
    def _navigate(self, event: JobDetail.Navigate) -> None:
        table = self.query_one(JobTable)
        if not table.move_cursor_to_job(event.job_id):
            self._show_cursor_job(event.job_id)

    # -------------------------------------------------------------- actions

    def _target_profiles(self) -> list[str]:
        profiles = self._profiles()
        if profiles is None:
            return []
        return profiles.marked_profiles() or ([profiles.active_profile] if profiles.active_profile else [])

    def action_submit(self) -> None:
        if not self._ready_or_later(self.action_submit):
            return
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
        targets = self._target_profiles()
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
        if editor.same_seed and editor.count > 1:
            self.app.notify(
                f"the {editor.count} copies are identical: ComfyUI runs the first and serves the rest from its cache",
                title="Same seed", severity="warning",
            )

        def send() -> None:
            self._submit(workflow, editor.count, targets, sweeps=sweeps, same_seed=editor.same_seed, batch=batch)

        if total <= self.comfyq.config.defaults.confirm_above:
            send()
            return
        from screens.confirm import ConfirmScreen

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

    @on(WorkflowEditor.SubmitRequested)
    def _submit_requested(self, event: WorkflowEditor.SubmitRequested) -> None:
        self.action_submit()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: a submit or resubmit that failed (the store on a full disk, ...)
        # is reported by the app's handler, not dropped.
        self.comfyq.on_worker_state_changed(event)

    @work(group="submit", exit_on_error=False)
    async def _submit(  # type: ignore[no-untyped-def]
        self, workflow, count: int, profiles: list[str], *, sweeps: Sequence[SweepAxis] = (), same_seed: bool = False,
        batch: str | None = None,
    ) -> None:
        if batch is not None and (count > 1 or sweeps or len(profiles) > 1):  # one job is no batch to follow
            self._batches.append(batch)
            self._last_batch = batch
            self._show_batch_progress()
        for profile in profiles:
            jobs = await self.comfyq.engine.submit(
                profile, workflow, count=count, sweep=sweeps, same_seed=same_seed, batch=batch
            )
            failed = [job for job in jobs if job.state is JobState.FAILED]
            message = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} to {profile}"
            if failed:
                self.app.notify(
                    f"{message}; {len(failed)} rejected: {failed[0].failure.message if failed[0].failure else ''}",
                    title="Submitted",
                    severity="warning",
                )
            else:
                self.app.notify(message, title="Submitted")

    def action_resubmit(self) -> None:
        table = self.query_one(JobTable)
        targets = table.targets()
        if not targets:
            return
        self._resubmit(targets)
        table.clear_marks()

    def action_resubmit_failed(self) -> None:
        from screens.confirm import ConfirmScreen

        table = self.query_one(JobTable)
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
        table = self.query_one(JobTable)
        targets = table.targets()
        if targets:
            self._resubmit(targets, new_seed=True)
            table.clear_marks()

    @work(group="resubmit", exit_on_error=False)
    async def _resubmit(self, job_ids: list[str], new_seed: bool = False) -> None:
        jobs = await self.comfyq.engine.resubmit(job_ids, new_seed=new_seed)
        self.app.notify(f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} resubmitted", title="Resubmit")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer cancel only when the cursor job can be cancelled (the EAS queue withdraws only waiting tasks)."""
        if action == "cancel" and self.is_mounted:
            if not self.panes_ready:
                return False  # asking the engine would load a backend (aiohttp, the EAS SDK) before the first frame
            job = self.cursor_job()
            if job is None or job.state.is_terminal:
                return False
            capabilities = self.comfyq.engine.capabilities(job.profile)
            if job.state is not JobState.SUBMITTING and not capabilities.can_cancel:
                return False
            if job.state is JobState.RUNNING and not capabilities.can_cancel_running:
                return False
        return True

    def action_cancel(self) -> None:
        from screens.confirm import ConfirmScreen

        targets = [
            job_id for job_id in self.query_one(JobTable).targets() if not self.comfyq.store.get(job_id).state.is_terminal
        ]
        if not targets:
            return
        what = f"job {targets[0][:8]}" if len(targets) == 1 else f"{len(targets)} jobs ({', '.join(t[:8] for t in targets[:5])}…)"

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(targets)

        self.app.push_screen(
            ConfirmScreen("Cancel", f"Cancel {what}? A queued job is dropped, a running one interrupted.", confirm_label="Cancel job", keep_label="Keep job"),
            answered,
        )

    @work(group="cancel", exit_on_error=False)
    async def _cancel(self, job_ids: list[str]) -> None:
        from tui.core.backends import BackendError
        from tui.core.engine import EngineUsageError

        cancelled = 0
        for job_id in job_ids:
            job = self.comfyq.store.get(job_id)
            if job.state.is_terminal:
                continue
            try:
                await self.comfyq.engine.cancel(job_id)
            except (EngineUsageError, BackendError) as error:
                # e.g. an API-edition task an instance already took: it cannot be interrupted; say so.
                self.app.notify(str(error), title="Cancel", severity="warning")
                continue
            cancelled += 1
        if cancelled:
            self.app.notify(f"cancel sent for {cancelled} job{'s' if cancelled != 1 else ''}", title="Cancel")

    def cursor_job(self) -> Job | None:
        table = self.query_one(JobTable)
        return table.job_at(table.cursor_row)

    def _cursor_detail(self) -> JobDetail | None:
        """The detail pane, made to show the cursor's job now (it follows the cursor a frame late): `y`, `Y` and `c`
        are the pane's copy actions, whatever has the focus."""
        detail = self._detail()
        if detail is not None:
            job_id = self.query_one(JobTable).cursor_job_id
            if (detail.job.id if detail.job is not None else None) != job_id:
                self._show_cursor_job(job_id)
        return detail

    def action_copy_oss_path(self) -> None:
        if (detail := self._cursor_detail()) is not None:
            detail.action_copy_oss_path()

    def action_copy_all_oss_paths(self) -> None:
        if (detail := self._cursor_detail()) is not None:
            detail.action_copy_all_oss_paths()

    def action_copy_ids(self) -> None:
        if (detail := self._cursor_detail()) is not None:
            detail.action_copy_ids()

    def action_load_job_workflow(self) -> None:
        job = self.cursor_job()
        if job is None or job.workflow is None:
            self.app.notify("this job has no stored workflow (an external result)", severity="warning")
            return
        if self._ready_or_later(self.action_load_job_workflow):
            self.query_one(WorkflowEditor).load_job_workflow(job)

    def action_open_in_editor(self) -> None:
        if self._ready_or_later(self.action_open_in_editor):
            self.query_one(WorkflowEditor).open_in_external_editor()

    def action_open_workflow(self) -> None:
        if self._ready_or_later(self.action_open_workflow):
            self.query_one(WorkflowEditor).action_open()

    def action_save_workflow(self) -> None:
        if self._ready_or_later(self.action_save_workflow):
            self.query_one(WorkflowEditor).action_save()

    def action_save_workflow_as(self) -> None:
        if self._ready_or_later(self.action_save_workflow_as):
            self.query_one(WorkflowEditor).action_save_as()

    def randomize_seeds(self) -> None:
        if not self._ready_or_later(self.randomize_seeds):
            return
        changed = self.query_one(WorkflowEditor).randomize_seeds()
        self.app.notify(f"{changed} seed{'s' if changed != 1 else ''} randomized", title="Workflow")

    def _update_target_label(self) -> None:
        targets = self._target_profiles()
        label = "→ (no profile)" if not targets else f"→ {targets[0]}" if len(targets) == 1 else f"→ {len(targets)} profiles"
        if (editor := self._editor()) is not None:
            editor.set_target_label(label)

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        pane = None
        while focused is not None:
            if focused.id in ("profiles", "editor", "jobs-pane", "detail"):
                pane = focused
                break
            if isinstance(focused, JobTable):
                pane = self.query_one("#jobs-pane")
                break
            focused = focused.parent  # type: ignore[assignment]
        if pane is not None:
            self.maximize(pane)

    # ---------------------------------------------------------------- stats and export (screens/stats.py)

    def stats_selection(self) -> JobFilter:
        """What `i` shows stats for: the job table's filter (its profile, batch and words; a state filter would
        hide the finished jobs stats are made of), else the active profile."""
        from dataclasses import replace

        selection = replace(self.query_one(JobTable).job_filter, states=None)
        if selection.is_empty and (profiles := self._profiles()) is not None and profiles.active_profile:
            selection = JobFilter(profile=profiles.active_profile)
        return selection

    @work(thread=True, exclusive=True, group="hour-figures", exit_on_error=False)
    def _refresh_hour_figures(self) -> None:
        from tui.core.stats import Window, profile_figures

        try:
            figures = {f.profile: f for f in profile_figures(self.comfyq.store, Window.parse("1h"))}
        except Exception:
            if self.comfyq.closing:
                return  # the store was closed while quitting
            raise
        if (profiles := self._profiles()) is not None and not self.comfyq.closing:
            self.app.call_from_thread(profiles.set_hour_figures, figures)

    def action_stats(self) -> None:
        from screens.stats import StatsScreen

        self.app.push_screen(StatsScreen(self.stats_selection()))

    def export_view(self, fmt: str = "csv") -> None:
        """Every job of the table's current filter to a file (`comfyq export` with the same filter)."""
        self._export_view(self.query_one(JobTable).job_filter, fmt)

    @work(thread=True, group="export", exit_on_error=False)
    def _export_view(self, flt: JobFilter, fmt: str) -> None:
        from screens.stats import export_view

        path, count = export_view(self.comfyq.store, flt, self.comfyq.config.profiles, fmt,
                                  fallback=self.comfyq.options.locations.data_dir)
        self.app.call_from_thread(
            self.app.notify, f"{count:,} job{'s' if count != 1 else ''} → {path}", title="Exported this view"
        )

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display

    @on(ProfileList.ActiveChanged)
    def _active_profile(self, event: ProfileList.ActiveChanged) -> None:
        self.query_one(StatusBar).active_profile = event.name
        self._update_target_label()

    @on(ProfileList.MarksChanged)
    def _profile_marks(self, event: ProfileList.MarksChanged) -> None:
        self._update_target_label()

    # ------------------------------------------------------------- profiles

    def switch_profile(self, name: str) -> None:
        if self._ready_or_later(lambda: self.switch_profile(name)):
            self.query_one(ProfileList).set_active(name)

    def filter_profile(self, name: str) -> None:
        filter_input = self._filter_input()
        filter_input.display = True
        filter_input.value = f"profile:{name}"

    def new_profile(self) -> None:
        if self._ready_or_later(self.new_profile):
            self.query_one(ProfileList).open_form(None)

    @on(ProfileList.ConfigSaved)
    async def _config_saved(self, event: ProfileList.ConfigSaved) -> None:
        """A profile was added, edited or deleted: every part of the app now works from the new config."""
        app = self.comfyq
        app.config = event.config
        app.options.config = event.config
        for screen in app.screen_stack:
            set_config = getattr(screen, "set_config", None)
            if set_config is not None and screen is not self:
                set_config(event.config)
        if (detail := self._detail()) is not None:
            detail.set_config(event.config)
        self.query_one(StatusBar).set_profiles(list(event.config.profiles))
        self._reload_engine(event.config)

    @work(group="engine", exit_on_error=False)
    async def _reload_engine(self, config) -> None:  # type: ignore[no-untyped-def]
        await self.comfyq.engine.reload_config(config)

    def test_connection(self, name: str) -> None:
        self._test_connection(name)

    @on(ProfileList.TestRequested)
    def _test_requested(self, event: ProfileList.TestRequested) -> None:
        self._test_connection(event.name)

    @work(group="test-connection", exit_on_error=False)
    async def _test_connection(self, name: str) -> None:
        self.app.notify(f"testing {name}…", title="Test connection", timeout=2)
        ok, message = await self.comfyq.engine.test_connection(name)
        self.app.notify(message, title=f"{name}: {'OK' if ok else 'failed'}", severity="information" if ok else "error")
