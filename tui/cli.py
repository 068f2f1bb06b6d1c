"""The `comfyq` command line: one parser, one module per command family under `tui/commands/`.

Each command module exposes `register(subparsers, common)`; `common` is a parent parser carrying the global
options (`--config`, `--data-dir`) so they work before or after the sub-command. A handler is attached with
`set_defaults(handler=...)` and returns the process exit code.

Exit codes (scripts rely on them; tui/exit_codes.py): 0 all succeeded; 1 a job failed/was cancelled/lost; 2 usage or config error;
3 service unreachable or unauthorized; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tui import __version__
from tui.commands import COMMAND_MODULES, ui
from tui.exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $COMFYQ_CONFIG, else <user config dir>/comfyq/config.toml)",
    )
    common.add_argument(
        "--data-dir",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="data directory for the job store and logs (default: $COMFYQ_DATA_DIR, else <user data dir>/comfyq)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="comfyq",
        description="Submit, watch and resubmit ComfyUI workflows on PAI-EAS / PAI ArtLab and plain ComfyUI.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"comfyq {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    # Options given nowhere stay absent (SUPPRESS) so a value before the sub-command is not reset after it.
    for name in ("config", "data_dir"):
        if not hasattr(args, name):
            setattr(args, name, None)
    handler = getattr(args, "handler", None) or ui.run  # no command: the app
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`comfyq jobs | head`): stop quietly, as Unix tools do. Point stdout at /dev/null so
        # the interpreter's last flush at exit does not fail again and print about it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
