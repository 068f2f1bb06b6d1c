"""`comfyq config check|path`: validate the config file and list its profiles (tokens masked)."""

from __future__ import annotations

import argparse
import os
import stat
import sys

from rich.table import Table

from tui.commands.safe_console import SafeConsole, say
from tui.commands.session import pipe_console
from tui.core.config import Config, ConfigError, Profile, keymap_issues, load_config
from tui.core.jobs import Edition
from tui.core.locations import resolve_locations
from tui.core.secrets import redact
from tui.exit_codes import EXIT_OK, EXIT_USAGE


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "config",
        parents=[common],
        help="check the config file and list its profiles",
        description="Validate the config file (every problem as PATH:LINE: KEY: message) and list its profiles.",
    )
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION")
    check = actions.add_parser(
        "check", parents=[common], help="validate and list profiles (exit 2 on any problem)"
    )
    check.set_defaults(handler=run_check)
    path = actions.add_parser("path", parents=[common], help="print the config file path")
    path.set_defaults(handler=run_path)
    parser.set_defaults(handler=run_check)


def run_path(args: argparse.Namespace) -> int:
    print(resolve_locations(args.config, args.data_dir).config_file)
    return EXIT_OK


def _outputs_from(profile: Profile) -> str:
    """Where previews and `pull` read files; for OSS the region and whether the key variables are set — the names
    of the variables only, never their values."""
    if profile.outputs_from != "oss":
        return "service (/view)"
    settings = profile.oss
    if not settings.region:
        return "oss: add oss_region"
    where = settings.region + (f" via {settings.endpoint}" if settings.endpoint else "")
    keys = []
    for name in (settings.access_key_id_env, settings.access_key_secret_env):
        keys.append(f"${name} {'set' if os.environ.get(name) else 'NOT SET'}")
    return f"oss {where}; keys: {', '.join(keys)}"


def run_check(args: argparse.Namespace) -> int:
    # Textual only for this check (the key bindings and themes the app knows): `comfyq config path` and the other
    # commands never pay for it.
    from screens.help import known_binding_ids, known_themes
    from tui.app import ComfyqApp

    locations = resolve_locations(args.config, args.data_dir)
    try:
        config = load_config(locations.config_file, explicit=locations.config_explicit)
    except ConfigError as error:
        for issue in error.issues:
            say(redact(str(issue)), file=sys.stderr)
        count = len(error.issues)
        print(f"comfyq: {count} problem{'s' if count != 1 else ''} in the config", file=sys.stderr)
        return EXIT_USAGE
    ui_issues = keymap_issues(config, known_ids=known_binding_ids(ComfyqApp), themes=known_themes())
    if ui_issues:
        for issue in ui_issues:
            say(redact(str(issue)), file=sys.stderr)
        count = len(ui_issues)
        print(f"comfyq: {count} problem{'s' if count != 1 else ''} in the config", file=sys.stderr)
        return EXIT_USAGE
    _warn_if_readable_by_others(config)
    console = SafeConsole(soft_wrap=False)
    if not console.is_terminal:  # piped or captured: full lines beat a table folded to 80 columns
        console = pipe_console()
    if config.path is None:
        console.print(
            f"no config file at {locations.config_file}: using the built-in profile", highlight=False, markup=False
        )
    else:
        console.print(f"{config.path}: OK", highlight=False, markup=False)
    table = Table(title="profiles", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("edition", no_wrap=True)
    table.add_column("URL", overflow="fold")
    table.add_column("sink queue", overflow="fold")
    table.add_column("token", overflow="fold")
    table.add_column("OSS bucket path", overflow="fold")
    table.add_column("outputs from", overflow="fold")
    for profile in config.profiles.values():
        location = profile.input_url if profile.edition is Edition.API else profile.url
        token = f"{profile.masked_token} ({profile.token_source})" if profile.token else "(none)"
        table.add_row(
            profile.name,
            profile.edition.value,
            location or "",
            profile.sink_queue or "-",
            token,
            profile.oss_bucket_path or "-",
            _outputs_from(profile),
        )
    console.print(table)
    return EXIT_OK


def _warn_if_readable_by_others(config: Config) -> None:
    """A config file holding a token should be readable by its owner only (like ~/.ssh keys)."""
    path = config.path
    if path is None or not any(profile.token and not profile.token_env for profile in config.profiles.values()):
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & 0o077:
        say(
            f"warning: {path} holds a token and can be read by others (mode {mode:04o}): run `chmod 600 {path}`, "
            "or move the token to an environment variable (token_env)",
            file=sys.stderr,
        )
