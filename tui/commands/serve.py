"""`comfyq serve`: the full app on a web page, one app session per browser tab, on the same config and job store.

Binds 127.0.0.1 by default. Any other address requires an access token (`--token-env NAME`, else one generated
and printed once); the page and its websocket both check it (tui/serve/access.py). Each tab runs `comfyq ui` with
the same --config / --data-dir in its own process (textual-serve), so a job submitted in one tab or from the CLI
shows in every tab. Ends on Ctrl+C or SIGTERM, ending every session first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING

from tui.core.config import ConfigError, load_config
from tui.core.locations import resolve_locations
from tui.core.safe_text import visible
from tui.core.store import JobStore, StoreError
from tui.exit_codes import EXIT_USAGE

if TYPE_CHECKING:
    from tui.serve.access import AccessToken

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_SESSIONS = 8  # each session is one app process (~100 MB): a cap, not a suggestion


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="serve the app to web browsers (one session per tab; localhost only unless given a token)",
        description=(
            "Serve the full app on a web page with textual-serve: each browser tab is one app session on the same "
            "config and job store. Binds 127.0.0.1 unless --host says otherwise; any other address requires an "
            "access token. Put TLS in front (a reverse proxy) for anything beyond a trusted network."
        ),
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks a free port)"
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        default=None,
        help="require the access token held in this environment variable (at least 16 characters); without it, "
        "a non-localhost --host gets a token generated and printed once",
    )
    parser.add_argument(
        "--max-sessions",
        type=_positive_int,
        default=DEFAULT_MAX_SESSIONS,
        help=f"most browser sessions open at once (default: {DEFAULT_MAX_SESSIONS})",
    )
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def app_argv(config_file: str | None, data_dir: str) -> list[str]:
    """The command each browser session runs: this interpreter's `comfyq ui` on the same files."""
    argv = [sys.executable, "-m", "tui"]
    if config_file is not None:
        argv += ["--config", config_file]
    return [*argv, "--data-dir", data_dir, "ui"]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def startup_lines(address: str, token: AccessToken | None, config_file: str, store_file: str) -> list[str]:
    """What `comfyq serve` prints once it listens. A generated token is printed here, once, and kept nowhere."""
    lines = [f"comfyq serve: the app on {visible(address)}  (config {visible(config_file)}, store {visible(store_file)})"]
    if token is None:
        lines.append("  only this machine can open it (localhost); Ctrl+C stops it")
        return lines
    if token.generated:
        lines.append(f"  open: {visible(address)}?token={token.value}")
        lines.append("  the access token above is shown only now; --token-env NAME keeps one across restarts")
    else:
        lines.append(f"  access token: the value of {visible(token.source)} (open {visible(address)}?token=...)")
    lines.append("  plain HTTP: put TLS in front (a reverse proxy) for anything beyond a trusted network")
    return lines


def run(args: argparse.Namespace) -> int:
    # aiohttp and textual-serve: only when serving (every other command builds this parser too).
    from tui.serve.access import AccessConfigError, AccessGuard, resolve_access_token

    try:
        token = resolve_access_token(args.host, args.token_env, os.environ)
    except AccessConfigError as error:
        print(f"comfyq serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    # Check what every session will open now, so a bad config is one line here rather than a broken page.
    locations = resolve_locations(args.config, args.data_dir)
    try:
        load_config(locations.config_file, explicit=locations.config_explicit)
    except ConfigError as error:
        print(visible(error, keep_newlines=True), file=sys.stderr)
        return EXIT_USAGE
    try:
        locations.data_dir.mkdir(parents=True, exist_ok=True)
        JobStore(locations.store_file).close()
    except (StoreError, OSError) as error:
        print(f"comfyq serve: {visible(error)}", file=sys.stderr)
        return EXIT_USAGE

    from tui.serve.server import ComfyqServer, serve

    def on_session_change(event: str, count: int) -> None:
        print(f"session {event} ({count} open)", flush=True)

    server = ComfyqServer(
        app_argv(
            str(locations.config_file.resolve()) if locations.config_explicit else None,
            str(locations.data_dir.resolve()),
        ),
        guard=AccessGuard(token),
        max_sessions=args.max_sessions,
        hidden_environment=frozenset({args.token_env}) if args.token_env else frozenset(),
        on_session_change=on_session_change,
    )

    def on_listening(host: str, port: int) -> None:
        address = f"http://{_url_host(args.host)}:{port}/"
        print("\n".join(startup_lines(address, token, str(locations.config_file), str(locations.store_file))), flush=True)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signal_number, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C arrives as KeyboardInterrupt
                pass
        try:
            await serve(server, args.host, args.port, on_listening=on_listening, stop=stop)
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            print(f"comfyq serve: cannot listen on {visible(args.host)}:{args.port}: {visible(reason)}", file=sys.stderr)
            return EXIT_USAGE
        print("comfyq serve stopped", flush=True)
        return 0

    return asyncio.run(main())
