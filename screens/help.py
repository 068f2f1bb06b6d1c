"""`?`: every key, what it does, and the binding id to use in the config's [keymap]."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.theme import BUILTIN_THEMES
from textual.widgets import Static

from screens.kept_screen import KeptScreen

from screens.job_actions import JobActionsScreen
from screens.job_detail import JobDetailScreen
from screens.main import MainScreen
from screens.profile_form import ProfileFormScreen
from screens.stats import StatsScreen
from tui.widgets.job_detail import JobDetail
from tui.widgets.job_table import JobTable
from tui.widgets.profile_list import ProfileList
from tui.widgets.workflow_editor import WorkflowEditor

if TYPE_CHECKING:
    from tui.app import ComfyqApp

def _binding_rows(keymap: dict[str, str], app_class: type) -> list[tuple[str, str, str, str]]:
    """(where, keys, description, id) for every binding of the app, its screens and widgets."""
    owners: list[tuple[str, type]] = [
        ("everywhere", app_class),  # given, not imported: the app imports this screen
        ("main screen", JobActionsScreen),
        ("main screen", MainScreen),
        ("jobs table", JobTable),
        ("profiles", ProfileList),
        ("job detail", JobDetail),
        ("job detail screen", JobDetailScreen),
        ("workflow editor", WorkflowEditor),
        ("profile form", ProfileFormScreen),
        ("stats view", StatsScreen),
    ]
    rows = []
    seen: set[str] = set()
    for where, owner in owners:
        for binding in owner.__dict__.get("BINDINGS", []):
            if not isinstance(binding, Binding) or binding.id is None or binding.id in seen:
                continue  # one row per id (main.cancel has a second, silent binding that says why it cannot)
            seen.add(binding.id)
            keys = keymap.get(binding.id, binding.key)
            shown = binding.key_display if binding.key_display and binding.id not in keymap else keys
            rows.append((where, shown, binding.description or binding.action, binding.id))
    return rows


def known_binding_ids(app_class: type) -> set[str]:
    """Every binding id a [keymap] entry can name (`config check` flags the others)."""
    return {binding_id for _, _, _, binding_id in _binding_rows({}, app_class)}


def known_themes() -> set[str]:
    """Textual's built-in theme names (what `[ui] theme` may say)."""
    return set(BUILTIN_THEMES)


class HelpScreen(KeptScreen, ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    CSS_PATH = "help.tcss"

    # Below this many columns the binding id goes under what the key does instead of into a column of its own.
    WIDE = 100

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._table(self.app.size.width), id="help-keys")
            yield Static(
                Text(
                    "\nRebind any key in the config file:  [keymap]  main.submit = \"ctrl+enter,ctrl+s\"\n"
                    "ctrl+p opens the command palette (resubmit, copy OSS path, cancel, filters, profiles, themes).",
                    style="dim",
                )
            )

    def on_resize(self) -> None:
        self.query_one("#help-keys", Static).update(self._table(self.app.size.width))

    def _table(self, width: int) -> Table:
        """One section per place a key works; key beside what it does, the binding id beside or under it."""
        keymap = dict(cast("ComfyqApp", self.app).config.keymap)
        wide = width >= self.WIDE
        table = Table(
            title="comfyq keys · esc closes",
            caption=None,
            expand=True,
            show_header=True,
            show_edge=False,
            box=None,
            padding=(0, 1),
            title_style="bold",
        )
        table.add_column("keys", style="bold cyan", no_wrap=True)
        table.add_column("does", ratio=1)
        if wide:
            table.add_column(Text("binding id ([keymap])"), style="dim", no_wrap=True)
        section = None
        for where, keys, description, binding_id in _binding_rows(keymap, type(self.app)):
            if where != section:
                section = where
                table.add_row(Text(where, style="bold underline"), *([""] * (2 if wide else 1)))
            if wide:
                table.add_row(keys, description, binding_id)
            else:
                does = Text(description)
                does.append(f"\n{binding_id}", style="dim")
                table.add_row(keys, does)
        return table
