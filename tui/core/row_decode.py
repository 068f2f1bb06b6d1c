"""Reading one stored job row, strictly: a row that cannot be decoded becomes an `unknown` stand-in, never an error.

A store may hold a row no version of comfyq wrote as such (a hand edit, a disk error, a future version's field):
bad JSON in a column, an unknown state or edition, a field of the wrong type. Raising for it would make every
listing that includes it fail (`jobs`, `show`, `resubmit --failed`, the TUI table). `decode_row` checks each field
the rest of comfyq relies on and, when something is off, returns a stand-in job in state `unknown` whose warning
says which field and why; the store never writes a stand-in back over the row (the original stays for a person to
look at). No Textual here.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeGuard

from tui.core.jobs import Edition, FailureCategory, Job, JobState

UNREADABLE_WARNING = "this row of the job store could not be read"


class RowError(ValueError):
    """A stored row is not a job comfyq can use; the message names the field."""


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional(fields: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> None:
    value = fields.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise RowError(f"{key} is {type(value).__name__}, not {getattr(kind, '__name__', 'the expected type')}")


def check_fields(fields: Any) -> None:
    """Raise RowError when `fields` (a job's stored `data`) is not shaped as `Job.to_dict` writes it."""
    if not isinstance(fields, dict):
        raise RowError(f"the data is {type(fields).__name__}, not an object")
    for key in ("id", "profile"):
        if not isinstance(fields.get(key), str):
            raise RowError(f"{key} is missing or not text")
    try:
        Edition(fields.get("edition"))
    except ValueError:
        raise RowError(f"unknown edition {fields.get('edition')!r}") from None
    try:
        JobState(fields.get("state", JobState.SUBMITTING.value))
    except ValueError:
        raise RowError(f"unknown state {fields.get('state')!r}") from None
    for key in ("task_id", "prompt_id", "client_id", "request_id", "warning", "raw_result", "parent_id", "batch"):
        _optional(fields, key, str)
    for key in ("queue_index", "sink_index", "queue_position"):
        _optional(fields, key, int)
    attempt = fields.get("attempt", 1)
    if not isinstance(attempt, int) or isinstance(attempt, bool):
        raise RowError(f"attempt is {type(attempt).__name__}, not int")
    stamps = fields.get("timestamps") or {}
    if not isinstance(stamps, dict) or not all(isinstance(k, str) and _is_number(v) for k, v in stamps.items()):
        raise RowError("timestamps are not state names with times")
    outputs = fields.get("outputs") or []
    if not isinstance(outputs, list):
        raise RowError(f"outputs is {type(outputs).__name__}, not a list")
    for output in outputs:
        if not isinstance(output, dict) or not all(isinstance(output.get(k, ""), str) for k in
                                                   ("node_id", "type", "subfolder", "filename")):
            raise RowError("an output is not a file description")
    progress = fields.get("progress")
    if progress is not None and (
        not isinstance(progress, dict) or not all(_is_number(progress.get(k, 0) or 0) for k in ("value", "max"))
    ):
        raise RowError("progress is not a node and counters")
    failure = fields.get("failure")
    if failure is not None:
        if not isinstance(failure, dict) or not isinstance(failure.get("message", ""), str):
            raise RowError("failure is not a category and a message")
        try:
            FailureCategory(failure.get("category"))
        except ValueError:
            raise RowError(f"unknown failure category {failure.get('category')!r}") from None
        if not isinstance(failure.get("traceback") or [], list) or not isinstance(failure.get("node_errors") or [], list):
            raise RowError("failure details are not lists")
        if not all(isinstance(error, dict) for error in failure.get("node_errors") or []):
            raise RowError("a node error is not an object")
    for key in ("params",):
        if not isinstance(fields.get(key) or {}, dict):
            raise RowError(f"{key} is not an object")


def decode_row(job_id: str, data: Any, workflow: Any) -> tuple[Job, bool]:
    """(the job of a stored row, True) — or (an `unknown` stand-in saying what is wrong with it, False)."""
    fields: Any = None
    try:
        fields = json.loads(data) if isinstance(data, (str, bytes)) else data
        check_fields(fields)
        if workflow is not None and not isinstance(workflow, dict):
            raise RowError("the workflow is not an object")
        fields["workflow"] = workflow
        return Job.from_dict(fields), True
    except RecursionError:
        reason = "its data is nested too deeply"
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        reason = str(error) if isinstance(error, RowError) else f"its data is not valid ({type(error).__name__}: {error})"
    return stand_in(job_id, fields, reason), False


def stand_in(job_id: str, fields: Any, reason: str) -> Job:
    """An `unknown` job for an unreadable row: its id, and what of profile and times could be read."""
    known: dict[str, Any] = fields if isinstance(fields, dict) else {}
    profile = known.get("profile")
    try:
        edition = Edition(known.get("edition"))
    except ValueError:
        edition = Edition.DEDICATED
    stamps = known.get("timestamps")
    submitted = stamps.get(JobState.SUBMITTING.value) if isinstance(stamps, dict) else None
    timestamps = {JobState.SUBMITTING.value: float(submitted)} if _is_number(submitted) else {}
    return Job(
        id=str(job_id),
        profile=profile if isinstance(profile, str) else "?",
        edition=edition,
        workflow=None,
        state=JobState.UNKNOWN,
        timestamps=timestamps,
        warning=f"{UNREADABLE_WARNING} ({reason}); it is left as it is in the store",
    )
