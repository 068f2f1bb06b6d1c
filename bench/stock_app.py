"""The start-up baseline: comfyq's panes built only from Textual's stock widgets, run as its own program.

`python bench/stock_app.py` — what a Textual developer would write first for comfyq's main screen: a Header, a
profiles Static, a TabbedContent holding the workflow's parameters as 12 Inputs (and a JSON tab), a DataTable with
the job table's columns, a detail Static and a Footer with the main screen's keys. No store, no config, no engine:
the imports and the widgets are the whole cost, which is what "the same panes in stock Textual" costs a user.
`bench/startup.py` runs it in a pseudo-terminal beside `comfyq` and reads both screens with the same checks.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, Label, Static, TabbedContent, TabPane

TITLE = "stock comfyq"
PROFILES_TEXT = "sim-api  api\nsim-dedicated  dedicated"
PROMPT = "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
# The seed workflow's parameters, as the editor's Parameters tab shows them (12 fields).
PARAMETERS = (
    ("Positive prompt", PROMPT),
    ("Negative prompt", "text, watermark"),
    ("seed", "156680208700286"),
    ("steps", "20"),
    ("cfg", "8.0"),
    ("sampler", "euler"),
    ("scheduler", "normal"),
    ("denoise", "1.0"),
    ("width", "512"),
    ("height", "512"),
    ("batch", "1"),
    ("checkpoint", "3dAnimationDiffusion_v10.safetensors"),
)
COLUMNS = ("state", "id", "profile", "queue / progress", "took", "out", "error")
DETAIL_TEXT = "no job selected"


class StockApp(App[None]):
    TITLE = TITLE
    CSS = """
    #sidebar { width: 44; }
    #profiles { height: auto; border: round $primary 50%; }
    TabbedContent { height: 1fr; border: round $primary 50%; }
    #work { width: 1fr; }
    DataTable { height: 2fr; border: round $primary 50%; }
    #detail { height: 1fr; border: round $primary 50%; }
    .field { height: auto; }
    .field Label { padding: 0 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit"),
        Binding("r", "resubmit", "Resubmit"),
        Binding("slash", "filter", "Filter"),
        Binding("q", "quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="sidebar"):
                yield Static(PROFILES_TEXT, id="profiles")
                with TabbedContent("Parameters", "JSON"):
                    with TabPane("Parameters"), VerticalScroll():
                        for label, value in PARAMETERS:
                            with Vertical(classes="field"):
                                yield Label(label)
                                yield Input(value)
                    with TabPane("JSON"):
                        yield Static('{"3": {"class_type": "KSampler", ...}}')
            with Vertical(id="work"):
                yield DataTable(id="jobs")
                yield Static(DETAIL_TEXT, id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)

    def action_submit(self) -> None:
        self.notify("submit")

    def action_resubmit(self) -> None:
        self.notify("resubmit")

    def action_filter(self) -> None:
        self.notify("filter")


if __name__ == "__main__":
    StockApp().run()
