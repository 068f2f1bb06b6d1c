"""The terminal driver: Textual's Linux driver, with the escape key answered when its wait is over, not 0.1 s later.

A terminal sends the escape key as a lone ESC byte, which is also how every other key's sequence (arrows, F-keys,
mouse reports) begins, so the input parser waits `ESCDELAY` ms for more bytes before it calls it the escape key.
Textual's input thread only looks at that wait when `select` returns, and it selects with a fixed 0.1 s timeout:
a lone ESC thus became a key 100–200 ms after it was pressed, whatever ESCDELAY says — most of the 130–140 ms it
took to leave the job detail or the help (issue 13). This driver's input loop is Textual's (the same parser, the
same events), except that after input holding an ESC it selects only until the escape wait is over, then lets the
parser decide. Terminals speaking the kitty keyboard protocol send escape unambiguously and never wait.

`ComfyqApp.get_driver_class` uses it where Textual would use its Linux driver; anything else (Windows, the web
driver of `comfyq serve`, a TEXTUAL_DRIVER set by the user, headless tests) is left as Textual picks it.
"""

from __future__ import annotations

import os
import selectors
import time
from codecs import getincrementaldecoder

from textual import constants
from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from tui.terminal_answers import take_typed_ahead

IDLE_SELECT_SECONDS = 0.1  # Textual's own timeout while nothing is pending (how often the exit flag is looked at)
ESC = "\x1b"


def select_timeout(escape_due: float | None, now: float) -> float:
    """How long the input thread may wait for input: until the escape wait is over (never negative), else idle."""
    if escape_due is None:
        return IDLE_SELECT_SECONDS
    return min(IDLE_SELECT_SECONDS, max(0.0, escape_due - now))


class PromptEscapeDriver(LinuxDriver):
    """Textual's LinuxDriver whose input thread wakes when an ESC's wait for a sequence ends."""

    def run_input_thread(self) -> None:
        """Textual's `LinuxDriver.run_input_thread`, with `select_timeout` instead of a fixed 0.1 s."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        escape_due: float | None = None  # when the parser's wait for the rest of a sequence is over

        def process(selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            nonlocal escape_due
            for last, (_key, mask) in loop_last(selector_events):
                if mask & selectors.EVENT_READ:
                    data = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not data:
                        break  # stdin is piped
                    for event in parser.feed(data):
                        self.process_message(event)
                    if ESC in data:
                        # A sequence may be incomplete: the parser decides once its wait is over (+1 ms so its
                        # clock has passed the deadline it set when it read the ESC).
                        escape_due = time.monotonic() + constants.ESCAPE_DELAY + 0.001
            if escape_due is not None and time.monotonic() >= escape_due:
                escape_due = None
            for event in parser.tick():
                self.process_message(event)

        # Keys typed before the app started, read while the terminal was asked what it can draw: first in line.
        typed_ahead = decode(take_typed_ahead())
        for event in parser.feed(typed_ahead) if typed_ahead else ():
            self.process_message(event)
        if ESC in typed_ahead:
            escape_due = time.monotonic() + constants.ESCAPE_DELAY + 0.001
        try:
            while not self.exit_event.is_set():
                process(selector.select(select_timeout(escape_due, time.monotonic())))
            selector.unregister(self.fileno)
            process(selector.select(IDLE_SELECT_SECONDS), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
