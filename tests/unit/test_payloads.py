"""Result parsing over every captured ComfyUI answer and every sink payload form (tui/core/payloads.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.core import payloads, secrets
from tui.core.jobs import FailureCategory, Output
from tui.core.payloads import Outcome, PayloadError

from tests.payload_expectations import (
    AUTH,
    BLEND_MESSAGE,
    EXE,
    HISTORY_EXPECTED,
    INT,
    PROMPT_EXPECTED,
    REJ,
    SD15_MESSAGE,
    SINK_EXPECTED,
    TRN,
    F,
    S,
    U,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COMFYUI = FIXTURES / "comfyui"
SINK = FIXTURES / "sink"


def _meta_files() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(COMFYUI.glob("*.meta.json")):
        found.append((path.name[: -len(".meta.json")], json.loads(path.read_text())))
    return found


def _body(meta: dict[str, Any]) -> bytes:
    return (COMFYUI / meta["response"]["body_file"]).read_bytes()


HISTORY_BY_ID = {
    name: meta
    for name, meta in _meta_files()
    if meta["request"]["method"] == "GET" and meta["request"]["path"].startswith("/history/")
}
PROMPT_POSTS = {
    name: meta
    for name, meta in _meta_files()
    if meta["request"]["method"] == "POST" and meta["request"]["path"] == "/prompt"
}


def _sink_sample(name: str) -> tuple[bytes, dict[str, str]]:
    sample = json.loads((SINK / f"{name}.json").read_text())
    data = sample["data"].encode() if "data" in sample else base64.b64decode(sample["data_base64"])
    return data, sample["tags"]


# ------------------------------------------------------------------------------------------ every fixture covered


def test_every_history_fixture_has_an_expectation() -> None:
    assert sorted(HISTORY_BY_ID) == sorted(HISTORY_EXPECTED)


def test_every_prompt_fixture_has_an_expectation() -> None:
    assert sorted(PROMPT_POSTS) == sorted(PROMPT_EXPECTED)


def test_every_sink_sample_has_an_expectation() -> None:
    assert sorted(p.stem for p in SINK.glob("*.json")) == sorted(SINK_EXPECTED)


# ------------------------------------------------------------------------------------------ /history/<id>


@pytest.mark.parametrize("name", sorted(HISTORY_EXPECTED))
def test_history_fixture(name: str) -> None:
    meta = HISTORY_BY_ID[name]
    prompt_id = meta["request"]["path"].rsplit("/", 1)[1]
    body = _body(meta)
    outcome = payloads.parse_history_response(body, prompt_id)
    expected = HISTORY_EXPECTED[name]
    if expected is None:
        assert outcome is None
        return
    state, category, message, output_count = expected
    assert outcome is not None
    assert outcome.state is state
    assert (outcome.failure.category if outcome.failure else None) is category
    assert outcome.message == message
    assert len(outcome.outputs) == output_count
    assert outcome.prompt_id == prompt_id
    assert outcome.raw == body.decode()
    # The mapping form (an already decoded body) means the same thing.
    again = payloads.parse_history_response(json.loads(body), prompt_id)
    assert again is not None and (again.state, again.failure, again.outputs) == (
        outcome.state,
        outcome.failure,
        outcome.outputs,
    )


def _history_outcome(name: str) -> Outcome:
    meta = HISTORY_BY_ID[name]
    outcome = payloads.parse_history_response(_body(meta), meta["request"]["path"].rsplit("/", 1)[1])
    assert outcome is not None
    return outcome


def test_execution_error_keeps_node_exception_and_traceback_list() -> None:
    outcome = _history_outcome("05_get_history_id_exec_error_blend")
    failure = outcome.failure
    assert failure is not None
    assert (failure.node_id, failure.class_type, failure.exception_type) == ("3", "ImageBlend", "RuntimeError")
    entry = next(iter(json.loads(_body(HISTORY_BY_ID["05_get_history_id_exec_error_blend"])).values()))
    error = dict(entry["status"]["messages"])["execution_error"]
    assert failure.traceback == tuple(error["traceback"])
    assert len(failure.traceback) > 1
    assert not failure.message.endswith("\n")


def test_interrupted_names_the_node_about_to_start() -> None:
    failure = _history_outcome("06_get_history_id_interrupted_targeted").failure
    assert failure is not None
    assert (failure.category, failure.node_id, failure.class_type) == (INT, "11", "ImageBlur")
    assert failure.exception_type is None and failure.traceback == ()


def test_batch_outputs_keep_output_and_temp_files() -> None:
    outcome = _history_outcome("01b_get_history_id_batch_success")
    saved = [o for o in outcome.outputs if o.type == "output"]
    temp = [o for o in outcome.outputs if o.type == "temp"]
    assert [o.filename for o in saved] == [f"fixture_batch_0000{i}_.png" for i in range(1, 5)]
    assert {o.node_id for o in saved} == {"3"}
    assert len(temp) == 4 and {o.node_id for o in temp} == {"4"}
    assert all(o.filename.startswith("ComfyUI_temp_") and o.subfolder == "" for o in temp)


def test_success_output_tuple() -> None:
    outcome = _history_outcome("01_get_history_id_success")
    assert outcome.outputs == (Output("4", "output", "", "fixture_single_00001_.png"),)
    assert outcome.warning is None and outcome.failure is None


@pytest.mark.parametrize(
    "name", ["03_get_history_after_validation_errors", "04_get_history_all", "09_get_history_all_after_200"]
)
def test_every_entry_of_full_history_listings_parses(name: str) -> None:
    listing = json.loads((COMFYUI / f"{name}.json").read_text())
    assert listing
    for prompt_id, entry in listing.items():
        outcome = payloads.parse_history_entry(entry)
        assert outcome.state in (S, F), (prompt_id, outcome.message)
        assert outcome.prompt_id == prompt_id  # taken from entry["prompt"][1]
        if outcome.state is F:
            assert outcome.failure is not None and outcome.failure.message.startswith(("node ", "interrupted"))


def test_failed_entry_keeps_outputs_of_a_branch_that_ran_first() -> None:
    entry = json.loads(_body(HISTORY_BY_ID["05_get_history_id_mixed_good_and_failing"]))
    entry = next(iter(entry.values()))
    entry["outputs"] = {"4": {"images": [{"filename": "good_00001_.png", "subfolder": "", "type": "output"}]}}
    outcome = payloads.parse_history_entry(entry)
    assert outcome.state is F and outcome.failure is not None and outcome.failure.category is EXE
    assert outcome.outputs == (Output("4", "output", "", "good_00001_.png"),)
    assert outcome.message == BLEND_MESSAGE.replace("node 3 ", "node 13 ")


def test_outputs_of_any_list_kind_are_found() -> None:
    entry = {
        "outputs": {
            "15": {"images": [{"filename": "a.webp", "subfolder": "", "type": "output"}], "animated": [True]},
            "19": {"gifs": [{"filename": "v.mp4", "subfolder": "clips", "type": "output", "format": "video/h264"}]},
            "21": {"audio": [{"filename": "s.flac", "subfolder": "", "type": "output"}]},
            "22": {"text": ["no files here"]},
        },
        "status": {"status_str": "success", "completed": True, "messages": []},
    }
    outcome = payloads.parse_history_entry(entry, "p1")
    assert outcome.outputs == (
        Output("15", "output", "", "a.webp"),
        Output("19", "output", "clips", "v.mp4"),
        Output("21", "output", "", "s.flac"),
    )
    assert outcome.message == "3 outputs" and outcome.prompt_id == "p1"


def test_entry_without_status_or_outputs_is_unknown_not_success() -> None:
    outcome = payloads.parse_history_entry({"prompt": [1, "x", {}, {}, []]})
    assert outcome.state is U
    assert outcome.message.startswith("unrecognised history entry: ")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON: <html>502 Bad Gateway</html>"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'{"abc": "not an entry"}', "history entry of abc is a str"),
    ],
)
def test_unreadable_history_raises_payload_error(body: bytes, fragment: str) -> None:
    with pytest.raises(PayloadError) as caught:
        payloads.parse_history_response(body, "abc")
    assert fragment in str(caught.value)


def test_history_for_another_id_is_absent() -> None:
    body = (COMFYUI / "01_get_history_id_success.json").read_bytes()
    assert payloads.parse_history_response(body, "some-other-id") is None


# ------------------------------------------------------------------------------------------ POST /prompt


@pytest.mark.parametrize("name", sorted(PROMPT_EXPECTED))
def test_prompt_fixture(name: str) -> None:
    meta = PROMPT_POSTS[name]
    response = meta["response"]
    content_type = response["headers"].get("Content-Type")
    answer = payloads.parse_prompt_response(response["status"], _body(meta), content_type)
    accepted, category, text = PROMPT_EXPECTED[name]
    assert answer.accepted is accepted
    if accepted:
        body = json.loads(_body(meta))
        assert answer.failure is None
        assert (answer.prompt_id, answer.number) == (body["prompt_id"], body["number"])
        assert answer.warning == text
    else:
        assert answer.failure is not None and answer.prompt_id is None
        assert answer.failure.category is category
        assert answer.failure.message == text


def test_missing_checkpoint_node_errors_in_detail() -> None:
    meta = PROMPT_POSTS["02_post_prompt_sd15_missing_checkpoint"]
    failure = payloads.parse_prompt_response(400, _body(meta)).failure
    assert failure is not None
    assert (failure.node_id, failure.class_type) == ("4", "CheckpointLoaderSimple")
    (error,) = failure.node_errors
    assert (error.node_id, error.class_type, error.type, error.input_name) == (
        "4",
        "CheckpointLoaderSimple",
        "value_not_in_list",
        "ckpt_name",
    )
    assert error.details == "ckpt_name: '3dAnimationDiffusion_v10.safetensors' not in []"


def test_bad_values_report_every_error_of_every_node() -> None:
    failure = payloads.parse_prompt_response(400, _body(PROMPT_POSTS["03_post_prompt_bad_values"])).failure
    assert failure is not None
    assert [(e.node_id, e.input_name, e.type) for e in failure.node_errors] == [
        ("1", "height", "invalid_input_type"),
        ("1", "width", "value_bigger_than_max"),
        ("2", "sigma", "required_input_missing"),
        ("3", "upscale_method", "value_not_in_list"),
    ]


def test_unknown_class_type_node_is_recovered_from_details() -> None:
    failure = payloads.parse_prompt_response(400, _body(PROMPT_POSTS["03_post_prompt_unknown_class_type"])).failure
    assert failure is not None
    assert (failure.node_id, failure.class_type, failure.node_errors) == ("2", "NoSuchNodeType", ())


@pytest.mark.parametrize(
    ("status", "body", "category", "message"),
    [
        (
            401,
            b"",
            AUTH,
            "401 Unauthorized: the server refused the request (wrong token, or an Origin header it rejects)",
        ),
        (502, b"<html>bad gateway</html>", TRN, "POST /prompt: 502 Bad Gateway: <html>bad gateway</html>"),
        (503, b"", TRN, "POST /prompt: 503 Service Unavailable: (empty body)"),
        (404, b"404: Not Found", TRN, "POST /prompt: 404 Not Found: 404: Not Found"),
        (200, b"<html>hello</html>", TRN, "POST /prompt answered 200 OK without a prompt id: <html>hello</html>"),
        (200, b'{"number": 3}', TRN, 'POST /prompt answered 200 OK without a prompt id: {"number": 3}'),
    ],
)
def test_other_prompt_answers(status: int, body: bytes, category: FailureCategory, message: str) -> None:
    answer = payloads.parse_prompt_response(status, body, None)
    assert not answer.accepted
    assert answer.failure is not None
    assert (answer.failure.category, answer.failure.message) == (category, message)


def test_prompt_answer_excerpt_is_short() -> None:
    answer = payloads.parse_prompt_response(502, b"x" * 5000, "text/plain")
    assert answer.failure is not None
    assert len(answer.failure.message) < 260
    assert answer.failure.message.endswith("…")


# ------------------------------------------------------------------------------------------ sink payloads


@pytest.mark.parametrize("name", sorted(SINK_EXPECTED))
def test_sink_sample(name: str) -> None:
    data, tags = _sink_sample(name)
    outcome = payloads.parse_sink_payload(data, tags)
    state, category, message, prompt_id, filenames = SINK_EXPECTED[name]
    assert outcome.state is state
    assert (outcome.failure.category if outcome.failure else None) is category
    assert outcome.message == message
    assert outcome.prompt_id == prompt_id
    assert tuple(o.filename for o in outcome.outputs) == filenames
    # The raw text is always kept for the detail view: the body itself, or its repr when it is not UTF-8.
    try:
        assert outcome.raw == data.decode("utf-8")
    except UnicodeDecodeError:
        assert outcome.raw == repr(data)


def test_sink_raw_is_kept_verbatim_or_as_repr() -> None:
    text_data, tags = _sink_sample("other_json_object")
    assert payloads.parse_sink_payload(text_data, tags).raw == text_data.decode()
    binary, tags = _sink_sample("non_json_bytes")
    assert payloads.parse_sink_payload(binary, tags).raw == repr(binary)


def test_sink_filenames_come_from_the_last_element() -> None:
    data, tags = _sink_sample("outputs_in_subfolder_and_temp")
    outcome = payloads.parse_sink_payload(data, tags)
    assert outcome.outputs == (
        Output("9", "output", "portraits/2026", "shot_00001_.png"),
        Output("12", "temp", "", "ComfyUI_temp_abcde_00001_.png"),
    )
    assert "stale.png" not in {o.filename for o in outcome.outputs}


def test_sink_documented_form_output_details() -> None:
    data, tags = _sink_sample("executed_events_and_outputs")
    outcome = payloads.parse_sink_payload(data, tags)
    assert outcome.outputs == (
        Output("9", "output", "", "ComfyUI_00001_.png"),
        Output("15", "output", "", "ComfyUI_00001_.webp"),
        Output("19", "output", "", "comfyUI_00001.mp4"),
    )


def test_sink_last_code_validation_body_keeps_node_errors() -> None:
    data, tags = _sink_sample("last_code_400_validation_body")
    failure = payloads.parse_sink_payload(data, tags).failure
    assert failure is not None and [e.input_name for e in failure.node_errors] == ["ckpt_name"]


@pytest.mark.parametrize(
    ("code", "category"),
    [("403", AUTH), ("401", AUTH), ("400", REJ), ("422", REJ), ("500", EXE), ("503", EXE)],
)
def test_sink_last_code_category(code: str, category: FailureCategory) -> None:
    outcome = payloads.parse_sink_payload(b"something broke", {"lastCode": code, "task_id": "t"})
    assert outcome.state is F and outcome.failure is not None
    assert outcome.failure.category is category
    assert code in outcome.failure.message and "something broke" in outcome.failure.message


def test_sink_last_code_below_400_or_garbage_is_ignored() -> None:
    data, _ = _sink_sample("cached_outputs_only")
    for code in ("200", "204", "not-a-number"):
        assert payloads.parse_sink_payload(data, {"lastCode": code}).state is S


def test_sink_unrecognised_excerpt_is_short_and_raw_whole() -> None:
    data = json.dumps({"blob": "y" * 3000}).encode()
    outcome = payloads.parse_sink_payload(data, {})
    assert outcome.state is U
    assert len(outcome.message) <= len("unrecognised result: ") + payloads.EXCERPT_LIMIT
    assert outcome.raw == data.decode()


# ------------------------------------------------------------------------------------------ helpers and messages


def test_describe_node_errors_copes_with_empty_and_odd_shapes() -> None:
    assert payloads.describe_node_errors({}) == ("", ())
    message, errors = payloads.describe_node_errors({"7": {"errors": [], "class_type": "KSampler"}})
    assert message == "node 7 KSampler: failed validation"
    assert errors[0].node_id == "7"
    message, _ = payloads.describe_node_errors(
        {"8": {"errors": [{"type": "x", "message": "Broken", "details": "", "extra_info": {}}]}}
    )
    assert message == "node 8: Broken"


def test_outcome_message_forms() -> None:
    one = Output("1", "output", "", "a.png")
    assert Outcome(S, outputs=(one,)).message == "1 output"
    assert Outcome(S, outputs=(one, one), warning="w").message == "2 outputs; w"
    assert Outcome(S, warning="finished but produced no files").message == "finished but produced no files"
    assert Outcome(U).message == "unknown"


@pytest.fixture
def registered_token() -> Iterator[str]:
    token = "Yjha0123456789"  # masked as "Yjha…(14)"
    secrets.register_secret(token)
    yield token
    secrets.forget_secrets()


@pytest.mark.parametrize(
    ("status", "category", "message"),
    [
        (
            401,
            AUTH,
            "api_prompt put: 401 Unauthorized: the server refused the request (wrong token, or an Origin header "
            "it rejects) (bad token Yjha…(14))",
        ),
        (
            403,
            AUTH,
            "api_prompt put: 403 Forbidden: the server refused the request (wrong token, or an Origin header "
            "it rejects) (bad token Yjha…(14))",
        ),
        (500, TRN, "api_prompt put: 500 Internal Server Error: bad token Yjha…(14)"),
        (404, TRN, "api_prompt put: 404 Not Found: bad token Yjha…(14)"),
    ],
)
def test_failure_from_http_redacts_and_names_what(
    registered_token: str, status: int, category: FailureCategory, message: str
) -> None:
    failure = payloads.failure_from_http(status, b"bad token Yjha0123456789", what="api_prompt put")
    assert (failure.category, failure.message) == (category, message)
    assert registered_token not in failure.message


def test_failure_from_http_validation_body_is_rejected() -> None:
    body = (COMFYUI / "02_post_prompt_sd15_missing_checkpoint.json").read_bytes()
    failure = payloads.failure_from_http(400, body, what="POST /prompt")
    assert failure.category is REJ
    assert failure.message == f"POST /prompt: {SD15_MESSAGE}"
    assert failure.node_errors and failure.node_id == "4"


def test_failure_from_http_excerpt_is_bounded() -> None:
    failure = payloads.failure_from_http(502, "z" * 1000, what="GET /queue")
    assert failure.message == "GET /queue: 502 Bad Gateway: " + "z" * 199 + "…"


def test_success_false_message_is_redacted(registered_token: str) -> None:
    data = json.dumps({"success": False, "error_msg": "token Yjha0123456789 expired"}).encode()
    failure = payloads.parse_sink_payload(data, {}).failure
    assert failure is not None and failure.message == "the service reported a failure: token Yjha…(14) expired"


def test_sink_last_code_with_success_false_uses_the_code_and_the_error_text() -> None:
    data = json.dumps({"success": False, "error_msg": "invalid token"}).encode()
    outcome = payloads.parse_sink_payload(data, {"lastCode": "401"})
    assert outcome.failure is not None and outcome.failure.category is AUTH
    assert outcome.failure.message == (
        "the worker answered 401 Unauthorized: the server refused the request (wrong token, or an Origin header "
        "it rejects): invalid token"
    )
    outcome = payloads.parse_sink_payload(data, {"lastCode": "500"})
    assert outcome.failure is not None and outcome.failure.category is EXE
    assert outcome.failure.message == "the worker answered 500 Internal Server Error: invalid token"


def test_partly_valid_warning_names_every_skipped_output() -> None:
    body = json.loads(_body(PROMPT_POSTS["03_post_prompt_partially_valid"]))
    extra = json.loads(json.dumps(body["node_errors"]["6"]))
    extra["dependent_outputs"] = ["8"]
    body["node_errors"]["7"] = extra
    answer = payloads.parse_prompt_response(200, json.dumps(body).encode())
    assert answer.accepted and answer.warning is not None
    assert answer.warning.startswith("outputs 5, 8 skipped: node 6 ImageScale: ")
    assert "; node 7 ImageScale: " in answer.warning


def _mutations(value: Any) -> list[Any]:
    """Shapes a confused server might send instead of `value`: each container with one part broken."""
    odd: list[Any] = [None, 0, -1, "", "x", [], {}, [None], {"": None}, True, 1.5]
    found: list[Any] = []
    if isinstance(value, dict):
        for key in value:
            for replacement in odd:
                found.append({**value, key: replacement})
            for inner in _mutations(value[key])[:40]:
                found.append({**value, key: inner})
    elif isinstance(value, list):
        for index in range(len(value)):
            for replacement in odd:
                found.append([*value[:index], replacement, *value[index + 1 :]])
            for inner in _mutations(value[index])[:40]:
                found.append([*value[:index], inner, *value[index + 1 :]])
    return found


@pytest.mark.parametrize(
    "name",
    [
        "executed_events_and_outputs",
        "execution_error_event",
        "validation_body_bad_values",
        "success_false",
        "last_code_500_execution_error",
    ],
)
def test_sink_parser_never_raises_on_damaged_payloads(name: str) -> None:
    data, tags = _sink_sample(name)
    variants = _mutations(json.loads(data))
    assert len(variants) > 20
    for variant in variants:
        text = json.dumps(variant)
        outcome = payloads.parse_sink_payload(text.encode(), tags)
        assert outcome.raw == text
        assert outcome.message  # always something to show
        if outcome.state is F:
            assert outcome.failure is not None


@pytest.mark.parametrize(
    "name", ["05_get_history_id_exec_error_blend", "01b_get_history_id_batch_success", "03_post_prompt_bad_values"]
)
def test_history_and_prompt_parsers_never_raise_on_damaged_entries(name: str) -> None:
    document = json.loads((COMFYUI / f"{name}.json").read_text())
    for variant in _mutations(document):
        text = json.dumps(variant).encode()
        try:
            payloads.parse_history_response(text, next(iter(document)))
        except PayloadError:
            pass  # the documented refusal; anything else is a bug
        answer = payloads.parse_prompt_response(400, text)
        assert not answer.accepted and answer.failure is not None and answer.failure.message


@pytest.mark.parametrize(
    "data",
    [
        [{"a": 1}, {}],  # a stray object before the outputs object
        [{"9": {"images": []}}, {"9": {"images": []}}],  # two outputs objects
        [{"type": "status", "data": {}}, {"note": "hello"}],  # an event, then something that is no outputs object
    ],
)
def test_sink_arrays_of_other_shapes_are_unrecognised(data: list[Any]) -> None:
    outcome = payloads.parse_sink_payload(json.dumps(data).encode(), {})
    assert outcome.state is U and outcome.message.startswith("unrecognised result: [")


def test_excerpts_and_prompt_answers_mask_registered_tokens(registered_token: str) -> None:
    body = f"proxy says: Authorization {registered_token} rejected".encode()
    answer = payloads.parse_prompt_response(502, body)
    assert answer.failure is not None and "Yjha…(14)" in answer.failure.message
    assert registered_token not in answer.failure.message
    outcome = payloads.parse_sink_payload(body, {"lastCode": "500"})
    assert outcome.failure is not None and registered_token not in outcome.failure.message
    assert registered_token not in payloads.parse_sink_payload(body, {}).message


def test_newer_servers_error_types_name_the_node_and_the_cycle() -> None:
    import json as _json

    from tui.core.payloads import parse_prompt_response

    missing = {"error": {"type": "missing_node_type", "message": "Node 'NoSuchNode' not found. The custom node may not "
                         "be installed.", "details": "Node ID '#3'",
                         "extra_info": {"node_id": "3", "class_type": "NoSuchNode", "node_title": ""}},
               "node_errors": {}}
    failure = parse_prompt_response(400, _json.dumps(missing).encode(), "application/json").failure
    assert failure is not None and (failure.node_id, failure.class_type) == ("3", "NoSuchNode")
    assert failure.message.startswith("node 3: Node 'NoSuchNode' not found")
    details = "2 (ImageBlur) -> 1 (ImageBlur) -> 2 (ImageBlur)"
    cycle = {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                       "details": "", "extra_info": {}},
             "node_errors": {node: {"errors": [{"type": "dependency_cycle", "message": "Dependency cycle detected",
                                               "details": details,
                                               "extra_info": {"node_id": node, "cycle_nodes": ["2", "1"]}}],
                                    "dependent_outputs": ["3"], "class_type": "ImageBlur"} for node in ("1", "2")}}
    failure = parse_prompt_response(400, _json.dumps(cycle).encode(), "application/json").failure
    assert failure is not None and failure.message == f"dependency cycle between nodes: {details}"
    assert {e.node_id for e in failure.node_errors} == {"1", "2"}
    bad_id = {"error": {"type": "invalid_prompt_id", "message": "prompt_id must be a valid UUID", "details": "",
                        "extra_info": {}}, "node_errors": {}}
    failure = parse_prompt_response(400, _json.dumps(bad_id).encode(), "application/json").failure
    assert failure is not None and failure.message == "prompt_id must be a valid UUID"


def test_output_metadata_gives_width_and_height() -> None:
    from tui.core.payloads import outputs_from

    (output,) = outputs_from({"9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output",
                                                "metadata": {"kind": "image", "width": 512, "height": 768}}]}})
    assert (output.width, output.height) == (512, 768)
    (old,) = outputs_from({"9": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]}})
    assert (old.width, old.height) == (None, None)
    (odd,) = outputs_from({"9": {"images": [{"filename": "a.png", "metadata": {"width": "x", "height": True}}]}})
    assert (odd.width, odd.height) == (None, None)


def test_removing_duplicate_outputs_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 outputs (each listed twice) froze the TUI for 26 s: duplicates were found by comparing each new file
    with every one kept. Counted in comparisons, not seconds: a few per file, whatever the number of files."""
    from tui.core import payloads as payloads_module
    from tui.core.jobs import Output

    comparisons = 0
    original = Output.__eq__

    def counting(self: Output, other: object) -> bool:
        nonlocal comparisons
        comparisons += 1
        return original(self, other)

    monkeypatch.setattr(Output, "__eq__", counting)
    files = [{"filename": f"img_{n:05d}.png", "subfolder": "", "type": "output"} for n in range(2_000)]
    outputs = payloads_module.outputs_from({"9": {"images": files + [dict(item) for item in files]}})
    assert [output.filename for output in outputs] == [item["filename"] for item in files]
    assert comparisons <= 3 * len(files), comparisons
