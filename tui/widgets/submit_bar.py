"""The line under the workflow editor: "copies", the count, the "same seed" toggle (only while copies > 1: it
means nothing for one copy, and the line is short), then how many jobs ctrl+s makes and where they go
("27 jobs → sim-api"). The job count is copies × every sweep in the parameters form.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Label


class SubmitBar(Horizontal):
    """Stock parts in a row: a Label, the count Input (the editor owns it), a Checkbox and the target Label."""

    DEFAULT_CSS = """
    SubmitBar {
        height: 1;
        padding: 0 1;
        color: $text-muted;  /* "copies" and the target; the count has its own colours */
    }
    SubmitBar > Label {
        width: auto;
    }
    SubmitBar #workflow-target {
        width: 1fr;
        text-overflow: ellipsis;
        text-wrap: nowrap;
        margin-left: 1;
    }
    SubmitBar #workflow-same-seed {
        width: auto;
        height: 1;
        border: none;
        padding: 0;
        margin: 0 0 0 1;
        background: transparent;
        display: none;
    }
    SubmitBar.-copies #workflow-same-seed {
        display: block;
    }
    SubmitBar #workflow-same-seed:focus {
        text-style: bold;
    }
    /* Where the target does not fit beside the count (a long profile name at 80 columns, "27 jobs → …" with
       "same seed" shown), it takes the second line, whole, rather than end in "…". */
    SubmitBar.-stacked {
        layout: grid;
        grid-size: 2;
        grid-columns: auto 1fr;
        height: 2;
    }
    SubmitBar.-stacked.-copies {
        grid-size: 3;
        grid-columns: auto auto 1fr;
    }
    SubmitBar.-stacked #workflow-target {
        column-span: 3;
        margin-left: 0;
    }
    """

    SAME_SEED_LABEL = "same seed"

    def __init__(self, count: Input, *, id: str) -> None:
        same_seed = Checkbox(self.SAME_SEED_LABEL, False, id="workflow-same-seed", compact=True)
        same_seed.tooltip = (
            "send identical copies (ComfyUI serves copies 2…N from its cache); off: copy 1 keeps the seed and "
            "every other copy gets its own"
        )
        super().__init__(Label("copies"), count, same_seed, Label("", id="workflow-target"), id=id)
        self._target = ""
        self._jobs = 1
        self._copies = 1

    @property
    def target(self) -> str:
        """Where ctrl+s sends the workflow, e.g. "→ sim-api"."""
        return self._target

    @target.setter
    def target(self, text: str) -> None:
        if text != self._target:
            self._target = text
            self._show_target()

    @property
    def jobs(self) -> int:
        """How many jobs ctrl+s makes per profile (copies × sweep values)."""
        return self._jobs

    @jobs.setter
    def jobs(self, count: int) -> None:
        if count != self._jobs:
            self._jobs = count
            self._show_target()

    @property
    def copies(self) -> int:
        return self._copies

    @copies.setter
    def copies(self, count: int) -> None:
        if count != self._copies:
            self._copies = count
            self.set_class(count > 1, "-copies")
            self.call_after_refresh(self._fit_target)  # "same seed" shown or gone: measured once laid out

    @property
    def target_text(self) -> str:
        """What the bar says after the count: "27 jobs → sim-api", or just the target for one job."""
        where = self._target
        if self._jobs > 1 and where:
            where = f"{self._jobs:,} jobs {where}"
        return where

    def _show_target(self) -> None:
        self.query_one("#workflow-target", Label).update(Text(self.target_text))  # profile names: not markup
        self._fit_target()

    def on_resize(self) -> None:
        self._fit_target()

    def _fit_target(self) -> None:
        """Beside the count where the target fits whole, else on a line of its own (the -stacked grid)."""
        if not self.size.width:
            return  # not laid out yet: the first resize fits it
        target = self.query_one("#workflow-target", Label)
        beside = sum(child.outer_size.width + child.styles.margin.width for child in self.children
                     if child is not target and child.display)
        room = self.content_size.width - beside - 1  # the target's margin
        self.set_class(Text(self.target_text).cell_len > room, "-stacked")
