"""The jobs pane: the job table under its quick filters (Textual's `Tabs`, each with a live count), the filter line
(`/`) and what in a typed filter can match nothing.

The pane owns the table's filter: the chosen quick filter combined with the typed one. It tells the screen with
`JobsPane.FilterChanged` (the batch progress in the status bar follows a typed `batch:`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static, Tab, Tabs

from tui.core.jobs import ACTIVE_STATES, FAILING_STATES, TERMINAL_STATES, JobState
from tui.core.safe_text import visible
from tui.core.store import JobFilter, JobStore
from tui.widgets.job_table import JobTable
from tui.widgets.ordered_keys import OrderedInput

if TYPE_CHECKING:
    from tui.app import ComfyqApp

# Quick filters: key -> (label, states or None for all). "Failed" means still failing: the latest attempt of
# each chain (a failed job whose resubmission succeeded is not failing any more).
QUICK_FILTERS: dict[str, tuple[str, frozenset[JobState] | None]] = {
    "all": ("All", None),
    "active": ("Active", frozenset(ACTIVE_STATES)),
    "failed": ("Failed", FAILING_STATES),
    "done": ("Done", frozenset(TERMINAL_STATES)),
}
LATEST_ONLY_FILTERS = frozenset({"failed"})
COUNTS_EVERY_SECONDS = 0.5  # one GROUP BY query at most this often, however fast events arrive
TAB_PREFIX = "filter-"  # a Tab's id is the quick filter's key behind this


class JobsPane(Vertical):
    """Quick filters, the filter line and the job table; `z` zooms it."""

    ALLOW_MAXIMIZE = True

    @dataclass
    class FilterChanged(Message):
        """The table's filter changed; `typed` is what the user typed in the filter line (parsed)."""

        typed: JobFilter

    def __init__(self, store: JobStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.quick_filter = "all"
        self.typed = JobFilter()
        self._counts_due = 0.0
        self._counts: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Tabs(
            *(Tab(self._tab_label(key), id=TAB_PREFIX + key) for key in QUICK_FILTERS),
            active=TAB_PREFIX + self.quick_filter,
            id="quick-filters",
        )
        filter_input = OrderedInput(placeholder="filter: text  state:failed  profile:NAME   (esc to close)", id="filter")
        filter_input.display = False
        yield filter_input
        problems = Static(id="filter-problems", markup=False)
        problems.display = False
        yield problems
        yield JobTable(self.store, id="jobs")

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    # ------------------------------------------------------------ quick filters

    def choose(self, key: str) -> None:
        """Show the quick filter `key` (keys 1–4, a click on its tab, the palette)."""
        tabs = self.query_one(Tabs)
        if tabs.active != TAB_PREFIX + key:
            tabs.active = TAB_PREFIX + key  # its TabActivated comes back to `_tab_activated`
        if key != self.quick_filter:
            self.quick_filter = key
            self._apply()

    @on(Tabs.TabActivated, "#quick-filters")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        self.choose((event.tab.id or "").removeprefix(TAB_PREFIX) or "all")

    def _tab_label(self, key: str) -> Text:
        """`1 All 12`: the key that picks it (dim), the name, the count once known."""
        number = list(QUICK_FILTERS).index(key) + 1
        count = self._counts.get(key)
        name = QUICK_FILTERS[key][0]
        return Text.assemble((f"{number} ", "dim"), name if count is None else f"{name} {count}")

    def labels(self) -> list[str]:
        """What each quick filter shows without its key, e.g. ["All 12", "Active 3", ...] (tests read these)."""
        return [tab.label.plain.split(" ", 1)[1] for tab in self.query(Tab).results(Tab)]

    def refresh_counts(self, *, force: bool = False) -> dict[JobState, int] | None:
        """Count the jobs per state (the tabs' numbers). Returns the counts, or None when skipped (asked again
        within COUNTS_EVERY_SECONDS, unless `force`)."""
        now = time.monotonic()
        if not force and now < self._counts_due:
            return None
        self._counts_due = now + COUNTS_EVERY_SECONDS
        counts = self.store.counts_by_state()
        totals = {
            key: sum(n for state, n in counts.items() if states is None or state in states)
            for key, (_, states) in QUICK_FILTERS.items()
        }
        totals["failed"] = self.store.failing_count()
        if totals != self._counts:
            self._counts = totals
            for key in QUICK_FILTERS:
                self.query_one(f"#{TAB_PREFIX}{key}", Tab).label = self._tab_label(key)
        return counts

    @property
    def failing(self) -> int:
        """Jobs still failing (the Failed tab's count) as last counted."""
        return self._counts.get("failed", 0)

    # ------------------------------------------------------------ typed filter

    def open_filter(self, text: str | None = None) -> None:
        """Show the filter line and focus it (`/`); `text` replaces what it says."""
        filter_input = self.filter_input
        filter_input.display = True
        if text is not None:
            filter_input.value = text
        filter_input.focus()

    def close_filter(self) -> None:
        """esc in the filter line: clear it, hide it, back to the table."""
        filter_input = self.filter_input
        if filter_input.value:
            filter_input.value = ""
        filter_input.display = False
        self._show_problems([])
        self.table.focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        self.typed = JobFilter.parse(event.value)
        self._apply()
        self._show_problems(self._problems(self.typed))

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def _apply(self) -> None:
        states = QUICK_FILTERS[self.quick_filter][1]
        typed = self.typed
        if typed.states is not None:
            states = typed.states if states is None else frozenset(states & typed.states)
        latest_only = typed.latest_only or self.quick_filter in LATEST_ONLY_FILTERS
        # `batch:NAME` naming a whole batch means that batch (as `--batch NAME` does), not every batch starting
        # with it (`…-104055` and `…-104055-2` both sent within one second); a start of a name narrows as typed.
        exact = bool(typed.batch) and self.store.batch_names(typed.batch, limit=1) == [typed.batch]
        self.table.set_filter(replace(typed, states=states, latest_only=latest_only, batch_exact=exact, problems=()))
        self.post_message(self.FilterChanged(typed))

    def _problems(self, typed: JobFilter) -> list[str]:
        """What in the typed filter can match nothing, each with the names that would."""
        problems = list(typed.problems)
        profiles = sorted(cast("ComfyqApp", self.app).config.profiles)
        if typed.profile is not None and not any(name.startswith(typed.profile) for name in profiles):
            problems.append(f"profile:{typed.profile}: no such profile (one of: {', '.join(profiles) or 'none'})")
        return problems

    def _show_problems(self, problems: list[str]) -> None:
        note = self.query_one("#filter-problems", Static)
        note.update("✘ " + " · ".join(visible(problem) for problem in problems) if problems else "")
        note.display = bool(problems)

    def shows(self, state: JobState) -> bool:
        """Whether a job in `state` passes the quick filter (the typed one aside)."""
        states = QUICK_FILTERS[self.quick_filter][1]
        return states is None or state in states
