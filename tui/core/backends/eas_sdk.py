"""The `eas_prediction` SDK, imported on first use, and the one QueueClient a sink watcher uses.

The SDK pulls in protobuf and numpy (~90 ms) that `comfyq submit` (plain HTTP) never needs, so nothing imports it
at module level. comfyq uses the SDK for what it does right (the queue's URL and identity headers, `commit`, the
frame type) and nothing else: its `Watcher` cannot be stopped and reconnects in a tight loop (protocols/eas-queue.md
§4.6), so the receive loop is comfyq's own (`sink_watcher.py`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eas_prediction import QueueClient
    from eas_prediction.queue_types.queueservice_pb2 import DataFrameProto

    from tui.core.config import Profile

# The SDK's per-request read timeout is at most this (its long-polls answer within 5 s; protocols §2.3).
SDK_TIMEOUT_CAP = 5.0


def sdk() -> tuple[type[QueueClient], type[DataFrameProto]]:
    """The SDK's queue client and frame type (imported now, once)."""
    with warnings.catch_warnings():
        # The SDK's generated protobuf modules use deprecated descriptor calls; that is its business, not the user's.
        warnings.simplefilter("ignore", DeprecationWarning)
        from eas_prediction import QueueClient
        from eas_prediction.queue_types.queueservice_pb2 import DataFrameProto
    return QueueClient, DataFrameProto


def consumer_uid(profile_name: str) -> str:
    """A consumer id per profile, host and process. Per process: two comfyq processes on one profile (the TUI and
    a `comfyq submit --wait`) are two consumers of the group and share the results, instead of taking one id from
    each other twice a second. A crashed process's uncommitted items go back to the group (its other consumers,
    or the next comfyq that starts)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname() or "host")
    digest = hashlib.sha1(profile_name.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", profile_name)[:32]
    return f"comfyq-{host}-{name}-{digest}-{os.getpid()}"


def sink_queue_client(profile: Profile, uid: str) -> QueueClient:
    """The SDK's client of `<service>/sink` for this profile and consumer id (no I/O happens here)."""
    endpoint = str(profile.endpoint)
    sink = f"{profile.service}/sink"
    queue_client, _ = sdk()
    client = queue_client(endpoint, sink)
    # The SDK gives every client a logger that prints to stdout: never let it write over the terminal.
    logging.getLogger(f"{endpoint}/{sink}").handlers.clear()
    client.set_token(profile.token or "")
    client.set_timeout(int(min(float(profile.request_timeout or SDK_TIMEOUT_CAP), SDK_TIMEOUT_CAP) * 1000))
    client.set_retry_count(1)
    client.init(uid=uid, gid=profile.consumer_group)
    client.set_logger(logging.getLogger("tui.core.backends.eas_sdk"))
    return client
