"""The detail of one job: state timeline, ids, attempt chain, outputs with OSS paths, error, raw result, workflow.

Used twice: as the bottom-right pane of the main screen (follows the job table's cursor) and full screen
(screens/job_detail.py). `show_job` is called on every live update of the shown job, so each section keeps a
signature of what it shows and is only redrawn when that changes. The pane's first frame has only the sections its job
needs (with no job, one line: "no job selected"); the others are built hidden just after it, or at once when a job
needs one sooner. The big texts inside the collapsibles (raw result, workflow) are only rendered while open.

What each section says is built in detail_text.py; the words and the OSS paths come from tui/core/presentation.py.
(~700 lines: one widget whose twelve sections are built lazily and redrawn by signature — splitting it would spread
that bookkeeping over several classes.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.visual import visualize
from textual.widget import Widget
from textual.widgets import Collapsible, DataTable, OptionList, Static
from textual.widgets.option_list import Option

from tui.core.config import Config, Profile
from tui.core.jobs import Failure, Job, JobState, Output
from tui.core.presentation import (
    OutputLocation,
    copyable_paths,
    job_ids_line,
    no_path_reason,
    oss_paths,
)
from tui.core.safe_text import visible
from tui.core.store import JobNotFound, JobStore
from tui.widgets.detail_text import (
    attempt_line,
    code_text,
    failure_text,
    header_text,
    ids_rows,
    pretty_text,
    timeline_text,
)

if TYPE_CHECKING:
    from tui.app import ComfyqApp
    from tui.widgets.output_preview import OutputPreview

# The outputs table wraps an OSS path over several lines rather than cut it below this many cells for the path.
MIN_WRAPPED_PATH_CELLS = 24


def update_in_place(static: Static, content: Text | Table | str) -> None:
    """`static.update(content)`, without the screen-wide layout pass when the new text keeps the same height.

    The header and timeline of an active job change with every progress event; their height almost never does.
    """
    width = static.content_size.width
    if not static.is_mounted or width <= 0 or not static.display:
        static.update(content)
        return
    height = visualize(static, content, markup=False).get_height(static.styles, width)
    static.update(content, layout=height != static.content_size.height)


class JobDetail(VerticalScroll):
    """Everything comfyq knows about one job; `y` / `Y` copy OSS paths, `c` the ids, `[` / `]` walk the attempts."""

    BORDER_TITLE = "Detail"
    ALLOW_MAXIMIZE = True  # the pane zooms (z) like the others; scroll containers refuse by default

    DEFAULT_CSS = """
    JobDetail {
        height: 1fr;
    }
    JobDetail > .detail-line {
        width: 1fr;
        height: auto;
    }
    JobDetail > #detail-header {
        text-style: bold;
    }
    JobDetail > .detail-heading {
        margin-top: 1;
        color: $text-muted;
        text-style: bold;
    }
    JobDetail > #detail-warning {
        color: $warning;
    }
    JobDetail > #detail-error {
        height: auto;
        margin-top: 1;
        border-left: thick $error;
        padding-left: 1;
    }
    JobDetail > #detail-error > #detail-error-text {
        height: auto;
    }
    JobDetail #detail-outputs {
        height: auto;
        max-height: 14;
    }
    JobDetail #detail-chain {
        height: auto;
        max-height: 8;
        border: none;
        padding: 0;
        background: $surface;
    }
    JobDetail #detail-chain:focus {
        border: none;
    }
    JobDetail Collapsible {
        border-top: none;
        padding: 0;
        margin-top: 1;
        background: transparent;
    }
    JobDetail Collapsible > Contents {
        padding: 0 0 0 2;
        height: auto;
    }
    JobDetail Collapsible Static {
        height: auto;
    }
    """

    BINDINGS = [
        Binding("y", "copy_oss_path", "Copy OSS path", id="detail.copy_oss"),
        Binding("Y", "copy_all_oss_paths", "Copy all OSS paths", id="detail.copy_all_oss"),
        Binding("c", "copy_ids", "Copy ids", id="detail.copy_ids"),
        Binding("left_square_bracket", "attempt(-1)", "Prev attempt", key_display="[", id="detail.previous_attempt"),
        Binding("right_square_bracket", "attempt(1)", "Next attempt", key_display="]", id="detail.next_attempt"),
        # Not in the key bar (it is full: esc/help would drop off); the outputs heading and the preview name them.
        Binding("p", "toggle_preview", "Preview", show=False, id="detail.preview"),
        Binding("o", "open_output", "Open output", show=False, id="detail.open_output"),
        Binding("d", "download_output", "Download output", show=False, id="detail.download_output"),
    ]

    class Navigate(Message):
        """The user picked another attempt of the chain: show that job."""

        def __init__(self, job_id: str) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(
        self, store: JobStore, *, id: str | None = None, classes: str | None = None, opened: bool = False
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.store = store
        # Full screen (the user opened the job): its outputs are previewed at once. The pane only follows the table's
        # cursor, so it fetches nothing until `p` asks for this job's preview.
        self.opened = opened
        self._preview_for: str | None = None  # the job whose preview is on
        self._locations: list[OutputLocation] = []  # each outputs-table row's output and OSS path, in row order
        self.job: Job | None = None
        self._ready = False
        self._signatures: dict[str, Hashable] = {}
        self._chain: list[Job] = []
        self._chain_key: tuple[str, JobState] | None = None
        self._layout: tuple[bool, int | None] = (False, None)  # the outputs table's (compact, path cells)
        self._sections: dict[str, Widget] = {}  # built so far (see `_section`), by name
        self._texts: dict[str, Static] = {}  # the Statics inside the error block and the collapsibles, by name
        self._painted = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        # Only the header: every other section is built the first time a job needs it (see `_section`).
        yield Static(id="detail-header", classes="detail-line")

    def _section(self, name: str) -> Widget:
        """The section `name` (one of `_ORDER`), built and mounted in its place the first time it is asked for.

        Most jobs shown never need a traceback, a second attempt or a raw result; with no job (the pane at startup)
        nothing but the header is needed. Composing every section up front, hidden, was most of the pane's cost.
        """
        widget = self._sections.get(name)
        if widget is not None:
            return widget
        widget = self._build(name)
        self._sections[name] = widget
        later = (self._sections[other] for other in _ORDER[_ORDER.index(name) + 1 :] if other in self._sections)
        following = next(later, None)
        if following is not None:
            self.mount(widget, before=following)
        else:
            self.mount(widget)
        return widget

    def _build(self, name: str) -> Widget:
        if name in ("timeline", "warning", "ids"):
            return Static(id=f"detail-{name}", classes="detail-line")
        if name in ("outputs-heading", "chain-heading", "ids-heading"):
            title = {"outputs-heading": "Outputs", "chain-heading": "Attempts", "ids-heading": "Ids"}[name]
            return Static(title, id=f"detail-{name}", classes="detail-line detail-heading")
        if name == "error":
            # The text and the traceback are given to the container as it is built: a widget that is not mounted
            # yet cannot take children, and the first failure shown may have a traceback at once.
            self._texts["error"] = Static(id="detail-error-text")
            self._texts["traceback"] = Static(id="detail-traceback-text")
            traceback = Collapsible(self._texts["traceback"], title="Traceback", id="detail-traceback")
            traceback.display = False
            self._sections["traceback"] = traceback
            return Vertical(self._texts["error"], traceback, id="detail-error")
        if name == "outputs":
            return DataTable(id="detail-outputs", cursor_type="row", zebra_stripes=True)
        if name == "chain":
            return OptionList(id="detail-chain")
        if name == "preview":
            from tui.widgets.output_preview import OutputPreview  # fetch/httpx only once a preview is built

            data_dir = self._data_dir()
            assert data_dir is not None
            preview = OutputPreview(data_dir, id="detail-preview")
            preview.display = False
            return preview
        title = {"raw": "Raw result", "workflow": "Submitted workflow"}[name]
        self._texts[name] = Static(id=f"detail-{name}-text")
        return Collapsible(self._texts[name], title=title, id=f"detail-{name}")

    def _traceback(self) -> Collapsible:
        """The traceback collapsible inside the error block (built with it)."""
        self._section("error")
        traceback = self._sections["traceback"]
        assert isinstance(traceback, Collapsible)
        return traceback

    def _static(self, name: str) -> Static:
        """The one-Static section `name` (timeline, ids, warning)."""
        static = self._section(name)
        assert isinstance(static, Static)
        return static

    def _hide(self, *names: str) -> None:
        for name in names:
            if (widget := self._sections.get(name)) is not None:
                widget.display = False

    def on_mount(self) -> None:
        self._ready = True
        self._render_all()
        # Durations of an active job move on without any event.
        self.set_interval(1.0, self._tick)

    def render_lines(self, crop: Region) -> list[Strip]:
        # The compositor is painting the pane: build the other sections once this frame is out. (Not
        # `call_after_refresh`: inside `App.batch_update` it runs before any frame.)
        if not self._painted:
            self._painted = True
            self.call_later(self._build_remaining_sections)
        return super().render_lines(crop)

    def _build_remaining_sections(self) -> None:
        """Build (hidden) the sections no job has needed yet, once the pane is on screen.

        The pane's first frame does not wait for them; after it, a section a job needs is already there, so it shows
        in the same frame as the job's row in the table (building it then would cost the first failure, the first
        outputs... a frame of their own).
        """
        if not self.is_attached or self._closing or self._pruning:  # closed before its frame was out (enter, esc)
            return
        for name in _ORDER:
            if name not in self._sections and name != "preview":  # built when a preview is first asked for
                self._section(name).display = False
        if "traceback" not in self._sections:
            self._traceback().display = False

    def on_resize(self) -> None:
        # The outputs table drops its subfolder / filename columns when the OSS paths would not fit beside them;
        # attempt lines are cut to the width.
        if self._ready and self.job is not None:
            self._render_all()

    # -------------------------------------------------------------- public API

    def show_job(self, job: Job | None) -> None:
        """Show `job` (None: nothing selected). Cheap when called again for the same job: only what changed moves."""
        switched = (job.id if job else None) != (self.job.id if self.job else None)
        self.job = job
        if switched and self.opened and job is not None:
            self._preview_for = job.id
        if not self._ready:
            return
        self._render_all()
        if switched:
            self.scroll_home(animate=False)

    def jobs_changed(self, jobs: Sequence[Job]) -> None:
        """Live feed: follow the shown job, and redraw the attempts when one of its chain changed or was added."""
        if self.job is None:
            return
        chain_ids = {attempt.id for attempt in self._chain} or {self.job.id}
        shown_changed = touches_chain = False
        for job in jobs:
            if job.id == self.job.id:
                self.job = job
                shown_changed = True
            if job.id in chain_ids or (job.parent_id is not None and job.parent_id in chain_ids):
                touches_chain = True
        if touches_chain:
            self._chain_key = None
        if self._ready and (shown_changed or touches_chain):  # most batches are about other jobs: nothing to do
            self._render_all()

    @property
    def config(self) -> Config:
        """The app's config (held once, by the app)."""
        return cast("ComfyqApp", self.app).config

    def config_changed(self) -> None:
        """The app's config changed (a profile's OSS bucket path may have)."""
        if self._ready:
            self._render_all()

    def selected_oss_path(self) -> str | None:
        location = self._selected_location()
        return location.path if location is not None else None

    def all_oss_paths(self) -> list[str]:
        return copyable_paths(self._locations)

    def copy_selected_oss_path(self) -> bool:
        """Copy the OSS path of the output under the outputs cursor; False when it has none (nothing copied)."""
        path = self.selected_oss_path()
        if path is None:
            return False
        self._copy(path, "OSS path", path)
        return True

    # ------------------------------------------------------------------ actions
    # The one copy action of the app: the main screen's `y` / `Y` / `c` call these on the pane (which shows the
    # cursor's job), the detail screen gets them through its JobDetail.

    def action_copy_oss_path(self) -> None:
        if self.copy_selected_oss_path():
            return
        reason = no_path_reason(self.job, self._profile(), selected=True)
        self.app.notify(reason, title="Nothing copied", severity="warning")

    def action_copy_all_oss_paths(self) -> None:
        paths = self.all_oss_paths()
        if not paths:
            reason = no_path_reason(self.job, self._profile(), selected=False)
            self.app.notify(reason, title="Nothing copied", severity="warning")
            return
        preview = paths[0] if len(paths) == 1 else f"{len(paths)} paths, one per line"
        self._copy("\n".join(paths), "OSS paths", preview)

    def action_copy_ids(self) -> None:
        if self.job is None:
            return
        line = job_ids_line(self.job)
        self._copy(line, "ids", line)

    def action_attempt(self, step: int) -> None:
        if self.job is None or len(self._chain) < 2:
            return
        ids = [attempt.id for attempt in self._chain]
        if self.job.id not in ids:
            return
        index = ids.index(self.job.id) + step
        if 0 <= index < len(ids):
            self.post_message(self.Navigate(ids[index]))

    def action_toggle_preview(self) -> None:
        if self.job is None:
            return
        self._preview_for = None if self._preview_for == self.job.id else self.job.id
        self._update_preview()

    def _selected_location(self) -> OutputLocation | None:
        table = self._sections.get("outputs")
        if not isinstance(table, DataTable) or not self._locations:
            return None
        return self._locations[min(max(table.cursor_row, 0), len(self._locations) - 1)]

    def selected_output(self) -> Output | None:
        location = self._selected_location()
        return location.output if location is not None else None

    def _preview_widget(self) -> OutputPreview:
        return cast("OutputPreview", self._section("preview"))  # the class is imported when the section is built

    def action_open_output(self) -> None:
        output = self.selected_output()
        if self._data_dir() is None:
            return
        if self.job is None or output is None:
            self.app.notify("this job has no outputs", severity="warning")
            return
        self._preview_widget().open_in_viewer(self.job, output)

    def action_download_output(self) -> None:
        output = self.selected_output()
        if self._data_dir() is None:
            return
        if self.job is None or output is None:
            self.app.notify("this job has no outputs", severity="warning")
            return
        directory = Path(self.config.defaults.download_dir or ".").expanduser()
        self._preview_widget().save_to(self.job, output, directory)

    def _data_dir(self) -> Path | None:
        """Where the preview cache lives: the app's data dir (None in an app without one: no previews there)."""
        options = getattr(self.app, "options", None)
        locations = getattr(options, "locations", None)
        return getattr(locations, "data_dir", None)

    def _update_preview(self) -> None:
        """Preview the output under the outputs cursor, only for the job whose preview is on (opened, or `p`)."""
        if self._data_dir() is None:
            return
        job = self.job
        active = job is not None and self._preview_for == job.id and bool(self._locations)
        if not active and "preview" not in self._sections:
            return
        self._preview_widget().show(job if active else None, self.selected_output() if active else None)

    @on(DataTable.RowHighlighted, "#detail-outputs")
    def _output_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._update_preview()

    def _copy(self, text: str, what: str, preview: str) -> None:
        self.app.copy_to_clipboard(text)
        self.app.notify(preview, title=f"Copied {what}")

    def _profile(self) -> Profile | None:
        """The shown job's profile (None: no job, or a profile no longer configured)."""
        return self.config.profiles.get(self.job.profile) if self.job is not None else None

    @on(OptionList.OptionSelected, "#detail-chain")
    def _attempt_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        job_id = event.option.id
        if job_id and (self.job is None or job_id != self.job.id):
            self.post_message(self.Navigate(job_id))

    @on(Collapsible.Expanded)
    def _expanded(self, event: Collapsible.Expanded) -> None:
        # The big texts are rendered when first opened (and kept current while open).
        if event.collapsible.id in ("detail-raw", "detail-workflow"):
            self._signatures.pop(event.collapsible.id, None)
            self._render_all()

    def _tick(self) -> None:
        if self.job is not None and self.job.state.is_active and self._ready:
            self._render_header_and_timeline(self.job)

    # ---------------------------------------------------------------- drawing

    def _changed(self, key: str, signature: Hashable) -> bool:
        if self._signatures.get(key, _MISSING) == signature:
            return False
        self._signatures[key] = signature
        return True

    def _render_all(self) -> None:
        job = self.job
        for state in JobState:
            self.set_class(job is not None and job.state is state, f"-{state.value}")
        if job is None:
            if self._changed("empty", True):
                self._signatures = {"empty": True}
                self.query_one("#detail-header", Static).update(Text("no job selected", style="dim"))
                self._hide(*_ORDER)
                self._locations = []
                self._chain = []
                self._chain_key = None
            return
        self._signatures.pop("empty", None)
        for name in ("timeline", "ids-heading", "ids"):
            self._section(name).display = True
        self._refresh_chain(job)
        self._render_header_and_timeline(job)
        self._render_ids(job)
        self._render_warning(job)
        self._render_failure(job.failure)
        self._render_outputs(job)
        self._update_preview()
        self._render_chain(job)
        self._render_raw(job)
        self._render_workflow(job)

    def _refresh_chain(self, job: Job) -> None:
        key = (job.id, job.state)
        if key == self._chain_key:
            return
        self._chain_key = key
        try:
            self._chain = self.store.chain(job.id)
        except JobNotFound:
            self._chain = [job]

    def _render_header_and_timeline(self, job: Job) -> None:
        now = time.time()
        active_second = int(now) if job.state.is_active else None
        position = next((n for n, attempt in enumerate(self._chain, 1) if attempt.id == job.id), None)
        header_key = (job.id, job.state, job.profile, job.edition, job.attempt, job.external, position,
                      len(self._chain), job.queue_position, job.progress, active_second)
        if self._changed("header", header_key):
            header = header_text(job, position, len(self._chain), now)
            update_in_place(self.query_one("#detail-header", Static), header)
        timeline_key = (job.id, tuple(job.timestamps.items()), job.state, active_second)
        if self._changed("timeline", timeline_key):
            update_in_place(self._static("timeline"), timeline_text(job, now))

    def _render_ids(self, job: Job) -> None:
        key = (job.id, job.task_id, job.prompt_id, job.client_id, job.queue_index, job.request_id, job.sink_index,
               job.parent_id, job.batch, tuple(job.params.items()))
        if not self._changed("ids", key):
            return
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in ids_rows(job):
            grid.add_row(label, value)
        update_in_place(self._static("ids"), grid)

    def _render_warning(self, job: Job) -> None:
        if not self._changed("warning", job.warning):
            return
        if not job.warning:
            self._hide("warning")
            return
        warning = self._section("warning")
        assert isinstance(warning, Static)
        warning.display = True
        warning.update(Text(visible(f"⚠ {job.warning}", keep_newlines=True)))

    def _render_failure(self, failure: Failure | None) -> None:
        if not self._changed("failure", failure):
            return
        if failure is None:
            self._hide("error")
            return
        self._section("error").display = True
        self._texts["error"].update(failure_text(failure))
        if not failure.traceback:
            self._hide("traceback")
            return
        traceback = self._traceback()
        traceback.display = True
        lines = "".join(line if line.endswith("\n") else line + "\n" for line in failure.traceback)
        traceback.title = f"Traceback ({len(failure.traceback)} frames)"
        self._texts["traceback"].update(Text(visible(lines.rstrip("\n"), keep_newlines=True)))

    def _outputs_layout(self, locations: Sequence[OutputLocation]) -> tuple[bool, int | None]:
        """(compact, path cells) for the outputs table. Compact drops the subfolder and filename columns when the OSS
        paths would not fit beside them; a path longer than what is left even then is wrapped over several lines in a
        column of `path cells` (None: every path fits on its line)."""
        if not locations:
            return False, None
        widths = [len("node"), len("type"), len("subfolder"), len("filename")]
        for location in locations:
            output = location.output
            kind = f"{output.type} {output.size}" if output.size else output.type
            for column, value in enumerate((output.node_id, kind, output.subfolder, output.filename)):
                widths[column] = max(widths[column], len(visible(value)))
        full = max(len("OSS path"), *(len(visible(location.shown)) for location in locations))
        room = self.scrollable_content_region.width - 2  # room for a scrollbar
        # Each column has one cell of padding on either side.
        if sum(widths) + 2 * len(widths) + full + 2 <= room:
            return False, None
        paths = max(len("OSS path (or file)"), *(len(visible(self._path_cell(location, True))) for location in locations))
        left = room - (widths[0] + widths[1] + 4) - 2
        return True, (max(MIN_WRAPPED_PATH_CELLS, left) if paths > left else None)

    @staticmethod
    def _path_cell(location: OutputLocation, compact: bool) -> str:
        if compact and location.path is None:
            return f"{location.output.filename}  {location.note}"  # compact: the file is named where its path would be
        return location.shown

    def _render_outputs(self, job: Job) -> None:
        profile = self._profile()
        # Files with an OSS path first: they are what `y` is for; temp previews after them.
        locations = sorted(oss_paths(job, profile), key=lambda location: location.path is None)
        compact, wrap = self._outputs_layout(locations)
        if not self._changed("outputs", (job.outputs, profile.oss_bucket_path if profile else None, compact, wrap)):
            return
        self._locations = locations
        if not job.outputs:
            if isinstance(table := self._sections.get("outputs"), DataTable):
                table.clear()
            self._hide("outputs-heading", "outputs")
            return
        heading = self._section("outputs-heading")
        table = self._section("outputs")
        assert isinstance(heading, Static) and isinstance(table, DataTable)
        table.display = heading.display = True
        cursor = table.cursor_row
        if (compact, wrap) != self._layout or not table.columns:
            table.clear(columns=True)
            self._layout = (compact, wrap)
            table.add_column("node", key="node")
            table.add_column("type", key="type")
            if not compact:
                table.add_column("subfolder", key="subfolder")
                table.add_column("filename", key="filename")
            table.add_column("OSS path" if not compact else "OSS path (or file)", key="oss", width=wrap)
        else:
            table.clear()
        for location in locations:
            output = location.output
            # Names as the service sent them, shown with control characters escaped (`y` copies the real path); the
            # pixel size beside the type, when the server says it (newer ComfyUI): "output 512×768".
            kind = f"{output.type} {output.size}" if output.size else output.type
            cells: list[Text] = [
                Text(visible(output.node_id)), Text(visible(kind), style="dim" if output.type == "temp" else "")
            ]
            if not compact:
                cells += [Text(visible(output.subfolder)), Text(visible(output.filename))]
            # A long path folds onto the next lines of its row instead of being cut (copying gives it whole anyway).
            cells.append(Text(visible(self._path_cell(location, compact)), style="green" if location.path else "dim",
                              overflow="fold"))
            table.add_row(*cells, height=None if wrap else 1)
        paths = len(self.all_oss_paths())
        keys = "  y copy · Y copy all" + (" · p preview · o open · d download" if self.opened else "")
        heading.update(f"Outputs ({len(job.outputs)}, {paths} with an OSS path){keys}")
        table.move_cursor(row=min(max(cursor, 0), len(job.outputs) - 1), animate=False)

    def _render_chain(self, job: Job) -> None:
        width = self.scrollable_content_region.width
        key = (job.id, width, tuple((a.id, a.state, a.failure.message if a.failure else None) for a in self._chain))
        if not self._changed("chain", key):
            return
        if len(self._chain) < 2:
            if isinstance(chain := self._sections.get("chain"), OptionList):
                chain.clear_options()
            self._hide("chain-heading", "chain")
            return
        heading = self._section("chain-heading")
        chain = self._section("chain")
        assert isinstance(heading, Static) and isinstance(chain, OptionList)
        chain.display = heading.display = True
        options = []
        highlighted = 0
        for number, attempt in enumerate(self._chain, 1):
            current = attempt.id == job.id
            line = attempt_line(number, attempt, current, width)
            if current:
                highlighted = number - 1
            options.append(Option(line, id=attempt.id))
        heading.update(f"Attempts ({len(self._chain)})  [ ] or enter to open")
        chain.clear_options()
        chain.add_options(options)
        chain.highlighted = highlighted

    def _render_raw(self, job: Job) -> None:
        if job.raw_result is None:
            self._hide("raw")
            self._signatures.pop("detail-raw", None)
            return
        raw = self._section("raw")
        assert isinstance(raw, Collapsible)
        raw.display = True
        if raw.collapsed:
            raw.title = f"Raw result ({len(job.raw_result):,} characters)"
            self._signatures.pop("detail-raw", None)
            return
        if not self._changed("detail-raw", (job.id, job.raw_result)):
            return
        text, is_json = pretty_text(job.raw_result)
        raw.title = f"Raw result ({'JSON' if is_json else 'text'}, {len(job.raw_result):,} characters)"
        self._texts["raw"].update(code_text(text, is_json))

    def _render_workflow(self, job: Job) -> None:
        if job.workflow is None:
            self._hide("workflow")
            self._signatures.pop("detail-workflow", None)
            return
        collapsible = self._section("workflow")
        assert isinstance(collapsible, Collapsible)
        collapsible.display = True
        if collapsible.collapsed:
            self._signatures.pop("detail-workflow", None)
            count = len(job.workflow)
            collapsible.title = f"Submitted workflow ({count} node{'s' if count != 1 else ''})"
            return
        if not self._changed("detail-workflow", job.id):
            return
        text = json.dumps(job.workflow, indent=2, ensure_ascii=False)
        self._texts["workflow"].update(code_text(text, True))


_MISSING = object()

# The sections under the header, top to bottom (most useful first: the pane is ~11 lines high). Hidden while no job
# is selected; each is built the first time a job needs it (`JobDetail._section`). The traceback lives in "error".
_ORDER = (
    "timeline",
    "error",
    "warning",
    "outputs-heading",
    "outputs",
    "preview",
    "chain-heading",
    "chain",
    "ids-heading",
    "ids",
    "raw",
    "workflow",
)
