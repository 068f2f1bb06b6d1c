"""The line under the workflow editor: "copies", the count, the "same seed" toggle (only while copies > 1: it
means nothing for one copy, and the line is short), then how many jobs ctrl+s makes and where they go
("27 jobs → sim-api").

The texts are drawn by the bar itself around its two children, the count and the toggle (a Label each cost as
much as the input to style and lay out). The job count is copies × every sweep in the parameters form.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Checkbox, Input


class SubmitBar(Widget):
    DEFAULT_CSS = """
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
    """

    COUNT_AT = 7  # the count's column: right of "copies "
    SAME_SEED_LABEL = "same seed"
    TARGET_AT = COUNT_AT + 7 + 1  # right of the count (7 wide) and its margin
    # ... and of the toggle ("▐X▌ same seed" after a space) while it is shown.
    TARGET_WITH_TOGGLE_AT = TARGET_AT + 1 + 3 + 1 + len(SAME_SEED_LABEL) + 1

    def __init__(self, count: Input, *, id: str) -> None:
        same_seed = Checkbox(self.SAME_SEED_LABEL, False, id="workflow-same-seed", compact=True)
        same_seed.tooltip = (
            "send identical copies (ComfyUI serves copies 2…N from its cache); off: copy 1 keeps the seed and "
            "every other copy gets its own"
        )
        super().__init__(count, same_seed, id=id)
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
            self.refresh()

    @property
    def jobs(self) -> int:
        """How many jobs ctrl+s makes per profile (copies × sweep values)."""
        return self._jobs

    @jobs.setter
    def jobs(self, count: int) -> None:
        if count != self._jobs:
            self._jobs = count
            self.refresh()

    @property
    def copies(self) -> int:
        return self._copies

    @copies.setter
    def copies(self, count: int) -> None:
        if count != self._copies:
            self._copies = count
            self.set_class(count > 1, "-copies")
            self.refresh()

    def render(self) -> Text:
        at = self.TARGET_WITH_TOGGLE_AT if self._copies > 1 else self.TARGET_AT
        line = Text("copies".ljust(at), no_wrap=True, end="")
        where = self._target
        if self._jobs > 1 and where:
            where = f"{self._jobs:,} jobs {where}"
        target = Text(where, no_wrap=True, end="")
        target.truncate(max(0, self.content_size.width - at), overflow="ellipsis")
        return line + target
