"""Placeholder: filled in by the work that owns `comfyq locate`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Nothing registered yet."""


def run(args: argparse.Namespace) -> int:
    print("comfyq: this command is not built yet")
    return 2
