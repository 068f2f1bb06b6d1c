"""`comfyq demo`: the app on built-in local emulators — no cloud account, nothing to configure.

Starts the EAS queue emulator (API edition, 3 instances) and the ComfyUI emulator (dedicated edition) in-process on
free ports, points the demo config (in a separate demo data dir, kept between starts) at them, preloads the seed's SD1.5
workflow and opens the same main screen. Steps take a little time and a few jobs fail on purpose, so running,
failing and resubmitting can all be seen.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from tui.commands.ui import launch
from tui.core.config import ConfigError, load_config, save_profile, write_private
from tui.core.locations import resolve_locations
from tui.core.logs import setup_logging
from tui.core.workflow import seed_workflow
from tui.exit_codes import EXIT_USAGE

DEMO_STEP_SECONDS = 0.15  # 20 sampler steps ≈ 3 s a job
DEMO_FAIL_RATE = 0.2
DEMO_BUCKET = "oss://comfyq-demo/artlab"
# The demo's OSS key pair lives in these variables of its own process only (never in the config file), so previews
# and `pull` work with no setup while the user's own OSS_ACCESS_KEY_* are left alone.
DEMO_OSS_ENV_PREFIX = "COMFYQ_DEMO_OSS"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="open the app on built-in local emulators (no cloud account needed)",
        description="Start local ComfyUI and EAS queue emulators and open the app on them.",
    )
    parser.add_argument("--fail-rate", type=float, default=DEMO_FAIL_RATE, help="share of jobs that fail (0..1)")
    parser.add_argument("--step-seconds", type=float, default=DEMO_STEP_SECONDS, help="seconds per sampler step")
    parser.set_defaults(handler=run)


DEMO_CONFIG_HEADER = (
    "# comfyq demo's config. Its emulator profiles (sim-*) are refreshed on every start (the emulators get new\n"
    "# ports and a new token); profiles you add here or in the app, your theme and [keymap] are kept.\n"
)


def prepare_demo_config(path: Path, sim_snippet: str) -> None:
    """Create the demo config once (mode 0600: profiles the user adds may hold tokens), or bring its emulator
    profiles up to date with this start's `sim_snippet`, leaving everything else in the file as it is."""
    if not path.exists():
        write_private(path, DEMO_CONFIG_HEADER + "\n" + sim_snippet)
        return
    path.chmod(0o600)  # files from older versions were world-readable
    for name, fields in tomllib.loads(sim_snippet).get("profiles", {}).items():
        save_profile(path, name, fields)


def run(args: argparse.Namespace) -> int:
    from tui.sim.server import SimThread  # aiohttp and the emulators: only for the demo

    base = resolve_locations(None, args.data_dir)
    data_dir = Path(args.data_dir) if args.data_dir else base.data_dir / "demo"
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    locations = resolve_locations(data_dir / "demo-config.toml", data_dir)
    setup_logging(locations.log_file)
    token = "demo-" + secrets.token_hex(6)
    oss_key = ("LTAIdemo" + secrets.token_hex(6), secrets.token_urlsafe(24))
    os.environ[f"{DEMO_OSS_ENV_PREFIX}_ACCESS_KEY_ID"], os.environ[f"{DEMO_OSS_ENV_PREFIX}_ACCESS_KEY_SECRET"] = oss_key
    with SimThread(
        instances=3,
        step_seconds=args.step_seconds,
        fail_rate=args.fail_rate,
        token=token,
        output_dir=data_dir / "emulator-output",
        oss_bucket_path=DEMO_BUCKET,
        oss_key=oss_key,
    ) as server:
        try:
            prepare_demo_config(locations.config_file, server.config_snippet(oss_env_prefix=DEMO_OSS_ENV_PREFIX))
            config = load_config(locations.config_file, explicit=True)
        except ConfigError as error:  # the demo config was edited into something broken: say where
            print(error, file=sys.stderr)
            return EXIT_USAGE
        return launch(config, locations, seed_workflow(), None, demo=True)
