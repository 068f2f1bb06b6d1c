"""`comfyq sim`: run the local emulators (EAS queue service + ComfyUI API edition workers + a dedicated ComfyUI).

Prints the base URL and a ready-to-paste config snippet, then serves until Ctrl+C or SIGTERM (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_USAGE = 2

# The same defaults as tui.sim.server's (a test holds them equal). Not imported from there: that module pulls in
# aiohttp, and every comfyq command builds this parser — `comfyq submit` must not pay for the emulator.
DEFAULT_PORT = 8288
DEFAULT_SERVICE = "comfyui-api"
# The ComfyUI generations the emulator can play (tui.sim.comfyui_newer.VERSIONS; a test holds them equal).
COMFYUI_VERSIONS = ("0.3.64", "0.38.1")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "sim",
        parents=[common],
        help="run local emulators of the PAI-EAS queue service and ComfyUI (demo and tests)",
        description=(
            "Serve, on one port, an emulated PAI-EAS queue service with ComfyUI API-edition workers "
            "(/api/predict/<service>, .../sink, .../api_prompt) and an emulated dedicated ComfyUI (/prompt, /ws, ...)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 picks a free port)"
    )
    parser.add_argument("--token", default=None, help="require this Authorization token (default: accept any)")
    parser.add_argument(
        "--instances", type=_positive_int, default=2, help="worker instances per API-edition service (default: 2)"
    )
    parser.add_argument(
        "--step-seconds", type=_non_negative_float, default=0.05,
        help="emulated time per KSampler step (default: 0.05)",
    )
    parser.add_argument(
        "--fail-rate", type=_probability, default=0.0,
        help="share of jobs that fail: drawn once per job, a failing job's first KSampler raises a CUDA "
             "out-of-memory error (however many samplers the workflow has); nothing is sticky, a resubmission draws "
             "afresh, and a fully cached run never fails (default: 0)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for --fail-rate: the same jobs in the same order fail the same way")
    parser.add_argument(
        "--comfyui-url", default=None, metavar="URL",
        help="run API-edition jobs on this real ComfyUI instead of the built-in emulator",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=None, metavar="PATH",
        help="where output images are written (default: a temporary directory removed on exit)",
    )
    parser.add_argument(
        "--service", default=DEFAULT_SERVICE, help=f"API-edition service name (default: {DEFAULT_SERVICE})"
    )
    parser.add_argument(
        "--comfyui-version", choices=COMFYUI_VERSIONS, default=COMFYUI_VERSIONS[0],
        help="the dedicated ComfyUI's generation: 0.3.64 (default), or 0.38.1 with the jobs API, UUID-only prompt "
             "ids, new error types and output metadata",
    )
    parser.add_argument(
        "--oss-key", type=_key_pair, default=None, metavar="ID:SECRET",
        help="the OSS AccessKey pair the emulated bucket accepts (default: a fixed demo pair, printed at start)",
    )
    parser.set_defaults(handler=run)


def _key_pair(text: str) -> tuple[str, str]:
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id or not secret:
        raise argparse.ArgumentTypeError("expected ID:SECRET")
    return key_id, secret


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.comfyui_url and not args.comfyui_url.startswith(("http://", "https://")):
        print(f"comfyq sim: --comfyui-url must start with http:// or https://, got {args.comfyui_url!r}", file=sys.stderr)
        return EXIT_USAGE
    if args.output_dir is not None:
        try:
            args.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"comfyq sim: cannot use --output-dir {args.output_dir}: {error.strerror}", file=sys.stderr)
            return EXIT_USAGE
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return EXIT_OK


async def _serve(args: argparse.Namespace) -> int:
    from tui.sim.server import SimServer

    server = SimServer(
        host=args.host,
        port=args.port,
        token=args.token,
        instances=args.instances,
        step_seconds=args.step_seconds,
        fail_rate=args.fail_rate,
        seed=args.seed,
        comfyui_url=args.comfyui_url,
        output_dir=args.output_dir,
        service=args.service,
        comfyui_version=args.comfyui_version,
        **({"oss_key": args.oss_key} if args.oss_key else {}),
    )
    try:
        await server.start()
    except OSError as error:
        await server.stop()
        print(f"comfyq sim: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signal_number, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C arrives as KeyboardInterrupt instead
            pass

    print(f"comfyq sim listening on {server.base_url}")
    print(f"  API edition input URL: {server.api_input_url}   (sink: {args.service}/sink, endpoint {server.endpoint})")
    print(f"  dedicated edition URL: {server.dedicated_url}/   (ComfyUI {args.comfyui_version})")
    print(f"  outputs in: {server.output_dir}")
    print(f"  OSS endpoint: {server.base_url}  (bucket {server.oss.bucket}, outputs under {server.oss.bucket_path}/output/)")
    if args.oss_key is None:  # the fixed demo pair is no secret; a pair the user chose is not echoed
        print("  OSS keys it accepts (set them to preview and pull):")
        print(f"    export OSS_ACCESS_KEY_ID={server.oss.access_key_id} OSS_ACCESS_KEY_SECRET={server.oss.access_key_secret}")
    print()
    print("# paste into your comfyq config.toml:")
    print(server.config_snippet())
    print("Press Ctrl+C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
    print("comfyq sim stopped", flush=True)
    return EXIT_OK
