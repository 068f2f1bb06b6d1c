"""`comfyq locate`: where the config file, data dir, job store and log file are (after flags and env vars)."""

from __future__ import annotations

import argparse

from tui.core.locations import resolve_locations


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "locate",
        parents=[common],
        help="print the config file, data dir, job store and log file paths",
        description="Print where comfyq reads its config and keeps its data "
        "(--config/--data-dir, else $COMFYQ_CONFIG/$COMFYQ_DATA_DIR, else the user dirs).",
    )
    parser.set_defaults(handler=run)


def _state(exists: bool) -> str:
    return "exists" if exists else "missing"


def run(args: argparse.Namespace) -> int:
    from tui.cli import EXIT_OK

    locations = resolve_locations(args.config, args.data_dir)
    config_note = _state(locations.config_file.exists())
    if not locations.config_file.exists() and not locations.config_explicit:
        config_note += ", the built-in 'local' profile is used"
    rows = (
        ("config file", locations.config_file, config_note),
        ("data dir", locations.data_dir, _state(locations.data_dir.is_dir())),
        ("job store", locations.store_file, _state(locations.store_file.exists())),
        ("log file", locations.log_file, _state(locations.log_file.exists())),
    )
    width = max(len(label) for label, _, _ in rows)
    for label, path, note in rows:
        print(f"{label + ':':<{width + 1}} {path}  ({note})")
    return EXIT_OK
