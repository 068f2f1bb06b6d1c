"""The key-response baseline: the start-up baseline's panes (bench/stock_app.py) with comfyq's screens written the
way a Textual developer writes them first, from stock widgets, each pushed as a new screen and popped on escape.

`python bench/stock_keys_app.py` — `n` / `E` push a modal form of the same fields as comfyq's profile form (a Label
and an Input per field, the edition Select, the hint, two Buttons), `enter` on a job row pushes a full-screen detail
(a bordered Static with the job's fields and a Footer), `?` pushes a modal with the key table; `escape` pops each.
The job table holds the same number of rows as comfyq's store in bench/keys.py. `bench/keys.py` runs it in a
pseudo-terminal beside `comfyq` and reads both screens with the same checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: `bench` is importable

from bench.stock_app import StockApp  # noqa: E402

JOB_ROWS = 200  # as many as bench/keys.py puts in comfyq's store
FORM_FIELDS = ("name", "input URL", "URL", "token", "token env", "OSS bucket path", "consumer group", "window")
FORM_HINT = "Saved to demo-config.toml (comments kept). Give a token or a token env, not both."
HELP_TITLE = "comfyq keys · esc closes"


class StockFormScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Cancel")]
    DEFAULT_CSS = """
    StockFormScreen { align: center middle; }
    StockFormScreen > #form { width: 84; height: auto; max-height: 100%; border: thick $accent; padding: 0 1; }
    StockFormScreen .row { height: auto; }
    StockFormScreen .row Label { width: 17; }
    StockFormScreen .row Input, StockFormScreen .row Select { width: 1fr; }
    StockFormScreen #buttons { height: auto; }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.form_title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="form") as form:
            form.border_title = self.form_title
            with VerticalScroll():
                for label in FORM_FIELDS:
                    with Horizontal(classes="row"):
                        yield Label(label)
                        yield Input(placeholder=label, compact=True)
                    if label == "name":
                        with Horizontal(classes="row"):
                            yield Label("edition")
                            yield Select([("api", "api"), ("dedicated", "dedicated")], value="api",
                                         allow_blank=False, compact=True)
            yield Static(FORM_HINT)
            with Horizontal(id="buttons"):
                yield Button("Cancel")
                yield Button("Save  ctrl+s", variant="primary")


class StockDetailScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = "StockDetailScreen > Static { border: round $accent; height: 1fr; padding: 0 1; }"

    def __init__(self, cells: tuple[str, ...]) -> None:
        super().__init__()
        self.cells = cells

    def compose(self) -> ComposeResult:
        detail = Static("\n".join(f"{name}: {value}" for name, value in zip(COLUMNS, self.cells)))
        detail.border_title = f"Job {self.cells[1]}"
        yield detail
        yield Footer()


class StockHelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    StockHelpScreen { align: center middle; }
    StockHelpScreen > VerticalScroll { width: 90; height: 90%; border: thick $accent; }
    """

    def compose(self) -> ComposeResult:
        table = Table(title=HELP_TITLE, expand=True, box=None)
        for column in ("keys", "does", "binding id ([keymap])"):
            table.add_column(column)
        for binding in self.app.BINDINGS:
            if isinstance(binding, Binding):
                table.add_row(binding.key, binding.description, binding.action)
        with VerticalScroll():
            yield Static(table)


COLUMNS = ("state", "id", "profile", "queue / progress", "took", "out", "error")


class StockKeysApp(StockApp):
    AUTO_FOCUS = "DataTable"
    BINDINGS = StockApp.BINDINGS + [
        Binding("n", "form('New profile')", "New profile", show=False),
        Binding("E", "form('Edit profile sim-api')", "Edit profile", show=False),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#profiles", Static).border_title = "Profiles"
        table = self.query_one(DataTable)
        table.cursor_type = "row"
        table.add_rows(
            ("✔ succeeded", f"{number:08x}", "sim-dedicated", "", f"{number % 60}.0s", "1", "")
            for number in range(JOB_ROWS)
        )

    def action_form(self, title: str) -> None:
        self.push_screen(StockFormScreen(title))

    def action_help(self) -> None:
        self.push_screen(StockHelpScreen())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.push_screen(StockDetailScreen(tuple(str(cell) for cell in event.data_table.get_row(event.row_key))))


if __name__ == "__main__":
    StockKeysApp().run()
