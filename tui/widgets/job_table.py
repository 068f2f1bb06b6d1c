"""The live job table: a virtual table on Textual's Line API (design.md §2 rule 8).

Why not DataTable: it re-renders the whole table on any cell update (≈ 50 ms a frame at 10k rows, ≈ 14 s to load
100k). Here only visible rows are rendered, rows are fetched from the store page by page, and a job change repaints
just its line when it is on screen. Sorting and filtering rebuild an index (a list of job ids) from one store query.

The words in the cells are tui/core/presentation.py's (the CLI prints the same). (~650 lines: the row index, live
updates, column layout, rendering and cursor of one virtual widget, which share its state.)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.batch import job_seed
from tui.core.jobs import Job, JobState
from tui.core.presentation import (
    STATE_STYLES,
    detail_text,
    format_duration,
    remote_id,
    retried_text,
    short_id,
    state_word,
    submitted_text,
)
from tui.core.safe_text import visible
from tui.core.store import JobFilter, JobStore
from tui.widgets.ordered_keys import KeysFollowFocus, OrderedKeys


@dataclass(frozen=True)
class Column:
    key: str  # sort key understood by JobStore.ids(order=...)
    title: str
    width: int  # cells; 0 = the detail column, which takes what the others leave
    priority: int  # narrow panes drop the highest numbers first
    sortable: bool = True
    # Shown only while the detail column keeps at least this much beside it: ids and seeds are worth less than
    # the reason a job failed.
    needs_rest: int = 0


COLUMNS: tuple[Column, ...] = (
    Column("state", "state", 11, 0),
    Column("id", "id", 8, 1, sortable=False),
    Column("profile", "profile", 7, 4),  # grows with the names on screen, up to _PROFILE_CELLS
    Column("remote", "task / prompt id", 16, 8, sortable=False, needs_rest=40),
    Column("submitted", "submitted", 11, 3),
    Column("duration", "took", 6, 5),
    Column("outputs", "out", 3, 6),  # when it is dropped, the detail column says "1 output"
    # The seed (copies differ by it): shown once the table has room, e.g. at 120 columns with the sidebar hidden.
    Column("seed", "seed", 16, 7, sortable=False, needs_rest=40),
    # Progress while a job is active; why it ended badly (`OOM · KSampler — CUDA out of…`) once it has.
    Column("detail", "detail", 0, 2, sortable=False),
)
SORTABLE_KEYS = tuple(c.key for c in COLUMNS if c.sortable)
# The detail column keeps at least this much (`rejected · ckpt_name`) before other columns are dropped.
_MIN_REST = 20
_PROFILE_CELLS = 16  # the profile column grows to the longest name on screen, up to this
_DETAIL = len(COLUMNS) - 1
_OUTPUTS = next(index for index, column in enumerate(COLUMNS) if column.key == "outputs")

_MARK_WIDTH = 2
_ROW_CACHE_SIZE = 4096  # jobs kept in memory; everything else stays in the store


@dataclass(frozen=True)
class _LineStyles:
    """The rich styles of one kind of row (the cursor row or any other), worked out once per style change."""

    base: Style
    dim: Style
    mark: Style
    error: Style
    states: dict[JobState, Style]


_RowStyles = dict[bool, _LineStyles]  # is the cursor row -> its styles


def _seed_text(job: Job) -> str:
    seed = job_seed(job.params)  # params only: a row never parses the job's workflow
    return "" if seed is None else str(seed)


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    text = visible(text)  # every cell may hold outside text (names, errors): never raw into the terminal
    if len(text) <= width:
        return text.ljust(width)
    return text[: max(0, width - 1)] + "…"


class JobTable(KeysFollowFocus, ScrollView, OrderedKeys, can_focus=True):
    """Every job in the store that matches the filter, newest first by default."""

    DEFAULT_CSS = """
    JobTable {
        height: 1fr;
        background: $surface;
        /* Columns are fitted to the width: nothing to scroll sideways, so no horizontal bar over the last row. */
        overflow-x: hidden;
    }
    JobTable > .job-table--header {
        text-style: bold;
        background: $panel;
        color: $text;
    }
    JobTable > .job-table--cursor {
        background: $accent 40%;
    }
    JobTable:focus > .job-table--cursor {
        background: $accent;
        color: $text;
    }
    JobTable > .job-table--mark {
        color: $warning;
        text-style: bold;
    }
    JobTable > .job-table--dim {
        color: $text-muted;
    }
    """

    COMPONENT_CLASSES = {
        "job-table--header",
        "job-table--cursor",
        "job-table--mark",
        "job-table--dim",
    }

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="jobs.cursor_up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="jobs.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="jobs.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="jobs.page_down"),
        Binding("home,g", "first", "First", show=False, id="jobs.first"),
        Binding("end,G", "last", "Last", show=False, id="jobs.last"),
        Binding("space", "toggle_mark", "Mark", id="jobs.mark"),
        Binding("enter", "select", "Detail", id="jobs.detail"),
        Binding("s", "cycle_sort", "Sort", show=False, id="jobs.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="jobs.reverse_sort"),
    ]

    class Highlighted(Message):
        """The cursor moved to another job (or to none)."""

        def __init__(self, table: JobTable, job_id: str | None) -> None:
            super().__init__()
            self.table = table
            self.job_id = job_id

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, JobTable.Highlighted)

    class Selected(Message):
        """Enter on a job: open its detail."""

        def __init__(self, table: JobTable, job_id: str) -> None:
            super().__init__()
            self.table = table
            self.job_id = job_id

    class MarksChanged(Message):
        def __init__(self, table: JobTable, marked: frozenset[str]) -> None:
            super().__init__()
            self.table = table
            self.marked = marked

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, JobTable.MarksChanged)

    cursor_row: reactive[int] = reactive(0, always_update=True)

    def __init__(
        self,
        store: JobStore,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.store = store
        self.job_filter = JobFilter()
        self.sort_key = "submitted"
        self.sort_descending = True
        self._rows: list[str] = []
        self._members: set[str] = set()
        self._cache: OrderedDict[str, Job] = OrderedDict()
        # Finished jobs on screen that were resubmitted -> their latest attempt (the row says how it ended).
        # Looked up for the visible rows when first drawn; forgotten whenever any later attempt changes.
        self._latest: dict[str, Job] = {}
        self._latest_checked: set[str] = set()
        self._marked: set[str] = set()
        self._cursor_job: str | None = None
        self._needs_resort = False
        self._now = time.time()
        self._columns_cache: tuple[tuple[int, int], list[int]] | None = None
        self._profile_cells = 0  # the longest profile name drawn since the last reload
        self._row_styles: _RowStyles | None = None

    # ------------------------------------------------------------------ data

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_job_id(self) -> str | None:
        return self._cursor_job

    @property
    def marked(self) -> frozenset[str]:
        return frozenset(self._marked)

    @property
    def row_ids(self) -> Sequence[str]:
        return self._rows

    def targets(self) -> list[str]:
        """The jobs a bulk action applies to: the marked rows, else the cursor row."""
        if self._marked:
            return [job_id for job_id in self._rows if job_id in self._marked] + [
                job_id for job_id in self._marked if job_id not in self._members
            ]
        return [self._cursor_job] if self._cursor_job else []

    def clear_marks(self) -> None:
        if self._marked:
            self._marked.clear()
            self.refresh()
            self.post_message(self.MarksChanged(self, frozenset()))

    def reload(self) -> None:
        """Rebuild the row index from the store (filter or sort changed, or a bulk import)."""
        self._rows = self.store.ids(self.job_filter, order=self.sort_key, descending=self.sort_descending)
        self._members = set(self._rows)
        self._needs_resort = False
        self._cache.clear()
        self._profile_cells = 0
        self._forget_latest()
        self._sync_virtual_size()
        self._restore_cursor()
        self.refresh()

    def set_filter(self, job_filter: JobFilter) -> None:
        self.job_filter = job_filter
        self.reload()

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        if key not in SORTABLE_KEYS:
            raise ValueError(f"cannot sort by {key!r}")
        if descending is None:
            descending = not self.sort_descending if key == self.sort_key else key in ("submitted", "duration")
        self.sort_key = key
        self.sort_descending = descending
        self.reload()

    def update_jobs(self, jobs: Iterable[Job]) -> None:
        """Apply live changes: repaint visible lines, add new matching jobs, drop ones that stopped matching."""
        structural = False
        first_visible, last_visible = self._visible_range()
        visible_ids = set(self._rows[first_visible:last_visible])
        dirty_lines: list[str] = []  # ids of changed jobs on screen
        jobs = list(jobs)
        if any(job.parent_id is not None for job in jobs):
            # A later attempt changed: the rows it retries must look their outcome up again.
            structural |= self._forget_retried(jobs, visible_ids)
        replaced: set[str] = set()
        if self.job_filter.latest_only:
            # `matches` cannot tell whether a job was resubmitted; the store can, for the few that would join.
            joining = [job.id for job in jobs if job.id not in self._members and self.job_filter.matches(job)]
            replaced = set(self.store.latest_attempts(joining)) if joining else set()
        for job in jobs:
            matches = self.job_filter.matches(job)
            if job.id in self._members:
                if not matches:
                    self._remove_row(job.id)
                    structural = True
                    continue
                if job.id in self._cache:
                    self._cache[job.id] = job
                if job.id in visible_ids:
                    dirty_lines.append(job.id)
                if self.sort_key in ("state", "duration", "outputs"):
                    self._needs_resort = True
            elif matches and job.id not in replaced:
                self._insert_row(job)
                structural = True
        if self._needs_resort and self.sort_key != "submitted":
            # Order by a changing column: one index rebuild per batch, not per event.
            self._needs_resort = False
            self._rows = self.store.ids(self.job_filter, order=self.sort_key, descending=self.sort_descending)
            self._members = set(self._rows)
            structural = True
        if structural:
            self._sync_virtual_size()
            self._restore_cursor()
            self.refresh()
            return
        for job_id in dirty_lines:
            row = self._row_of_visible(job_id, first_visible, last_visible)
            if row is not None:
                self.refresh_line(row)

    def _forget_retried(self, jobs: list[Job], visible_ids: set[str]) -> bool:
        """A later attempt changed: visible retried rows look their outcome up again when redrawn, and in a
        latest-only view (Failed) a job whose resubmission just appeared leaves. True when rows were removed."""
        removed = False
        if self.job_filter.latest_only:
            for job in jobs:
                if job.parent_id is not None and job.parent_id in self._members:
                    self._remove_row(job.parent_id)
                    removed = True
        self._forget_latest()
        self.refresh()
        return removed

    def _forget_latest(self) -> None:
        self._latest.clear()
        self._latest_checked.clear()

    def _latest_attempt(self, job: Job) -> Job | None:
        """The latest attempt of a finished job that was resubmitted (None when it was not), looked up for every
        visible finished row at once."""
        if not job.state.is_terminal:
            return None
        if job.id not in self._latest_checked:
            first, last = self._visible_range()
            ids = [job_id for job_id in self._rows[first:last] if job_id not in self._latest_checked]
            if job.id not in ids:
                ids.append(job.id)
            if len(self._latest_checked) > _ROW_CACHE_SIZE:
                self._forget_latest()
            self._latest.update(self.store.latest_attempts(ids))
            self._latest_checked.update(ids)
        return self._latest.get(job.id)

    def _insert_row(self, job: Job) -> None:
        self._cache[job.id] = job
        self._members.add(job.id)
        if self.sort_key == "submitted" and self.sort_descending:
            self._rows.insert(0, job.id)
            if self._cursor_job is not None:
                # Keep the cursor on its job (the row moved down by one).
                self.set_reactive(JobTable.cursor_row, self.cursor_row + 1)
        elif self.sort_key == "submitted":
            self._rows.append(job.id)
        else:
            self._rows.insert(0, job.id)
            self._needs_resort = True

    def _remove_row(self, job_id: str) -> None:
        self._members.discard(job_id)
        self._cache.pop(job_id, None)
        try:
            self._rows.remove(job_id)
        except ValueError:
            pass

    def _row_of_visible(self, job_id: str, first: int, last: int) -> int | None:
        for offset, candidate in enumerate(self._rows[first:last]):
            if candidate == job_id:
                return first + offset + 1  # +1: the header line
        return None

    def _restore_cursor(self) -> None:
        """After the index changed, put the cursor back on its job, or clamp it."""
        if self._cursor_job is not None and self._cursor_job in self._members:
            row = self.cursor_row
            if not (0 <= row < len(self._rows) and self._rows[row] == self._cursor_job):
                row = self._rows.index(self._cursor_job)
            self.set_reactive(JobTable.cursor_row, row)
        else:
            self.set_reactive(JobTable.cursor_row, min(max(0, self.cursor_row), max(0, len(self._rows) - 1)))
            new_job = self._rows[self.cursor_row] if self._rows else None
            if new_job != self._cursor_job:
                self._cursor_job = new_job
                self.post_message(self.Highlighted(self, new_job))
        # A sort, filter or insert can move the cursor's job anywhere: the user must still see the row they act on.
        self._scroll_cursor_into_view()

    def job_at(self, row: int) -> Job | None:
        if not 0 <= row < len(self._rows):
            return None
        job_id = self._rows[row]
        job = self._cache.get(job_id)
        if job is None:
            self._load(row, row + max(1, self._view.height))
            job = self._cache.get(job_id)
        return job

    def _load(self, start: int, end: int) -> None:
        """Fetch the rows [start, end) that are not cached, in one store query."""
        missing = [job_id for job_id in self._rows[max(0, start) : end] if job_id not in self._cache]
        if missing:
            for job_id, job in self.store.get_many(missing).items():
                self._cache[job_id] = job
        while len(self._cache) > _ROW_CACHE_SIZE:
            self._cache.popitem(last=False)

    def _visible_range(self) -> tuple[int, int]:
        first = int(self.scroll_offset.y)
        return first, first + max(1, self._view.height - 1)  # one line is the header

    @property
    def _view(self) -> Size:
        """The lines and cells rows are drawn in: the widget less its scrollbar (a row under it is hidden)."""
        return self.scrollable_content_region.size

    def _sync_virtual_size(self) -> None:
        self.virtual_size = Size(self._view.width, len(self._rows) + 1)

    def tick(self) -> None:
        """Repaint running jobs' durations (called once a second by the screen)."""
        self._now = time.time()
        first, last = self._visible_range()
        for offset, job_id in enumerate(self._rows[first:last]):
            job = self._cache.get(job_id)
            if job is not None and job.state.is_active:
                self.refresh_line(first + offset + 1)

    # ------------------------------------------------------------- rendering

    def on_resize(self, event: events.Resize) -> None:
        self._sync_virtual_size()

    def _column_widths(self, width: int) -> list[int]:
        """Widths per column (0 = hidden). Columns are taken by priority while they fit beside the detail column's
        `_MIN_REST` (and its `needs_rest` for ids and seeds); the detail column takes what is left. Narrow panes
        thus drop whole low-priority columns instead of cutting every one, and no column is wider than what it
        shows: the profile column is as wide as the longest name on screen."""
        key = (width, self._profile_cells)
        if self._columns_cache is not None and self._columns_cache[0] == key:
            return self._columns_cache[1]
        own = {c.key: c.width for c in COLUMNS}
        own["profile"] = max(len("profile"), min(_PROFILE_CELLS, self._profile_cells))
        used = _MARK_WIDTH + _MIN_REST + 1
        shown: set[str] = {"detail"}
        for column in sorted(COLUMNS, key=lambda c: c.priority):
            if column.key == "detail":
                continue
            need = own[column.key] + 1
            if used + need + max(0, column.needs_rest - _MIN_REST) > width and column.priority > 0:
                break  # this one and every less important one are dropped
            shown.add(column.key)
            used += need
        result = [own[c.key] if c.key in shown else 0 for c in COLUMNS]
        result[_DETAIL] = _MIN_REST + max(0, width - used)
        self._columns_cache = (key, result)
        return result

    def _note_profile(self, name: str) -> None:
        """A row with this profile is drawn: widen the profile column when it is the longest yet (and redraw)."""
        cells = min(_PROFILE_CELLS, len(visible(name)))
        if cells > self._profile_cells:
            grows = cells > max(len("profile"), self._profile_cells)
            self._profile_cells = cells
            if grows:
                self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self._view.width
        if y == 0:
            return self._render_header(width)
        scroll_y = int(self.scroll_offset.y)
        row = scroll_y + y - 1
        if not 0 <= row < len(self._rows):
            return Strip.blank(width, self.rich_style)
        first, last = self._visible_range()
        if self._rows[row] not in self._cache:
            self._load(first, last)
        job = self._cache.get(self._rows[row])
        if job is None:
            return Strip.blank(width, self.rich_style)
        return self._render_row(job, row, width)

    def _render_header(self, width: int) -> Strip:
        style = self.get_component_rich_style("job-table--header")
        segments = [Segment(" " * _MARK_WIDTH, style)]
        for column, col_width in zip(COLUMNS, self._column_widths(width)):
            if not col_width:
                continue
            title = column.title
            if column.key == self.sort_key:
                title += " ▼" if self.sort_descending else " ▲"
            segments.append(Segment(_fit(title, col_width) + " ", style))
        return Strip(segments).crop_extend(0, width, style)

    def notify_style_update(self) -> None:
        self._row_styles = None  # theme, focus or CSS changed: styles are worked out again on the next paint
        super().notify_style_update()

    def _styles_for_rows(self) -> _RowStyles:
        # Working a widget's rich style out of its CSS costs more than the rest of a row: once per style change.
        styles = self._row_styles
        if styles is None:
            plain = self.rich_style
            cursor = plain + self.get_component_rich_style("job-table--cursor")
            dim = self.get_component_rich_style("job-table--dim", partial=True)
            mark = self.get_component_rich_style("job-table--mark", partial=True)
            red = Style(color="red")
            styles = self._row_styles = {
                is_cursor: _LineStyles(
                    base=base,
                    dim=base + dim,
                    mark=base + mark,
                    error=base + red,
                    states={state: base + Style.parse(STATE_STYLES[state]) for state in JobState},
                )
                for is_cursor, base in ((False, plain), (True, cursor))
            }
        return styles

    def _render_row(self, job: Job, row: int, width: int) -> Strip:
        styles = self._styles_for_rows()[row == self.cursor_row]
        base = styles.base
        self._note_profile(job.profile)
        widths = self._column_widths(width)
        marked = job.id in self._marked
        latest = self._latest_attempt(job)
        detail = detail_text(job, widths[_DETAIL], outputs=not widths[_OUTPUTS])
        if latest is not None:
            detail = f"{retried_text(latest)} · {detail}" if detail else retried_text(latest)
        values = [
            state_word(job),
            short_id(job.id),
            job.profile,
            remote_id(job),
            submitted_text(job, self._now),
            format_duration(job.duration(self._now)),
            str(len(job.outputs)) if job.outputs else ("" if job.state.is_active else "0"),
            _seed_text(job) if widths[7] else "",
            detail,
        ]
        cell_styles = (
            styles.states[job.state], styles.dim, base, styles.dim, styles.dim, base, base, styles.dim,
            styles.error if job.failure is not None and latest is None else base,
        )
        # Marked rows show the mark; other clients' jobs (external) a small arrow in the same cell.
        segments = [Segment("● " if marked else ("↗ " if job.external else "  "), styles.mark)]
        for value, col_width, style in zip(values, widths, cell_styles):
            if col_width:
                segments.append(Segment(_fit(value, col_width) + " ", style))
        return Strip(segments).crop_extend(0, width, base)

    # ---------------------------------------------------------------- cursor

    def watch_cursor_row(self, old_row: int, new_row: int) -> None:
        self.refresh_line(old_row + 1)
        self.refresh_line(new_row + 1)
        new_job = self._rows[new_row] if 0 <= new_row < len(self._rows) else None
        if new_job != self._cursor_job:
            self._cursor_job = new_job
            self.post_message(self.Highlighted(self, new_job))
        self._scroll_cursor_into_view()

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self._view.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False)

    def move_cursor_to_job(self, job_id: str) -> bool:
        if job_id not in self._members:
            return False
        self.cursor_row = self._rows.index(job_id)
        return True

    def _move(self, delta: int) -> None:
        if self._rows:
            self.cursor_row = min(max(0, self.cursor_row + delta), len(self._rows) - 1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(1, self._view.height - 2))

    def action_page_down(self) -> None:
        self._move(max(1, self._view.height - 2))

    def action_first(self) -> None:
        self._move(-len(self._rows))

    def action_last(self) -> None:
        self._move(len(self._rows))

    def action_toggle_mark(self) -> None:
        job_id = self._cursor_job
        if job_id is None:
            return
        if job_id in self._marked:
            self._marked.discard(job_id)
        else:
            self._marked.add(job_id)
        self.refresh_line(self.cursor_row + 1)
        self.post_message(self.MarksChanged(self, frozenset(self._marked)))
        self._move(1)

    def action_select(self) -> None:
        if self._cursor_job is not None:
            self.post_message(self.Selected(self, self._cursor_job))

    def action_cycle_sort(self) -> None:
        keys = list(SORTABLE_KEYS)
        next_key = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        self.set_sort(next_key)

    def action_reverse_sort(self) -> None:
        self.set_sort(self.sort_key, not self.sort_descending)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._sort_by_header_click(event.x)
            return
        row = int(self.scroll_offset.y) + event.y - 1
        if 0 <= row < len(self._rows):
            if row == self.cursor_row and event.chain >= 2:
                self.action_select()
            self.cursor_row = row

    def _sort_by_header_click(self, x: int) -> None:
        position = _MARK_WIDTH
        for column, col_width in zip(COLUMNS, self._column_widths(self._view.width)):
            if not col_width:
                continue
            if position <= x < position + col_width + 1:
                if column.sortable:
                    self.set_sort(column.key)
                return
            position += col_width + 1

    def visible_region_for_row(self, row: int) -> Region:
        return Region(0, row + 1 - int(self.scroll_offset.y), self._view.width, 1)
