"""The main screen: profiles | workflow editor on the left, jobs | detail on the right, status bar and keys below.

The screen wires widgets to the engine and the store; it holds no job logic of its own. It hears the app through
its signals (jobs, source states, the last error) and watches the app's config; the actions on jobs (submit,
resubmit, cancel) live in its base class (screens/job_actions.py), profile editing in screens/profile_editing.py.
Every action that talks to the network runs in a worker, and every failure goes to `app.report_error` (one place).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import Widget

from screens.footer_fit import FittedFooterScreen
from screens.job_actions import JobActionsScreen
from screens.job_detail import JobDetailScreen
from screens.open_workflow import WorkflowPathDialogs
from screens.profile_editing import ConfigChange, ProfileEditing
from screens.stats import StatsScreen, export_view
from tui.core.backends.base import SourceStatus
from tui.core.config import Config
from tui.core.jobs import ACTIVE_STATES, Job, JobState
from tui.core.presentation import failure_announcement
from tui.core.safe_text import visible
from tui.core.stats import ProfileFigures, Window, profile_figures
from tui.core.store import JobFilter
from tui.widgets.job_detail import JobDetail
from tui.widgets.key_footer import KeyFooter
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.job_table import JobTable
from tui.widgets.jobs_pane import JobsPane
from tui.widgets.profile_list import ProfileList
from tui.widgets.status_bar import StatusBar
from tui.widgets.workflow_editor import WorkflowEditor

if TYPE_CHECKING:
    from tui.app import LastError, LaunchOptions

HOUR_FIGURES_EVERY_SECONDS = 10.0  # the profiles' last-hour figures: the window slides
FAILURE_TOAST_WINDOW_SECONDS = 1.5  # failures ending within this of each other share one toast (the row shows at once)


def _breakpoint_classes(app: App[object]) -> list[str]:
    """The app's breakpoint classes (-narrow/-wide, -short/-tall) for the terminal's size now.

    Given at construction, so the first resize finds them already set: otherwise it restyles every widget once more
    just after they were all styled.
    """
    width, height = app.size
    classes = []
    for breakpoints, dimension in ((app.HORIZONTAL_BREAKPOINTS, width), (app.VERTICAL_BREAKPOINTS, height)):
        chosen = [name for threshold, name in sorted(breakpoints or []) if dimension >= threshold]
        if chosen:
            classes.append(chosen[-1])
    return classes


class MainScreen(WorkflowPathDialogs, FittedFooterScreen[None], JobActionsScreen):
    """Profiles, workflow editor, live job table and job detail — everything one key away.

    The editor's open / save-as requests (`WorkflowEditor.PathRequested`) are answered by `WorkflowPathDialogs`.
    """

    AUTO_FOCUS = "#jobs"
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, StatusBar"  # a zoomed pane keeps the status line and the keys
    # At 80 columns not every key fits the footer: help (it lists them all), then the keys that end or start work.
    FOOTER_FIRST = ("app.help", "main.cancel", "main.submit")

    BINDINGS = [
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
        Binding("i", "stats", "Stats", show=False, id="main.stats"),  # the footer is full: ?, palette
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False, id="main.sidebar"),
        Binding("escape", "escape", "Back", show=False, id="main.escape"),
    ]

    def __init__(self, options: LaunchOptions) -> None:
        super().__init__()
        self.add_class(*_breakpoint_classes(self.app), update=False)
        self.options = options
        self._announced: set[str] = set()
        self._failures_to_announce: list[Job] = []
        self._failure_toast_timer: Timer | None = None
        self._detail_follow_due = False
        self._cancel_offered: bool | None = None
        self._hour_figures_due = 0.0  # when the profiles pane's last-hour figures are recomputed next
        self.profile_editing = ProfileEditing(
            self.app, fallback_file=options.locations.config_file, changed=self._config_edited
        )

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            with Vertical(id="sidebar"):
                yield ProfileList(id="profiles")
                yield WorkflowEditor(self.options.workflow, self.options.workflow_path, id="editor")
            with Vertical(id="work"):
                yield JobsPane(self.comfyq.store, id="jobs-pane")
                yield JobDetail(self.comfyq.store, id="detail")
        yield StatusBar(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        app = self.comfyq
        app.jobs_signal.subscribe(self, self._jobs_changed)
        app.source_status_signal.subscribe(self, self._source_status_changed)
        app.last_error_signal.subscribe(self, self._show_last_error)
        self.watch(app, "config", self._config_changed, init=False)
        self.jobs_table.reload()
        self.query_one(StatusBar).set_profiles(list(app.config.profiles))
        self._refresh_counts(force=True)
        self.set_interval(1.0, self._tick)
        # What happened before the screen was there: sources' states, and the jobs already in flight per profile.
        profiles = self.query_one(ProfileList)
        for status in list(app.engine.source_statuses.values()):
            self._source_status_changed(status)
        for name in app.config.profiles:
            in_flight = app.store.ids(JobFilter(states=frozenset(ACTIVE_STATES), profile=name))
            if in_flight:
                profiles.set_in_flight(name, set(in_flight))
        self._hour_figures_due = time.monotonic() + HOUR_FIGURES_EVERY_SECONDS
        self._refresh_hour_figures()  # in a worker thread: the first frames never wait on it
        self.call_after_refresh(app.settle_after_start)  # after the first frame, not before it

    # --------------------------------------------------------- engine feed

    def _jobs_changed(self, jobs: list[Job]) -> None:
        """The latest version of every job that changed since the last time (the app's `jobs_signal`)."""
        table = self.jobs_table
        table.update_jobs(jobs)
        self.query_one(JobDetail).jobs_changed(jobs)
        self.query_one(ProfileList).jobs_changed(jobs)
        if any(job.state.is_terminal for job in jobs):
            self._hour_figures_due = min(self._hour_figures_due, time.monotonic() + 1.0)
            self._refresh_counts(force=True)  # an ended job (a cancel, a failure) moves the counts at once
        cursor = table.cursor_job_id
        if cursor is not None and any(job.id == cursor for job in jobs):
            self._refresh_bindings_if_changed()  # Cancel leaves the footer when the cursor job ends
        self._announce(jobs)
        self._refresh_counts()

    def _announce(self, jobs: list[Job]) -> None:
        """A toast when jobs fail (one for all that end within a moment of each other), and one when a batch
        submitted from this screen has ended."""
        for job in jobs:
            if job.state is JobState.FAILED and job.failure is not None and job.id not in self._announced:
                self._announced.add(job.id)
                self._failures_to_announce.append(job)
        if self._failures_to_announce and self._failure_toast_timer is None:
            self._failure_toast_timer = self.set_timer(FAILURE_TOAST_WINDOW_SECONDS, self._announce_failures)
        self.batches.jobs_changed(jobs, self.query_one(JobsPane).typed.batch)
        self._check_batches()

    def _announce_failures(self) -> None:
        """One toast for the failures collected: a lone one names its job and message; several are counted by
        their short reason (a toast each stacked over the jobs pane for their whole timeout)."""
        self._failure_toast_timer = None
        failures, self._failures_to_announce = self._failures_to_announce, []
        title, message = failure_announcement(failures)
        self.app.notify(message, title=title, severity="error")

    def _check_batches(self) -> None:
        finished = self.batches.finished()
        if finished is None:
            return
        for progress in finished:
            if progress.total > 1:  # a lone job's own row (and its failure toast) already says how it ended
                self.app.notify(
                    f"{progress.total} done · {progress.failed} failed", title=f"Batch finished: {visible(progress.name)}",
                    severity="warning" if progress.failed else "information",
                )
            # People leave long batches running in another window: a desktop notification too.
            self.comfyq.notify_terminal(
                f"comfyq: {progress.name}", f"{progress.total} done · ✔ {progress.succeeded} ✘ {progress.failed}"
            )
        self.show_batch_progress()

    def show_batch_progress(self) -> None:
        self.query_one(StatusBar).batch = self.batches.summary(self.query_one(JobsPane).typed.batch)

    def _source_status_changed(self, status: SourceStatus) -> None:
        self.query_one(ProfileList).update_status(status)
        self.query_one(StatusBar).update_status(status)

    def _show_last_error(self, error: LastError) -> None:
        self.query_one(StatusBar).show_error(error.message, error.profile)

    def _tick(self) -> None:
        if self.comfyq.closing:
            return  # shutdown() closed the store; the app exits in a moment
        self.jobs_table.tick()
        self.query_one(ProfileList).tick()
        if time.monotonic() >= self._hour_figures_due:
            # The window slides: recomputed every 10 s, and a second after a job finishes.
            self._hour_figures_due = time.monotonic() + HOUR_FIGURES_EVERY_SECONDS
            self._refresh_hour_figures()
        self._refresh_counts()
        self._check_batches()

    def _refresh_counts(self, force: bool = False) -> None:
        counts = self.query_one(JobsPane).refresh_counts(force=force)
        if counts is not None:
            status = self.query_one(StatusBar)
            status.failing = self.query_one(JobsPane).failing
            status.counts = counts

    @work(thread=True, exclusive=True, group="hour-figures", exit_on_error=False)
    def _refresh_hour_figures(self) -> None:
        try:
            figures = {f.profile: f for f in profile_figures(self.comfyq.store, Window.parse("1h"))}
        except Exception:
            if self.comfyq.closing:
                return  # the store was closed while quitting
            raise
        if not self.comfyq.closing:
            self.app.call_from_thread(self._show_hour_figures, figures)

    def _show_hour_figures(self, figures: dict[str, ProfileFigures]) -> None:
        self.query_one(ProfileList).set_hour_figures(figures)  # on the UI thread: the DOM is not the worker's

    # ------------------------------------------------------------- filters

    def action_quick_filter(self, key: str) -> None:
        self.query_one(JobsPane).choose(key)

    def action_filter(self) -> None:
        self.query_one(JobsPane).open_filter()

    @on(JobsPane.FilterChanged)
    def _filter_changed(self, event: JobsPane.FilterChanged) -> None:
        self.show_batch_progress()

    def action_escape(self) -> None:
        pane = self.query_one(JobsPane)
        if pane.filter_input.has_focus:
            pane.close_filter()
        elif self.maximized is not None:
            self.minimize()
        elif self.jobs_table.marked:
            self.jobs_table.clear_marks()

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
            self._show_cursor_job(self.jobs_table.cursor_job_id)

    def _refresh_bindings_if_changed(self) -> None:
        # The footer rebuilds all its keys on refresh_bindings(): only when Cancel comes or goes.
        offered = bool(self.check_action("cancel", ()))
        if offered != self._cancel_offered:
            self._cancel_offered = offered
            self.refresh_bindings()

    def _show_cursor_job(self, job_id: str | None) -> None:
        detail = self.query_one(JobDetail)
        if job_id is None:
            detail.show_job(None)
            return
        job = self.cursor_job()
        if job is None or job.id != job_id:
            job = self.comfyq.store.get(job_id)
        detail.show_job(job)

    @on(JobTable.Selected)
    def _open_detail(self, event: JobTable.Selected) -> None:
        self.open_detail(event.job_id)

    def open_detail(self, job_id: str) -> None:
        """The job full screen. Made once and kept (an installed screen): opening another job switches to it."""
        app = self.app
        if app.is_screen_installed("detail"):
            detail = app.get_screen("detail")
            if isinstance(detail, JobDetailScreen):
                detail.show(job_id)
        else:
            app.install_screen(JobDetailScreen(job_id), "detail")
        app.push_screen("detail")

    def open_cursor_detail(self) -> None:
        job_id = self.jobs_table.cursor_job_id
        if job_id is not None:
            self.open_detail(job_id)

    @on(JobTable.MarksChanged)
    def _marks_changed(self, event: JobTable.MarksChanged) -> None:
        self.query_one(StatusBar).marked = len(event.marked)
        self._refresh_bindings_if_changed()

    @on(JobDetail.Navigate)
    def _navigate(self, event: JobDetail.Navigate) -> None:
        if not self.jobs_table.move_cursor_to_job(event.job_id):
            self._show_cursor_job(event.job_id)

    # ------------------------------------------------- copy (the detail pane's actions, on the cursor's job)

    def _cursor_detail(self) -> JobDetail:
        """The detail pane, made to show the cursor's job now (it follows the cursor a frame late): `y`, `Y` and `c`
        are the pane's copy actions, whatever has the focus."""
        detail = self.query_one(JobDetail)
        job_id = self.jobs_table.cursor_job_id
        if (detail.job.id if detail.job is not None else None) != job_id:
            self._show_cursor_job(job_id)
        return detail

    def action_copy_oss_path(self) -> None:
        self._cursor_detail().action_copy_oss_path()

    def action_copy_all_oss_paths(self) -> None:
        self._cursor_detail().action_copy_all_oss_paths()

    def action_copy_ids(self) -> None:
        self._cursor_detail().action_copy_ids()

    # ------------------------------------------------------------- workflow

    def action_load_job_workflow(self) -> None:
        job = self.cursor_job()
        if job is None or job.workflow is None:
            self.app.notify("this job has no stored workflow (an external result)", severity="warning")
            return
        self.query_one(WorkflowEditor).load_job_workflow(job)

    def action_open_in_editor(self) -> None:
        self.query_one(WorkflowEditor).open_in_external_editor()

    def action_open_workflow(self) -> None:
        self.query_one(WorkflowEditor).action_open()

    def action_save_workflow(self) -> None:
        self.query_one(WorkflowEditor).action_save()

    def action_save_workflow_as(self) -> None:
        self.query_one(WorkflowEditor).action_save_as()

    def randomize_seeds(self) -> None:
        changed = self.query_one(WorkflowEditor).randomize_seeds()
        self.app.notify(f"{changed} seed{'s' if changed != 1 else ''} randomized", title="Workflow")

    def target_profiles(self) -> list[str]:
        profiles = self.query_one(ProfileList)
        return profiles.marked_profiles() or ([profiles.active_profile] if profiles.active_profile else [])

    def _update_target_label(self) -> None:
        targets = self.target_profiles()
        label = "→ (no profile)" if not targets else f"→ {targets[0]}" if len(targets) == 1 else f"→ {len(targets)} profiles"
        self.query_one(WorkflowEditor).set_target_label(label)
        self.query_one(ParametersForm).follow_checkpoints_of(targets[0] if targets else None)  # its ckpt choices

    # ---------------------------------------------------------------- layout

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        node = self.focused
        while isinstance(node, Widget):
            if node.id in ("profiles", "editor", "jobs-pane", "detail"):
                self.maximize(node)
                return
            node = node.parent

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display

    # ---------------------------------------------------- stats and export

    def stats_selection(self) -> JobFilter:
        """What `i` shows stats for: the job table's filter (its profile, batch and words; a state filter would
        hide the finished jobs stats are made of), else the active profile."""
        selection = replace(self.jobs_table.job_filter, states=None)
        active = self.query_one(ProfileList).active_profile
        if selection.is_empty and active:
            selection = JobFilter(profile=active)
        return selection

    def action_stats(self) -> None:
        self.app.push_screen(StatsScreen(self.stats_selection()))

    def export_view(self, fmt: str = "csv") -> None:
        """Every job of the table's current filter to a file (`comfyq export` with the same filter)."""
        self._export_view(self.jobs_table.job_filter, fmt)

    @work(thread=True, group="export", exit_on_error=False)
    def _export_view(self, flt: JobFilter, fmt: str) -> None:
        path, count = export_view(self.comfyq.store, flt, self.comfyq.config.profiles, fmt,
                                  fallback=self.options.locations.data_dir)
        self.app.call_from_thread(
            self.app.notify, f"{count:,} job{'s' if count != 1 else ''} → {path}", title="Exported this view"
        )

    # ------------------------------------------------------------- profiles

    @on(ProfileList.ActiveChanged)
    def _active_profile(self, event: ProfileList.ActiveChanged) -> None:
        self.query_one(StatusBar).active_profile = event.name
        self._update_target_label()

    @on(ProfileList.MarksChanged)
    def _profile_marks(self, event: ProfileList.MarksChanged) -> None:
        self._update_target_label()

    @on(ProfileList.OpenRequested)
    def _open_profile_form(self, event: ProfileList.OpenRequested) -> None:
        self.profile_editing.open_form(event.name)

    @on(ProfileList.DeleteRequested)
    def _delete_profile(self, event: ProfileList.DeleteRequested) -> None:
        self.profile_editing.delete(event.name, event.in_flight)

    def _config_edited(self, change: ConfigChange) -> None:
        """The form saved or a profile was deleted (the app has the new config already): keep the list's cursor,
        active profile and marks on a renamed profile, and put the cursor on the one saved."""
        profiles = self.query_one(ProfileList)
        renamed = (change.renamed_from, change.saved) if change.renamed_from and change.saved else None
        profiles.config_changed(renamed=renamed)
        if change.saved:
            profiles.highlight(change.saved)
        self._update_target_label()

    def _config_changed(self, config: Config) -> None:
        """The app's config changed (the profiles pane follows in `_config_edited`, which knows of renames)."""
        self.query_one(StatusBar).set_profiles(list(config.profiles))
        self.query_one(JobDetail).config_changed()

    def go_to_pane(self, pane_id: str) -> None:
        """Focus a pane by its id (the palette's "Go to …"): Tab walks every field of the form on its way. A pane
        of the hidden sidebar (ctrl+b) shows it again."""
        pane = self.query_one(f"#{pane_id}")
        sidebar = self.query_one("#sidebar")
        if sidebar in pane.ancestors and not sidebar.display:
            sidebar.display = True
        if pane_id == "jobs-pane":
            self.jobs_table.focus()
            return
        # The pane itself, else its first focusable part (the editor's tabs, the detail's scroll view).
        target = next((widget for widget in self.focus_chain if widget is pane or pane in widget.ancestors), None)
        if target is not None:
            self.call_after_refresh(target.focus)  # after a shown sidebar is laid out: focus needs a region

    def switch_profile(self, name: str) -> None:
        self.query_one(ProfileList).set_active(name)

    def filter_profile(self, name: str) -> None:
        self.query_one(JobsPane).open_filter(f"profile:{name}")

    def new_profile(self) -> None:
        self.profile_editing.open_form(None)

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

