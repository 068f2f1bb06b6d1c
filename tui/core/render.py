"""One job as plain data: the `--json` shape of the CLI, reused by the TUI for exports.

The shape is a public surface (scripts parse it), so fields are only ever added, never renamed:

    id, profile, edition, state, failure {category, message, node_id, class_type}, task_id, prompt_id,
    queue_index, sink_index, request_id, submitted_at, started_at, finished_at, progress,
    outputs [{node_id, type, subfolder, filename, oss_path}], parent_id, attempt

plus `warning`, `queue_position`, `external`, `batch`, `params` (the --set / sweep values and seeds the job was
sent with, keyed `NODE.INPUT`), `seed` (its first seed, or null), `unreachable_since` (an in-flight job whose server
does not answer: since when) and `submit_time_known`. Timestamps are ISO 8601 in UTC; `oss_path` is composed from the
profile's OSS bucket path and is null for temp files, for a profile without a bucket path, or when the profile
is no longer configured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tui.core.batch import job_seed
from tui.core.jobs import Job, Output
from tui.core.presentation import output_location

if TYPE_CHECKING:
    from tui.core.config import Profile

def iso_utc(timestamp: float | None) -> str | None:
    """Unix time → ISO 8601 UTC with milliseconds (`2026-11-26T23:36:07.123+00:00`), None stays None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="milliseconds")


def output_to_dict(output: Output, profile: Profile | None) -> dict[str, Any]:
    return {
        "node_id": output.node_id,
        "type": output.type,
        "subfolder": output.subfolder,
        "filename": output.filename,
        "oss_path": output_location(output, profile).path,
    }


def job_to_dict(job: Job, profile: Profile | None) -> dict[str, Any]:
    """The `--json` object of one job. `profile` is the job's profile (None when it is not configured)."""
    failure = None
    if job.failure is not None:
        failure = {
            "category": job.failure.category.value,
            "message": job.failure.message,
            "node_id": job.failure.node_id,
            "class_type": job.failure.class_type,
        }
    progress = None
    if job.progress is not None:
        progress = {
            "node_id": job.progress.node_id,
            "class_type": job.progress.class_type,
            "value": job.progress.value,
            "max": job.progress.max,
        }
    return {
        "id": job.id,
        "profile": job.profile,
        "edition": job.edition.value,
        "state": job.state.value,
        "failure": failure,
        "task_id": job.task_id,
        "prompt_id": job.prompt_id,
        "queue_index": job.queue_index,
        "sink_index": job.sink_index,
        "request_id": job.request_id,
        "submitted_at": iso_utc(job.submitted_at),
        "started_at": iso_utc(job.started_at),
        "finished_at": iso_utc(job.finished_at),
        "progress": progress,
        "outputs": [output_to_dict(output, profile) for output in job.outputs],
        "parent_id": job.parent_id,
        "attempt": job.attempt,
        "warning": job.warning,
        "queue_position": job.queue_position,
        "external": job.external,
        "batch": job.batch,
        "params": job.params,
        "seed": job_seed(job.params, job.workflow),
        "unreachable_since": iso_utc(job.unreachable_since),
        # False for an external job whose service did not say when it was submitted: submitted_at is then when
        # comfyq first saw it.
        "submit_time_known": job.submit_time_known,
    }


# What json.dumps(ensure_ascii=False) leaves raw but must not reach a terminal (C1 controls, bidi overrides) or
# cannot be written as UTF-8 at all (lone surrogates). json.dumps already escapes C0 controls and DEL is harmless in
# JSON text, but is escaped too. Such characters can only sit inside JSON strings, where `\uXXXX` is the same value.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def job_to_json(job: Job, profiles: Mapping[str, Profile]) -> str:
    """One line of `--json` output (no newline): the exact values, with nothing in it that could steer a terminal
    or fail to encode (those characters are `\\uXXXX` escapes, which every JSON reader reads back as the same)."""
    text = json.dumps(job_to_dict(job, profiles.get(job.profile)), ensure_ascii=False, separators=(", ", ": "))
    return _JSON_UNSAFE.sub(_json_escape, text)
