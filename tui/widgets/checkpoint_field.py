"""The parameters form's checkpoint field offers the target profile's checkpoints, like ComfyUI's own combo.

The names come from the engine (`Engine.load_checkpoint_choices`: the server's `/models/checkpoints`, cached per
profile, already safe to show). The field completes from them (Textual's stock `SuggestFromList`: the rest of the
first name starting with what is typed, shown dim; → takes it), and a short line under it says when the typed
name is not on the server, which will refuse it. It never blocks a submit: the file may have arrived since the list
was read. Without a list (the API edition cannot give one; a server that is down, too old, or answered junk) the
field says nothing; its tooltip tells why there is no list.

`CheckpointChoicesMixin` is the form's half: which profile it follows (the screen says, as the target changes),
fetching in a worker (the engine's request is asynchronous; a large answer is parsed on a thread), asking again when
the profile reconnects and, on going to the field, when the list is stale or missing; and the words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.suggester import SuggestFromList
from textual.widgets import Label

from tui.core.backends.base import SourceState, SourceStatus
from tui.core.checkpoints import CheckpointChoices
from tui.core.safe_text import visible

if TYPE_CHECKING:
    from tui.core.engine import Engine

CHECKPOINT_INPUT = "ckpt_name"
REFRESH_AFTER_SECONDS = 60.0  # a list older than this is read again when the user goes to the field


def checkpoint_suggester(choices: CheckpointChoices | None) -> SuggestFromList | None:
    """Completions from the server's names; case-insensitive (`sd` finds `SDXL/…`), taking the name's own case."""
    if choices is None or not choices.listed or not choices.names:
        return None
    return SuggestFromList(choices.names, case_sensitive=False)


def _count(choices: CheckpointChoices) -> str:
    count = len(choices)
    return f"{count:,} checkpoint{'s' if count != 1 else ''}"


def missing_note(profile: str | None, choices: CheckpointChoices | None, value: str) -> tuple[str, bool] | None:
    """The line under the field when `value` is not one of the server's names (None when it is, or when there is no
    list), and whether it is a warning (the server will refuse it) or a hint (the start of a name: → completes)."""
    if profile is None or choices is None or not value.strip() or not choices.lacks(value):
        return None
    where = visible(profile)
    if not choices.names:
        return f"⚠ {where} has no checkpoints: the server will refuse it", True
    folded = value.casefold()
    close = next((name for name in choices.names if name.casefold() == folded), None)
    if close is not None:
        return f"⚠ {where} has it as {close} (case matters)", True
    completion = next((name for name in choices.names if name.casefold().startswith(folded)), None)
    if completion is not None:  # being typed: say what → takes (the field may be too narrow to show it whole)
        return f"→ completes to {completion}", False
    return f"⚠ not on {where} ({_count(choices)}): the server will refuse it", True


def set_hint(hint: Label, note: tuple[str, bool] | None) -> None:
    """Show `missing_note`'s line (a warning in the warning colour) or hide it."""
    hint.update(Text(note[0] if note else ""))
    hint.set_class(note is not None and note[1], "-warning")
    hint.display = note is not None


def list_tooltip(profile: str | None, choices: CheckpointChoices | None) -> str | None:
    """What the field's tooltip adds about the list (how many, or why there is none)."""
    if profile is None or choices is None:
        return None
    where = visible(profile)
    if choices.listed:
        more = f" (the first {len(choices.names):,} offered)" if choices.more else ""
        return f"{where} has {_count(choices)}{more}: type a name's start, → completes it"
    return f"no checkpoint list from {where}: {visible(choices.reason or 'unknown reason')}"


class CheckpointChoicesMixin:
    """The form's checkpoint list: the profile it follows and that profile's names (None: none known yet).

    Mixed into ParametersForm (a Widget): it reads the form's fields (`_fields`, `_widget`, `_text_of`,
    `_is_read_only`) and the form implements `show_checkpoints`."""

    checkpoint_profile: str | None = None
    checkpoints: CheckpointChoices | None = None

    def _engine(self) -> Engine | None:
        """The app's engine once it runs (not before: an app started without it contacts no server, and the
        backends' modules are imported off the loop at its start). The first list is then asked for when the
        followed profile reports itself connected."""
        app = getattr(self, "app", None)
        return getattr(app, "engine", None) if getattr(app, "engine_started", False) else None

    def follow_checkpoints_of(self, profile: str | None) -> None:
        """Offer `profile`'s checkpoints from now on (the screen calls this as the submit target changes)."""
        engine = self._engine()
        if profile == self.checkpoint_profile and (self.checkpoints is not None or engine is None):
            return
        self.checkpoint_profile = profile
        cached = engine.checkpoint_choices(profile) if engine is not None and profile is not None else None
        self.show_checkpoints(profile, cached)
        if engine is not None and profile is not None and cached is None:
            self._load_checkpoints(profile)

    def refresh_if_stale(self) -> None:
        """On going to the field: ask the server again when the list is older than REFRESH_AFTER_SECONDS (files come
        and go) or there was none (a server down then may answer now). The API edition is never asked again."""
        engine, profile = self._engine(), self.checkpoint_profile
        if engine is None or profile is None:
            return
        known = engine.checkpoint_choices(profile)
        if known is not None and known.available and (
            not known.listed or engine.clock() - known.at > REFRESH_AFTER_SECONDS
        ):
            self._load_checkpoints(profile, refresh=True)

    @work(group="checkpoints", exclusive=True, exit_on_error=False)
    async def _load_checkpoints(self, profile: str, refresh: bool = False) -> None:
        engine = self._engine()
        if engine is None:
            return
        try:
            choices = await engine.load_checkpoint_choices(profile, refresh=refresh)
        except ValueError:  # the profile is gone from the config (UnknownProfile)
            choices = None
        if profile == self.checkpoint_profile:
            self.show_checkpoints(profile, choices)

    def watch_source_statuses(self) -> None:
        """Ask again when the followed profile comes back (the engine forgot its list: the server may have other
        files now). Called once mounted; does nothing outside the real app."""
        signal = getattr(getattr(self, "app", None), "source_status_signal", None)
        if signal is not None:
            signal.subscribe(self, self._source_status)

    def _source_status(self, status: SourceStatus) -> None:
        engine = self._engine()
        if (
            engine is not None
            and status.profile == self.checkpoint_profile
            and status.state is SourceState.CONNECTED
            and engine.checkpoint_choices(status.profile) is None
        ):
            self._load_checkpoints(status.profile)

    def show_checkpoints(self, profile: str | None, choices: CheckpointChoices | None) -> None:
        """Use these names (the form redraws its checkpoint fields)."""
        raise NotImplementedError

    def _show_checkpoint_note(self, widget_id: str) -> None:
        """The line under a checkpoint field: shown while its text is not on the followed profile's list."""
        widget = self._widget(widget_id)
        note = None if self._is_read_only(widget) else missing_note(
            self.checkpoint_profile, self.checkpoints, self._text_of(widget_id))
        for hint in self.query(f"#{widget_id}-hint").results(Label):
            set_hint(hint, note)
            if note is not None and widget.has_focus:  # the typist sees it (the form scrolled only to the field)
                self.call_after_refresh(self.scroll_to_widget, hint, animate=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """A checkpoint field focused: its list refreshed if stale, its note (when shown) in view with it (the form
        scrolls only to the field)."""
        hint = self.query(f"#{event.widget.id}-hint") if event.widget.id in self._fields else None
        if not hint:
            return
        self.refresh_if_stale()
        if hint.first().display:
            self.call_after_refresh(self.scroll_to_widget, hint.first(), animate=False)
