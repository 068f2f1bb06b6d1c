"""Turn what a server said about a job into one outcome: state, failure, outputs, prompt_id, raw text.

Three sources, one vocabulary:
- ComfyUI `GET /history/<id>` entries (dedicated edition and local ComfyUI);
- ComfyUI `POST /prompt` answers (accepted, partly valid, rejected with node errors, malformed-body 500s, 403);
- EAS sink payloads of the API edition (protocols/eas-queue.md §6): the executed events + final outputs array,
  the cached one-element form, a `lastCode` tag, a validation body, execution_error events, `{"success": false}`,
  and anything else (-> state `unknown`, raw kept).

Everything a user reads names what failed (node id, class_type, input, reason). Nothing here raises on odd input
except :class:`PayloadError` from :func:`parse_history_response`, whose caller treats it as a transport problem.
(~610 lines: the three sources share their failure and output readers; split apart they would import each other.)
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tui.core.jobs import Failure, FailureCategory, JobState, NodeError, Output

EXCERPT_LIMIT = 200

# Sink `lastCode` convention (non-authoritative, eas-queue.md §6.2): a 4xx means the service refused the job's
# input (REJECTED), 401/403 means the worker's call was not authorized (AUTH), and a 5xx means the job reached the
# worker and failed there (EXECUTION): the sink item is a final answer, not a network hiccup worth retrying as
# transport trouble.
_SINK_CODE_CATEGORIES = ((401, FailureCategory.AUTH), (403, FailureCategory.AUTH))

NO_FILES_WARNING = "finished but produced no files"
AUTH_REFUSED = "the server refused the request (wrong token, or an Origin header it rejects)"
MALFORMED_500_HINT = (
    "ComfyUI answers this when the request body is not a valid API-format prompt "
    "(not JSON, `prompt` not an object, or a UI-format workflow)"
)

_NODE_ID_IN_DETAILS = re.compile(r"Node ID '#?([^']+)'")
_MISSING_CLASS = re.compile(r"node (\S+) does not exist")


class PayloadError(ValueError):
    """An answer that is not even the right kind of document (not JSON, not an object)."""


@dataclass(frozen=True)
class Outcome:
    state: JobState  # SUCCEEDED / FAILED / UNKNOWN (CANCELLED is never produced here)
    failure: Failure | None = None
    outputs: tuple[Output, ...] = ()
    prompt_id: str | None = None
    warning: str | None = None
    raw: str = ""

    @property
    def message(self) -> str:
        """One human line: why it failed, or how many files it made (and any warning), or the warning."""
        if self.failure is not None:
            return self.failure.message
        if self.outputs:
            count = len(self.outputs)
            line = f"{count} output{'s' if count != 1 else ''}"
            return f"{line}; {self.warning}" if self.warning else line
        return self.warning or self.state.value


@dataclass(frozen=True)
class SubmitAnswer:
    """What POST /prompt said."""

    accepted: bool
    prompt_id: str | None = None
    number: int | None = None
    failure: Failure | None = None
    warning: str | None = None


# ---------------------------------------------------------------------------------------------------- text helpers


def _redact(text: str) -> str:
    from tui.core import secrets  # lazy: the secrets module must not be a load-time dependency of the parser

    return secrets.redact(text)


def _decode(body: bytes | str) -> str:
    """Text of a body; bytes that are not UTF-8 are kept visibly (repr) instead of being silently mangled."""
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return repr(body)


def excerpt(body: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """A short one-line excerpt of a body for a message, with secrets redacted."""
    # Redact before cutting, so a token split by the cut cannot slip through half-masked.
    text = " ".join(_redact(_decode(body)).split())
    if not text:
        return "(empty body)"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _status_words(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _raw_of(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _is_map(value: Any) -> bool:
    """isinstance(value, Mapping), with the common case (a dict from json.loads) first: the ABC check costs ~10x."""
    return type(value) is dict or isinstance(value, Mapping)


def _node_sort_key(node_id: str) -> tuple[int, int | str]:
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


# ---------------------------------------------------------------------------------------------------- outputs


def outputs_from(outputs: Any) -> tuple[Output, ...]:
    """Every file of a ComfyUI `outputs` object: each list value of each node that holds dicts with `filename`.

    Covers images, gifs, audio, … and keeps temp files (PreviewImage); values like `animated: [true]` are skipped.
    """
    if not _is_map(outputs):
        return ()
    # A dict keeps the order files were first seen and makes the duplicate check O(1) (a list made 20,000 outputs
    # quadratic: 26 s on the UI loop).
    found: dict[Output, None] = {}
    for node_id, ui in outputs.items():
        if not _is_map(ui):
            continue
        for value in ui.values():
            if not isinstance(value, list):
                continue
            for item in value:
                if _is_map(item) and item.get("filename"):
                    metadata = item.get("metadata") if _is_map(item.get("metadata")) else {}
                    output = Output(
                        node_id=str(node_id),
                        type=str(item.get("type") or "output"),
                        subfolder=str(item.get("subfolder") or ""),
                        filename=str(item["filename"]),
                        width=_pixels(metadata.get("width")),  # newer servers (0.38+) say the size
                        height=_pixels(metadata.get("height")),
                    )
                    found.setdefault(output, None)
    return tuple(found)


def _pixels(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _is_outputs_object(value: Any) -> bool:
    """A ComfyUI outputs map: node id -> {key: [..]}; the final element of a sink array."""
    if not _is_map(value) or _is_event(value):
        return False
    return all(
        _is_map(ui) and all(isinstance(item, list) for item in ui.values()) for ui in value.values()
    )


def _is_event(value: Any) -> bool:
    return _is_map(value) and isinstance(value.get("type"), str) and "data" in value


# ---------------------------------------------------------------------------------------------------- failures


def execution_failure(data: Mapping[str, Any]) -> Failure:
    """An `execution_error` payload -> EXECUTION: "node <id> <class_type>: <exception_type>: <message>"."""
    node_id = _str_or_none(data.get("node_id"))
    class_type = _str_or_none(data.get("node_type"))
    exception_type = _str_or_none(data.get("exception_type"))
    exception_message = str(data.get("exception_message") or "").strip()
    reason = ": ".join(part for part in (exception_type, exception_message) if part) or "failed without a message"
    traceback = data.get("traceback")
    if isinstance(traceback, str):
        traceback = [traceback]
    return Failure(
        category=FailureCategory.EXECUTION,
        message=f"{_node_label(node_id, class_type)}: {reason}",
        node_id=node_id,
        class_type=class_type,
        exception_type=exception_type,
        traceback=tuple(str(line) for line in traceback) if isinstance(traceback, list) else (),
    )


def interrupted_failure(data: Mapping[str, Any]) -> Failure:
    """An `execution_interrupted` payload: the node named is the one that was about to start."""
    node_id = _str_or_none(data.get("node_id"))
    class_type = _str_or_none(data.get("node_type"))
    where = f" before {_node_label(node_id, class_type)}" if node_id or class_type else ""
    return Failure(
        category=FailureCategory.INTERRUPTED,
        message=f"interrupted{where}",
        node_id=node_id,
        class_type=class_type,
    )


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _node_label(node_id: str | None, class_type: str | None) -> str:
    parts = ["node", node_id or "?"]
    if class_type:
        parts.append(class_type)
    return " ".join(parts)


def _error_reason(error: Mapping[str, Any]) -> tuple[str, str]:
    """(input name, reason) of one ComfyUI validation error, e.g. ("ckpt_name", "ckpt_name 'x' not in []")."""
    message = str(error.get("message") or error.get("type") or "invalid").strip()
    details = str(error.get("details") or "").strip()
    extra = error.get("extra_info") if _is_map(error.get("extra_info")) else {}
    input_name = str(extra.get("input_name") or "")
    if error.get("type") == "exception_during_inner_validation":
        # The input name here belongs to the downstream node, so it would mislead; the exception says what broke.
        exc_type = str(extra.get("exception_type") or "")
        detail = f"{exc_type}: {details}" if exc_type and details else (exc_type or details)
        return input_name, f"{message}: {detail}" if detail else message
    if input_name and details.startswith(f"{input_name}: "):  # value_not_in_list: "ckpt_name: 'x' not in [...]"
        return input_name, f"{input_name} {details[len(input_name) + 2:]}"
    if input_name and details.startswith(f"{input_name}, "):  # invalid_input_type / return_type_mismatch
        return input_name, f"{input_name}: {message}: {details[len(input_name) + 2:]}"
    if not details or details == input_name:
        return input_name, f"{input_name}: {message}" if input_name else message
    return input_name, f"{input_name}: {message}: {details}" if input_name else f"{message}: {details}"


def describe_node_errors(node_errors: Mapping[str, Any]) -> tuple[str, tuple[NodeError, ...]]:
    """ComfyUI `node_errors` -> one message ("node 4 CheckpointLoaderSimple: ckpt_name '…' not in []"; several
    errors joined by "; ") and one NodeError per error."""
    if not _is_map(node_errors):
        return "", ()
    lines: list[str] = []
    found: list[NodeError] = []
    for node_id in sorted((str(key) for key in node_errors), key=_node_sort_key):
        entry = node_errors.get(node_id)
        if entry is None:  # keys that were not strings
            entry = next((v for k, v in node_errors.items() if str(k) == node_id), {})
        entry = entry if _is_map(entry) else {}
        class_type = str(entry.get("class_type") or "")
        label = _node_label(node_id, class_type)
        listed = entry.get("errors")
        errors = [e for e in listed if _is_map(e)] if isinstance(listed, list) else []
        if not errors:
            lines.append(f"{label}: failed validation")
            found.append(NodeError(node_id=node_id, class_type=class_type, type="", message="failed validation"))
            continue
        for error in errors:
            input_name, reason = _error_reason(error)
            lines.append(f"{label}: {reason}")
            found.append(
                NodeError(
                    node_id=node_id,
                    class_type=class_type,
                    type=str(error.get("type") or ""),
                    message=str(error.get("message") or ""),
                    details=str(error.get("details") or ""),
                    input_name=input_name,
                )
            )
    return "; ".join(lines), tuple(found)


def _dependent_outputs(node_errors: Mapping[str, Any]) -> list[str]:
    outputs: list[str] = []
    for entry in node_errors.values():
        if _is_map(entry):
            listed = entry.get("dependent_outputs")
            for output in listed if isinstance(listed, list) else ():
                if str(output) not in outputs:
                    outputs.append(str(output))
    return sorted(outputs, key=_node_sort_key)


def is_validation_body(value: Any) -> bool:
    """ComfyUI's `{"error": {...}, "node_errors": {...}}` rejection body."""
    if not _is_map(value) or "error" not in value:
        return False
    error = value["error"]
    return "node_errors" in value or (_is_map(error) and ("type" in error or "message" in error))


def validation_failure(body: Mapping[str, Any]) -> Failure:
    """A ComfyUI rejection body -> REJECTED, naming the node, class_type, input and reason whenever it can."""
    error = body.get("error")
    node_errors = body.get("node_errors") if _is_map(body.get("node_errors")) else {}
    message, errors = describe_node_errors(node_errors)
    if errors and all(e.type == "dependency_cycle" for e in errors):
        # Newer servers (0.38+) name the cycle on every node in it: say it once.
        cycle = errors[0].details or ", ".join(f"{e.node_id} ({e.class_type})" for e in errors)
        message = f"dependency cycle between nodes: {cycle}"
    if errors:
        first = errors[0]
        return Failure(
            category=FailureCategory.REJECTED,
            message=message,
            node_id=first.node_id,
            class_type=first.class_type or None,
            node_errors=errors,
        )
    if _is_map(error):
        error_type = str(error.get("type") or "")
        text = str(error.get("message") or error_type or "rejected").strip()
        details = str(error.get("details") or "").strip()
    else:
        error_type, text, details = "", str(error or "rejected").strip(), ""
    node_id = class_type = None
    node_match = _NODE_ID_IN_DETAILS.search(details)
    extra = error.get("extra_info") if _is_map(error) and _is_map(error.get("extra_info")) else {}
    if error_type == "missing_node_type" and extra.get("node_id") is not None:
        # Newer servers (0.38+): the node and its class are in extra_info.
        node_id = str(extra["node_id"])
        class_type = str(extra["class_type"]) if extra.get("class_type") is not None else None
        message = f"node {node_id}: {text}"
    elif node_match:  # invalid_prompt: the node id is only inside `details` ("Node ID '#2'")
        node_id = node_match.group(1)
        class_match = _MISSING_CLASS.search(text)
        class_type = class_match.group(1) if class_match else None
        message = f"node {node_id}: {text}"
    elif error_type == "prompt_outputs_failed_validation" and not details:
        # A dependency cycle answers exactly this: no node, no details.
        message = f"{text}, and the server named no node (a dependency cycle between nodes gives this)"
    elif error_type == "prompt_no_outputs":
        message = f"{text} (the workflow needs an output node such as SaveImage)"
    elif details and details != text:
        message = f"{text}: {details}"
    else:
        message = text
    return Failure(category=FailureCategory.REJECTED, message=message, node_id=node_id, class_type=class_type)


def failure_from_http(status: int, body: bytes | str, *, what: str) -> Failure:
    """A non-2xx answer -> Failure: AUTH for 401/403, REJECTED for a ComfyUI validation body, else TRANSPORT."""
    text = _decode(body)
    ok, parsed = _loads(text)
    if status in (401, 403):
        suffix = f" ({excerpt(text)})" if text.strip() else ""
        return Failure(FailureCategory.AUTH, f"{what}: {_status_words(status)}: {AUTH_REFUSED}{suffix}")
    if ok and 400 <= status < 500 and is_validation_body(parsed):
        failure = validation_failure(parsed)
        return Failure(
            category=FailureCategory.REJECTED,
            message=f"{what}: {failure.message}",
            node_id=failure.node_id,
            class_type=failure.class_type,
            node_errors=failure.node_errors,
        )
    return Failure(FailureCategory.TRANSPORT, f"{what}: {_status_words(status)}: {excerpt(text)}")


# ---------------------------------------------------------------------------------------------------- history


def parse_history_entry(
    entry: Mapping[str, Any], prompt_id: str | None = None, *, raw: str | None = None
) -> Outcome:
    """One `/history/<id>` value -> Outcome. An execution error or interrupt fails the job even if some branch
    already wrote files (those outputs are kept); a success without files gets a warning."""
    raw_text = raw if raw is not None else _raw_of(entry)
    if not _is_map(entry):
        return _unrecognised(raw_text)
    outputs = outputs_from(entry.get("outputs"))
    prompt = entry.get("prompt")
    if prompt_id is None and isinstance(prompt, list) and len(prompt) > 1 and prompt[1] is not None:
        prompt_id = str(prompt[1])
    status = entry.get("status") if _is_map(entry.get("status")) else {}
    messages = status.get("messages") if isinstance(status.get("messages"), list) else []
    for item in messages:
        if not (isinstance(item, (list, tuple)) and len(item) >= 2 and _is_map(item[1])):
            continue
        name, data = item[0], item[1]
        if prompt_id is None and data.get("prompt_id"):
            prompt_id = str(data["prompt_id"])
        if name == "execution_error":
            return Outcome(JobState.FAILED, execution_failure(data), outputs, prompt_id, raw=raw_text)
        if name == "execution_interrupted":
            return Outcome(JobState.FAILED, interrupted_failure(data), outputs, prompt_id, raw=raw_text)
    status_str = status.get("status_str")
    if status_str == "error":
        failure = Failure(FailureCategory.EXECUTION, "ComfyUI reported an error but gave no details")
        return Outcome(JobState.FAILED, failure, outputs, prompt_id, raw=raw_text)
    if status_str == "success" or status.get("completed") is True or (not status and outputs):
        warning = None if outputs else NO_FILES_WARNING
        return Outcome(JobState.SUCCEEDED, None, outputs, prompt_id, warning=warning, raw=raw_text)
    return Outcome(
        JobState.UNKNOWN,
        None,
        outputs,
        prompt_id,
        warning=f"unrecognised history entry: {excerpt(raw_text)}",
        raw=raw_text,
    )


def parse_history_response(body: bytes | str | Mapping[str, Any], prompt_id: str) -> Outcome | None:
    """The whole `GET /history/<id>` body. None when the id is absent (`{}`: unknown, pending, running or deleted —
    /history cannot tell these apart). Raises PayloadError for a body that is not a JSON object."""
    if _is_map(body):
        data: Any = body
        raw = _raw_of(body)
    else:
        raw = _decode(body)
        ok, data = _loads(raw)
        if not ok:
            raise PayloadError(f"not JSON: {excerpt(raw)}")
    if not _is_map(data):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}: {excerpt(raw)}")
    if prompt_id not in data:
        return None
    entry = data[prompt_id]
    if not _is_map(entry):
        raise PayloadError(f"history entry of {prompt_id} is a {type(entry).__name__}, not an object")
    return parse_history_entry(entry, prompt_id, raw=raw)


# ---------------------------------------------------------------------------------------------------- POST /prompt


def parse_prompt_response(status: int, body: bytes, content_type: str | None = None) -> SubmitAnswer:
    """What a POST /prompt answer means (see the fixture README, "POST /prompt")."""
    text = _decode(body)
    ok, parsed = _loads(text)
    if status in (401, 403):
        return SubmitAnswer(False, failure=Failure(FailureCategory.AUTH, f"{_status_words(status)}: {AUTH_REFUSED}"))
    if 200 <= status < 300:
        if ok and _is_map(parsed) and parsed.get("prompt_id"):
            number = parsed.get("number")
            node_errors = parsed.get("node_errors")
            warning = None
            if _is_map(node_errors) and node_errors:
                # Partly valid prompt: ComfyUI runs only the outputs whose inputs validated.
                message, _ = describe_node_errors(node_errors)
                skipped = _dependent_outputs(node_errors)
                if skipped:
                    which = f"output{'s' if len(skipped) != 1 else ''} {', '.join(skipped)}"
                else:
                    which = "some outputs"
                warning = f"{which} skipped: {message}"
            return SubmitAnswer(
                True,
                prompt_id=str(parsed["prompt_id"]),
                number=number if isinstance(number, int) and not isinstance(number, bool) else None,
                warning=warning,
            )
        message = f"POST /prompt answered {_status_words(status)} without a prompt id: {excerpt(text)}"
        return SubmitAnswer(False, failure=Failure(FailureCategory.TRANSPORT, message))
    if 400 <= status < 500 and ok and is_validation_body(parsed):
        return SubmitAnswer(False, failure=validation_failure(parsed))
    if status == 500 and not (ok and _is_map(parsed)):
        # ComfyUI's aiohttp answers 500 text/plain when it cannot read the body: the request is at fault.
        message = (
            f"POST /prompt: the server could not read the request ({_status_words(status)}: {excerpt(text)}); "
            f"{MALFORMED_500_HINT}"
        )
        return SubmitAnswer(False, failure=Failure(FailureCategory.REJECTED, message))
    return SubmitAnswer(False, failure=failure_from_http(status, text, what="POST /prompt"))


# ---------------------------------------------------------------------------------------------------- sink payloads


def _unrecognised(raw: str, why: str | None = None) -> Outcome:
    detail = f"{why}: {excerpt(raw)}" if why else excerpt(raw)
    return Outcome(JobState.UNKNOWN, warning=f"unrecognised result: {detail}", raw=raw)


def _sink_code(tags: Mapping[str, str]) -> int | None:
    value = tags.get("lastCode")
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _category_for_code(code: int) -> FailureCategory:
    for known, category in _SINK_CODE_CATEGORIES:
        if code == known:
            return category
    return FailureCategory.REJECTED if code < 500 else FailureCategory.EXECUTION


def _event_failure(events: Sequence[Mapping[str, Any]]) -> Failure | None:
    for event in events:
        data = event.get("data") if _is_map(event.get("data")) else {}
        if event.get("type") == "execution_error":
            return execution_failure(data)
        if event.get("type") == "execution_interrupted":
            return interrupted_failure(data)
    return None


def _events_prompt_id(events: Sequence[Mapping[str, Any]]) -> str | None:
    for event in events:
        data = event.get("data")
        if _is_map(data) and data.get("prompt_id"):
            return str(data["prompt_id"])
    return None


def _executed_outputs(events: Sequence[Mapping[str, Any]]) -> tuple[Output, ...]:
    merged: dict[str, Any] = {}
    for event in events:
        data = event.get("data")
        if event.get("type") == "executed" and _is_map(data) and data.get("node") is not None:
            merged[str(data["node"])] = data.get("output") or {}
    return outputs_from(merged)


def _error_msg(value: Mapping[str, Any]) -> str:
    """The text of a `{"success": false, "error_msg": …}` body."""
    return str(value.get("error_msg") or value.get("message") or value.get("error") or "").strip()


def _interpret(value: Any, raw: str) -> Outcome | None:
    """A decoded sink payload -> Outcome, or None when it is no known form."""
    if isinstance(value, list):
        if not value or not all(_is_map(item) for item in value):
            return None
        for item in value:
            if is_validation_body(item):
                return Outcome(JobState.FAILED, validation_failure(item), raw=raw)
        last = value[-1]
        last_is_event = _is_event(last)
        events = value if last_is_event else value[:-1]
        if not all(_is_event(item) for item in events):
            return None  # the documented array is events, then (optionally) the outputs object
        prompt_id = _events_prompt_id(events)
        last_is_outputs = not last_is_event and _is_outputs_object(last)
        # Filenames come from the LAST element (the history outputs); the executed events only if it is missing.
        outputs = outputs_from(last) if last_is_outputs else _executed_outputs(events)
        failure = _event_failure(events)
        if failure is not None:
            return Outcome(JobState.FAILED, failure, outputs, prompt_id, raw=raw)
        if not last_is_outputs and not any(event.get("type") == "executed" for event in events):
            return None
        warning = None if outputs else NO_FILES_WARNING
        return Outcome(JobState.SUCCEEDED, None, outputs, prompt_id, warning=warning, raw=raw)
    if not _is_map(value):
        return None
    if is_validation_body(value):
        return Outcome(JobState.FAILED, validation_failure(value), raw=raw)
    if value.get("success") is False:
        text = _error_msg(value)
        message = f"the service reported a failure: {text}" if text else "the service reported a failure (no message)"
        return Outcome(JobState.FAILED, Failure(FailureCategory.EXECUTION, _redact(message)), raw=raw)
    if _is_event(value):
        return _interpret([value], raw)
    if "outputs" in value and "status" in value:  # a history entry handed over as is
        outcome = parse_history_entry(value, raw=raw)
        return outcome if outcome.state is not JobState.UNKNOWN else None
    if value and _is_outputs_object(value):  # the cached form without its array
        outputs = outputs_from(value)
        return Outcome(JobState.SUCCEEDED, None, outputs, warning=None if outputs else NO_FILES_WARNING, raw=raw)
    if len(value) == 1:  # {prompt_id: history entry}
        [(key, entry)] = value.items()
        if _is_map(entry) and "outputs" in entry and "status" in entry:
            outcome = parse_history_entry(entry, str(key), raw=raw)
            return outcome if outcome.state is not JobState.UNKNOWN else None
    return None


def parse_sink_payload(data: bytes, tags: Mapping[str, str]) -> Outcome:
    """One sink item's `data` + tags -> Outcome. Never raises; unknown shapes become UNKNOWN with the raw kept."""
    raw = _decode(data)
    ok, value = _loads(raw)
    code = _sink_code(tags)
    if code is not None and code >= 400:
        # A validation body or error events say more than the code; anything else is categorised by the code.
        success_false = ok and _is_map(value) and value.get("success") is False
        if ok and not success_false:
            outcome = _interpret(value, raw)
            if outcome is not None and outcome.state is JobState.FAILED:
                return outcome
        category = _category_for_code(code)
        detail = _redact(_error_msg(value)) if success_false and _error_msg(value) else excerpt(raw)
        if category is FailureCategory.AUTH:
            detail = f"{AUTH_REFUSED}: {detail}"
        message = f"the worker answered {_status_words(code)}: {detail}"
        return Outcome(JobState.FAILED, Failure(category, message), raw=raw)
    if not ok:
        return _unrecognised(raw, "not JSON")
    outcome = _interpret(value, raw)
    return outcome if outcome is not None else _unrecognised(raw)
