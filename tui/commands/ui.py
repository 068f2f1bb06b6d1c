"""`comfyq` with no command: open the TUI on the user's config and data dir."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tui.commands.safe_console import say
from tui.core.config import Config, ConfigError, load_config
from tui.core.locations import Locations, resolve_locations
from tui.core.logs import setup_logging
from tui.core.store import JobStore, StoreError
from tui.core.workflow import Workflow, WorkflowError, load_workflow, seed_workflow
from tui.exit_codes import EXIT_USAGE

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "ui",
        parents=[common],
        help="open the terminal UI (the default when no command is given)",
        description="Open the terminal UI on your config (profiles) and job store.",
    )
    parser.add_argument("workflow", nargs="?", type=Path, help="API-format workflow to open in the editor")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    locations = resolve_locations(args.config, args.data_dir)
    try:
        config = load_config(locations.config_file, explicit=locations.config_explicit)
    except ConfigError as error:
        say(str(error), file=sys.stderr)
        return EXIT_USAGE
    workflow_path: Path | None = getattr(args, "workflow", None)
    try:
        workflow = load_workflow(workflow_path) if workflow_path else seed_workflow()
    except (WorkflowError, OSError) as error:
        print(f"comfyq: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        locations.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # jobs and logs are private
        setup_logging(locations.log_file)
    except OSError as error:  # read-only, a file where the directory should be, disk full: one line, exit 2
        say(f"comfyq: cannot use the data directory {locations.data_dir}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    return launch(config, locations, workflow, workflow_path)


def _pick_image_protocol() -> None:
    """Ask the terminal how previews can be drawn, while nobody else reads it (tui/widgets/image_protocol.py)."""
    try:
        from tui.widgets.image_protocol import detect_before_start  # Textual: only when the app starts

        detect_before_start()
    except Exception:  # noqa: BLE001 - no preview is better than no app
        log.warning("cannot ask the terminal about images: half-blocks", exc_info=True)


def launch(config: Config, locations: Locations, workflow: Workflow, workflow_path: Path | None, *,
           demo: bool = False) -> int:
    # Textual paints at most TEXTUAL_FPS frames a second (default 60) and reads it once, when first imported — so it
    # is set here, before Textual is. At 120 a key waits half as long for its frame; an idle frame costs nothing.
    # A value the user set wins.
    os.environ.setdefault("TEXTUAL_FPS", "120")
    # A lone ESC is the escape key once no more bytes of a sequence follow within ESCDELAY ms (Textual: 100). 10 ms,
    # tmux's escape-time since 3.5: a terminal writes a key's whole sequence at once (an arrow's or alt+x's bytes come
    # in one read), so the wait only matters for a sequence split in transit (a slow link), which a user there can
    # cover with ESCDELAY=25 or more. At 25 ms the wait was half of what `esc` cost (bench/keys.py). A value the user
    # set wins.
    os.environ.setdefault("ESCDELAY", "10")
    # Textual is imported only here: the headless commands never pay for it.
    from tui.app import ComfyqApp, LaunchOptions

    try:
        store = JobStore(locations.store_file)
    except (StoreError, OSError) as error:  # corrupt, newer or unwritable store: say so, no traceback
        say(f"comfyq: {error}", file=sys.stderr)
        return EXIT_USAGE
    _pick_image_protocol()
    app = ComfyqApp(
        LaunchOptions(config=config, locations=locations, workflow=workflow, workflow_path=workflow_path, demo=demo),
        store=store,
    )
    return int(app.run() or 0)
