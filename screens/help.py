"""`?`: every key, what it does, and the binding id to use in the config's [keymap]."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _binding_rows(keymap: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(where, keys, description, id) for every binding of the app, its screens and widgets."""
    from screens.main import MainScreen
    from tui.app import ComfyqApp
    from tui.widgets.job_table import JobTable
    from tui.widgets.profile_list import ProfileList

    owners: list[tuple[str, type]] = [
        ("everywhere", ComfyqApp),
        ("main screen", MainScreen),
        ("jobs table", JobTable),
        ("profiles", ProfileList),
    ]
    from screens.job_detail import JobDetailScreen
    from screens.profile_form import ProfileFormScreen
    from tui.widgets.job_detail import JobDetail
    from tui.widgets.workflow_editor import WorkflowEditor

    owners += [
        ("job detail", JobDetail),
        ("job detail screen", JobDetailScreen),
        ("workflow editor", WorkflowEditor),
        ("profile form", ProfileFormScreen),
    ]
    from screens.stats import StatsScreen

    owners.append(("stats view", StatsScreen))
    rows = []
    for where, owner in owners:
        for binding in getattr(owner, "BINDINGS", []):
            if not isinstance(binding, Binding) or binding.id is None:
                continue
            keys = keymap.get(binding.id, binding.key)
            shown = binding.key_display if binding.key_display and binding.id not in keymap else keys
            rows.append((where, shown, binding.description or binding.action, binding.id))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 100%;
        height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        keymap = dict(getattr(self.app, "config", None).keymap) if getattr(self.app, "config", None) else {}
        table = Table(title="comfyq keys", expand=True, show_lines=False, title_style="bold")
        table.add_column("where", style="dim", no_wrap=True)
        table.add_column("keys", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column(Text("binding id ([keymap])"), style="dim", no_wrap=True)
        for where, keys, description, binding_id in _binding_rows(keymap):
            table.add_row(where, keys, description, binding_id)
        footer = Text(
            "\nRebind any key in the config file:  [keymap]  main.submit = \"ctrl+enter,ctrl+s\"\n"
            "ctrl+p opens the command palette (resubmit, copy OSS path, cancel, filters, profiles, themes).",
            style="dim",
        )
        with VerticalScroll():
            yield Static(table)
            yield Static(footer)
