"""The profiles pane: every configured service with its edition, host, token (masked) and live source state.

The list shows the app's config (read from `app.config`, never a copy) and asks for changes by messages —
`OpenRequested` (the add / edit form), `DeleteRequested`, `TestRequested`: the screen pushes the form or the
confirmation and writes the config file, then tells the list with `config_changed`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.core.safe_text import visible
from tui.core.backends.base import SourceState, SourceStatus
from tui.core.config import Config, Profile
from tui.core.secrets import redact
from tui.core.stats import ProfileFigures
from tui.core.stats_text import percent_text, rate_text
from tui.core.jobs import Edition, Job
from tui.core.presentation import format_age
from tui.widgets.status_bar import SOURCE_STYLES
from tui.widgets.ordered_keys import KeysFollowFocus, OrderedKeys

if TYPE_CHECKING:
    from tui.app import ComfyqApp


def _look(prompt: Group) -> tuple[object, ...]:
    """What a profile's option shows — every line's text and styles — to tell whether it needs a repaint."""
    return tuple(_line_look(line) for line in prompt.renderables)


def _single_line(line: object, room: int) -> bool:
    """Whether `line` takes one line of an option `room` cells wide (a folded host or error may take more)."""
    if isinstance(line, Padding):
        return _single_line(line.renderable, room - line.left - line.right)
    return isinstance(line, Text) and "\n" not in line.plain and (bool(line.no_wrap) or line.cell_len <= room)


def _line_look(line: object) -> object:
    if isinstance(line, Text):
        return (line.plain, tuple(line.spans), str(line.style))
    if isinstance(line, Padding):
        return (_line_look(line.renderable), line.top, line.right, line.bottom, line.left, str(line.style))
    return object()  # something this does not know how to compare: always repainted


class ProfileList(KeysFollowFocus, OptionList, OrderedKeys):
    """Select a profile (click, j/k, ↑/↓) and make it the active one (enter or a double click); mark several
    (space) to submit to all of them; n / E / delete to add, edit or remove one; t tests the connection."""

    BORDER_TITLE = "Profiles"

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="profiles.down"),
        Binding("k", "cursor_up", "Up", show=False, id="profiles.up"),
        # Short words: the footer shows them while this pane has the focus, so every one fits at 80 columns.
        Binding("space", "toggle_mark", "Mark", id="profiles.mark"),
        Binding("n", "new_profile", "New profile", id="profiles.new"),
        Binding("E", "edit_profile", "Edit", id="profiles.edit"),
        Binding("delete", "delete_profile", "Delete", id="profiles.delete"),
        Binding("t", "test_connection", "Test", id="profiles.test"),
    ]

    @dataclass
    class ActiveChanged(Message):
        name: str

    @dataclass
    class OpenRequested(Message):
        """Open the profile form: `name` None for a new profile."""

        name: str | None

    @dataclass
    class DeleteRequested(Message):
        """Delete a profile (after asking); `in_flight` of its jobs are not ended yet."""

        name: str
        in_flight: int

    @dataclass
    class MarksChanged(Message):
        """The profiles marked for submission changed (submit goes to every marked profile)."""

        marked: list[str]

    @dataclass
    class TestRequested(Message):
        name: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.active_profile: str | None = None
        self._marked: set[str] = set()
        self._statuses: dict[str, SourceStatus] = {}
        self._in_flight: dict[str, set[str]] = {}
        self._hour: dict[str, ProfileFigures] = {}  # last-hour throughput and failures (tui/core/stats.py)
        self.hour_figures_shown = False  # the first last-hour figures arrived (tests wait on it)
        self._shape: list[tuple[str, int]] = []  # (profile, lines) of the options shown, to update them in place
        self._looks: list[tuple[object, ...]] = []  # what each option shows (text and styles), to skip repaints

    @property
    def config(self) -> Config:
        """The app's config (held once, by the app)."""
        return cast("ComfyqApp", self.app).config

    def on_mount(self) -> None:
        self.active_profile = next(iter(self.config.profiles), None)
        self._rebuild()
        self._update_subtitle()
        if self.active_profile:
            self.post_message(self.ActiveChanged(self.active_profile))

    def config_changed(self, *, renamed: tuple[str, str] | None = None) -> None:
        """The app's config changed (profile added, edited or deleted). `renamed` = (old, new) keeps the active
        profile and the marks on a renamed profile."""
        config = self.config
        if renamed is not None:
            old, new = renamed
            if self.active_profile == old:
                self.active_profile = new
                self.post_message(self.ActiveChanged(new))
            if old in self._marked:
                self._marked.discard(old)
                self._marked.add(new)
            if old in self._statuses:
                self._statuses[new] = self._statuses.pop(old)
            if old in self._in_flight:
                self._in_flight[new] = self._in_flight.pop(old)
        for table in (self._statuses, self._in_flight, self._hour):
            for name in [name for name in table if name not in config.profiles]:
                del table[name]
        if self.active_profile not in config.profiles:
            self.active_profile = next(iter(config.profiles), None)
            if self.active_profile:
                self.post_message(self.ActiveChanged(self.active_profile))
        self._marked &= set(config.profiles)
        self._rebuild()
        self._update_subtitle()

    def marked_profiles(self) -> list[str]:
        return [name for name in self.config.profiles if name in self._marked]

    @property
    def highlighted_profile(self) -> str | None:
        if self.highlighted is None or not self.option_count:
            return None
        return self.get_option_at_index(self.highlighted).id

    def update_status(self, status: SourceStatus) -> None:
        self._statuses[status.profile] = status
        self._rebuild()

    def jobs_changed(self, jobs: Sequence[Job]) -> None:
        changed = False
        for job in jobs:
            flying = self._in_flight.setdefault(job.profile, set())
            before = len(flying)
            if job.state.is_active:
                flying.add(job.id)
            else:
                flying.discard(job.id)
            changed = changed or before != len(flying)
        if changed:
            self._rebuild()

    def set_in_flight(self, profile: str, job_ids: set[str]) -> None:
        self._in_flight[profile] = set(job_ids)
        self._rebuild()

    def set_hour_figures(self, figures: dict[str, ProfileFigures]) -> None:
        """Each profile's last hour (jobs finished per hour, failure rate), shown in its second line."""
        first = not self.hour_figures_shown
        self.hour_figures_shown = True
        if figures != self._hour or first:
            self._hour = dict(figures)
            self._rebuild()

    def on_resize(self) -> None:
        # What goes on which line depends on the width (a zoomed pane, a hidden sidebar, the terminal resized).
        self._rebuild()

    def tick(self) -> None:
        # Ages ("3s ago") move on; a cheap rebuild of a handful of options.
        if self._statuses:
            self._rebuild()

    # ---------------------------------------------------------------- drawing

    def _update_subtitle(self) -> None:
        # Where the profiles come from; the keys (n new, E edit, t test) are the footer's when the pane has the focus.
        self.border_subtitle = "built-in default" if self.config.path is None else Path(self.config.path).name

    def _rebuild(self) -> None:
        prompts = [(name, self._render_profile(profile)) for name, profile in self.config.profiles.items()]
        shape = [(name, len(prompt.renderables)) for name, prompt in prompts]
        looks = [_look(prompt) for _, prompt in prompts]
        if prompts and shape == self._shape:
            # Same profiles, same line counts (a count or a state changed): repaint the prompts in place — clearing
            # and re-adding options would ask for a layout pass of the whole screen, several times a second — and
            # only those that look different: the once-a-second tick mostly finds nothing new to draw.
            # Line by line only while each renderable is one line (an error is folded over as many as it needs).
            room = self.scrollable_content_region.width - 2  # an option's padding
            one_line_each = room > 0 and all(
                _single_line(line, room) for _, prompt in prompts for line in prompt.renderables
            )
            first_line = 0
            for index, (_, prompt) in enumerate(prompts):
                if looks[index] != self._looks[index]:
                    if one_line_each:
                        changed = [line for line, (new, old) in enumerate(zip(looks[index], self._looks[index]))
                                   if new != old]
                        self._repaint_option(index, prompt, [first_line + line for line in changed])
                    else:
                        self.replace_option_prompt_at_index(index, prompt)
                first_line += shape[index][1]
            self._looks = looks
            return
        self._shape = shape
        self._looks = looks
        highlighted = self.highlighted
        self.clear_options()
        if not prompts:
            self.add_option(Option(Text("no profiles: press n to add one", style="dim"), id=None, disabled=True))
            return
        self.add_options([Option(prompt, id=name) for name, prompt in prompts])
        self.highlighted = min(highlighted if highlighted is not None else 0, self.option_count - 1)

    def _repaint_option(self, index: int, prompt: Group, lines: list[int]) -> None:
        """Show `prompt` for option `index` (same line count as before), repainting only `lines` (the list's).

        OptionList's own `replace_option_prompt_at_index` repaints the whole pane, border included, and a profile's
        "seen 2.1s ago" changes every second: that was most of comfyq's idle CPU. Its option and render cache are
        reached here as Textual 8 names them; should they be named otherwise, the whole-pane repaint is used."""
        option = self.get_option_at_index(index)
        render_cache = getattr(self, "_option_render_cache", None)
        set_prompt = getattr(option, "_set_prompt", None)
        if render_cache is None or set_prompt is None or not hasattr(render_cache, "clear"):
            self.replace_option_prompt_at_index(index, prompt)
            return
        set_prompt(prompt)
        render_cache.clear()  # keyed by option and style: the old lines of this option must go
        for line in lines:
            self.refresh_line(line)

    def _render_profile(self, profile: Profile) -> Group:
        now = time.time()
        active = profile.name == self.active_profile
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append("▶ " if active else "  ", style="bold green")
        title.append("● " if profile.name in self._marked else "", style="bold yellow")
        title.append(visible(profile.name), style="bold" if active else "")
        title.append(f"  {profile.edition.value}", style="cyan" if profile.edition is Edition.API else "magenta")
        room = self.scrollable_content_region.width - 2  # an option's padding; <= 0 before the first layout
        flying = len(self._in_flight.get(profile.name, ()))
        flying_text = f"{flying} in flight" if flying else ""
        if flying_text and (room <= 0 or title.cell_len + 2 + len(flying_text) <= room):
            title.append(f"  {flying_text}", style="yellow")
            flying_text = ""  # shown; else it leads the status figures, whole, where the title has no room
        endpoint, *hour_line = self._endpoint_lines(profile, room)
        lines: list[RenderableType] = [title, endpoint]
        status_line = Text(no_wrap=True, overflow="ellipsis")
        status_line.append("    ")
        status = self._statuses.get(profile.name)
        lines.append(status_line)
        if status is None:
            status_line.append("○ not started", style="dim")
            if flying_text and (room <= 0 or status_line.cell_len + 3 + len(flying_text) <= room):
                status_line.append(f" · {flying_text}")
            elif flying_text:
                lines.append(Text(f"    {flying_text}", no_wrap=True, overflow="ellipsis"))
        else:
            icon, colour = SOURCE_STYLES.get(status.state, ("?", "white"))
            status_line.append(f"{icon} {status.state.value}", style=colour)
            # The queue and the instances come before the age, which matters least and shows only where it fits
            # whole. In a narrow sidebar they take a line of their own rather than end in "…".
            figures = [flying_text] if flying_text else []
            if status.queue_length is not None:
                figures.append(f"queue {status.queue_length}")
            if status.consumers is not None:
                figures.append(f"{status.consumers} {'consumer' if status.consumers == 1 else 'consumers'}")
            figures_text = " · ".join(figures)
            last_line = status_line
            if figures_text and (room <= 0 or status_line.cell_len + 3 + len(figures_text) <= room):
                status_line.append(f" · {figures_text}", style="")
            elif figures_text:
                indent = "    " if 4 + len(figures_text) <= room else "  "  # at 80 columns every cell counts
                last_line = Text(indent + figures_text, no_wrap=True, overflow="ellipsis")
                lines.append(last_line)
            seen = f" · seen {format_age(status.last_seen, now)}"
            if room <= 0 or last_line.cell_len + len(seen) <= room:
                last_line.append(seen, style="dim")
            if status.error and status.state is not SourceState.CONNECTED:
                # Why it cannot connect is what the user came to read: wrapped over lines, never cut to "…".
                error = Text(visible(redact(status.error)), overflow="fold", style="red")
                lines.append(Padding(error, (0, 0, 0, 4)))
        lines.extend(hour_line)  # the last hour matters less than the state now: last, where a short pane scrolls
        return Group(*lines)

    def _endpoint_lines(self, profile: Profile, room: int) -> list[Text]:
        """The host (whole), the masked token where it fits whole, and the last hour's figures: on one line where
        they fit (a wide sidebar), else the figures on a second line (shown last). The form (E) shows all of it."""
        indent = "    "
        host = Text(indent + visible(profile.host or "(no host)"), style="dim", overflow="fold")
        token = f"  token {profile.masked_token}" + (f" ${profile.token_env}" if profile.token_env else "")
        token = token if profile.token else "  no token"
        if room <= 0 or host.cell_len + cell_len(token) <= room:
            host.append(token)
        hour = self._hour.get(profile.name)
        if hour is not None and hour.finished:
            figures = f"{rate_text(hour.per_hour)} · {percent_text(hour.failure_rate)} failed"
        elif self._hour:
            figures = "idle last hour"
        else:
            return [host]
        if room <= 0 or host.cell_len + 3 + cell_len(figures) <= room:
            host.append(f" · {figures}")
            return [host]
        return [host, Text(indent + figures, no_wrap=True, overflow="ellipsis")]

    # ---------------------------------------------------------------- actions

    async def _on_click(self, event: events.Click) -> None:
        """A click selects the profile under the mouse; a double click makes it active (as enter does)."""
        event.prevent_default()  # OptionList's own click would make it active at once
        clicked = event.style.meta.get("option")
        if clicked is None or self._options[clicked].disabled:
            return
        self.highlighted = clicked
        if event.chain >= 2:
            self.action_select()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.set_active(event.option.id)

    def set_active(self, name: str) -> None:
        if name in self.config.profiles and name != self.active_profile:
            self.active_profile = name
            self._rebuild()
            index = list(self.config.profiles).index(name)
            if index < self.option_count:
                self.highlighted = index  # made active from elsewhere (the palette): shown in a short pane too
            self.post_message(self.ActiveChanged(name))

    def action_toggle_mark(self) -> None:
        name = self.highlighted_profile
        if name is None:
            return
        self._marked.symmetric_difference_update({name})
        self._rebuild()
        self.post_message(self.MarksChanged(self.marked_profiles()))

    def action_new_profile(self) -> None:
        self.post_message(self.OpenRequested(None))

    def action_edit_profile(self) -> None:
        if self.highlighted_profile:
            self.post_message(self.OpenRequested(self.highlighted_profile))

    def action_delete_profile(self) -> None:
        if self.highlighted_profile:
            name = self.highlighted_profile
            self.post_message(self.DeleteRequested(name, len(self._in_flight.get(name, ()))))

    def action_test_connection(self) -> None:
        if self.highlighted_profile:
            self.post_message(self.TestRequested(self.highlighted_profile))

    def highlight(self, name: str) -> None:
        """Put the cursor on profile `name` (e.g. the one just added)."""
        for index in range(self.option_count):
            if self.get_option_at_index(index).id == name:
                self.highlighted = index
                return
