"""Sub-commands of `comfyq`. Each module has `register(subparsers, common)` (see tui/cli.py)."""

from tui.commands import config_cmd, demo, jobs_cmd, locate, serve, sim, ui

COMMAND_MODULES = (locate, config_cmd, jobs_cmd, sim, demo, serve, ui)
