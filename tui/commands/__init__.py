"""Sub-commands of `comfyq`. Each module has `register(subparsers, common)` (see tui/cli.py)."""

from tui.commands import config_cmd, demo, jobs_cmd, locate, pull, serve, sim, stats_cmd, ui

COMMAND_MODULES = (locate, config_cmd, jobs_cmd, stats_cmd, pull, sim, demo, serve, ui)
