"""Desktop notifications through the terminal itself (issue 14): a long batch ends while the user is elsewhere.

No library and no D-Bus: the terminal turns an escape sequence into a desktop notification, which also works
over SSH. OSC 777 (`ESC ] 777 ; notify ; TITLE ; BODY BEL`: foot, WezTerm, Ghostty, urxvt, Konsole, VTE
terminals that carry the patch) and OSC 9 (`ESC ] 9 ; BODY BEL`: iTerm2, kitty, WezTerm)
are the two in use; a terminal that knows neither ignores them silently, so we pick by what the environment says
and ring the bell where we cannot tell (the bell is what every terminal and tmux flag). Inside tmux the sequence
is wrapped for passthrough (tmux forwards it when `allow-passthrough` is on) and the bell is rung too.

`[ui] notify = "terminal" | "bell" | "off"` (config), `--notify` on `submit --wait` / `wait`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tui.core.safe_text import visible

BEL = "\a"
_OSC777_TERMINALS = ("foot", "ghostty", "rxvt")
_OSC9_PROGRAMS = ("iterm.app", "wezterm", "ghostty")


def _clean(text: str, limit: int = 200) -> str:
    """Printable, without the `;` that would end a field of OSC 777, and short."""
    return visible(text).replace(";", ",").replace("\x1b", "")[:limit]


def osc_kind(env: Mapping[str, str]) -> str | None:
    """"777", "9", "777?" (maybe: the bell too) or None (unknown: the bell only), from TERM / TERM_PROGRAM."""
    program = env.get("TERM_PROGRAM", "").lower()
    term = env.get("TERM", "").lower()
    if program == "ghostty" or any(name in term for name in _OSC777_TERMINALS):
        return "777"
    if program in _OSC9_PROGRAMS or "kitty" in term:
        return "9"
    if env.get("VTE_VERSION") or env.get("KONSOLE_VERSION"):
        return "777?"  # only some builds show it: the bell goes with it
    return None


def notification_sequence(title: str, body: str, mode: str = "terminal",
                          env: Mapping[str, str] | None = None) -> str:
    """The bytes to write to the terminal for one notification ('' when mode is "off")."""
    if mode == "off":
        return ""
    if mode == "bell":
        return BEL
    env = os.environ if env is None else env
    kind = osc_kind(env)
    if kind in ("777", "777?"):
        sequence = f"\x1b]777;notify;{_clean(title, 80)};{_clean(body)}{BEL}"
    elif kind == "9":
        sequence = f"\x1b]9;{_clean(title, 80)}: {_clean(body)}{BEL}"
    else:
        return BEL
    if env.get("TMUX"):
        # tmux passthrough: ESC P tmux; <sequence with every ESC doubled> ESC \ — then the bell tmux itself shows.
        return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\" + BEL
    return sequence + (BEL if kind == "777?" else "")
