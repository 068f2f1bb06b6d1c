"""`comfyq locate`: where the config file, data dir, job store and log file are (after flags and env vars)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tui.core.locations import resolve_locations
from tui.exit_codes import EXIT_OK

PREVIEW_DIRNAME = "previews"  # tui.core.preview_cache.PREVIEW_DIRNAME (a test holds them equal)


def preview_dir(data_dir: Path) -> Path:
    return data_dir / PREVIEW_DIRNAME


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "locate",
        parents=[common],
        help="print the config file, data dir, job store, log file and preview cache paths",
        description="Print where comfyq reads its config and keeps its data "
        "(--config/--data-dir, else $COMFYQ_CONFIG/$COMFYQ_DATA_DIR, else the user dirs).",
    )
    parser.set_defaults(handler=run)


def _state(exists: bool) -> str:
    return "exists" if exists else "missing"


def _cache_state(directory: Path) -> str:
    """How full the cache of fetched outputs is (it is trimmed to its cap)."""
    from tui.core.preview_cache import DEFAULT_CAP_BYTES  # it imports httpx: only for `locate`

    cap = f"cap {DEFAULT_CAP_BYTES // 2**20} MB"
    if not directory.is_dir():
        return f"empty, {cap}"
    size = sum(entry.stat().st_size for entry in os.scandir(directory) if entry.is_file())
    return f"{size / 2**20:.1f} MB, {cap}"


def run(args: argparse.Namespace) -> int:
    locations = resolve_locations(args.config, args.data_dir)
    config_note = _state(locations.config_file.exists())
    if not locations.config_file.exists() and not locations.config_explicit:
        config_note += ", the built-in 'local' profile is used"
    rows = (
        ("config file", locations.config_file, config_note),
        ("data dir", locations.data_dir, _state(locations.data_dir.is_dir())),
        ("job store", locations.store_file, _state(locations.store_file.exists())),
        ("log file", locations.log_file, _state(locations.log_file.exists())),
        ("preview cache", preview_dir(locations.data_dir), _cache_state(preview_dir(locations.data_dir))),
    )
    width = max(len(label) for label, _, _ in rows)
    for label, path, note in rows:
        print(f"{label + ':':<{width + 1}} {path}  ({note})")
    return EXIT_OK
