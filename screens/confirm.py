"""A yes/no question (delete a profile, resubmit many jobs)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no; `y` or enter confirms, `n` or esc cancels."""

    CSS_PATH = "confirm.tcss"

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        confirm_label: str = "Delete",
        keep_label: str = "Cancel",
        variant: str = "error",
    ) -> None:
        super().__init__()
        self.keep_label = keep_label
        self.variant = variant
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm") as box:
            box.border_title = self.title_text
            yield Static(self.message, markup=False)  # names in it come from configs and services
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.keep_label} (n)", id="confirm-no")
                yield Button(f"{self.confirm_label} (y)", variant=self.variant, id="confirm-yes")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")
