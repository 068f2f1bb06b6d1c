"""What tui/core/payloads.py must make of every captured ComfyUI answer (tests/fixtures/comfyui) and every sink
sample (tests/fixtures/sink): the state, failure category and exact message per fixture.

One table for the unit tests that parse the fixtures directly (tests/unit/test_payloads.py) and the fault tests that
replay them to the real `comfyq` (tests/faults/test_malformed.py).
"""

from __future__ import annotations

from tui.core import payloads
from tui.core.jobs import FailureCategory, JobState

# The tables' shorthand (the tests that read them use it too).
S, F, U = JobState.SUCCEEDED, JobState.FAILED, JobState.UNKNOWN
REJ, EXE, INT, AUTH, TRN = (
    FailureCategory.REJECTED,
    FailureCategory.EXECUTION,
    FailureCategory.INTERRUPTED,
    FailureCategory.AUTH,
    FailureCategory.TRANSPORT,
)

SD15_MESSAGE = "node 4 CheckpointLoaderSimple: ckpt_name '3dAnimationDiffusion_v10.safetensors' not in []"
BAD_VALUES_MESSAGE = (
    "node 1 EmptyImage: height: Failed to convert an input value to a INT value: "
    "abc, invalid literal for int() with base 10: 'abc'; "
    "node 1 EmptyImage: width: Value 99999 bigger than max of 16384; "
    "node 2 ImageBlur: sigma: Required input is missing; "
    "node 3 ImageScale: upscale_method 'super-resolution' not in "
    "['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']"
)
BLEND_MESSAGE = (
    "node 3 ImageBlend: RuntimeError: The size of tensor a (2) must match the size of tensor b (3) "
    "at non-singleton dimension 0"
)
MALFORMED_500 = (
    "POST /prompt: the server could not read the request (500 Internal Server Error: 500 Internal Server Error "
    "Server got itself in trouble); " + payloads.MALFORMED_500_HINT
)


# fixture -> (state, failure category, exact message, number of outputs); None = id absent from /history.
HISTORY_EXPECTED: dict[str, tuple[JobState, FailureCategory | None, str, int] | None] = {
    "00_get_history_unknown_id": None,
    "01_get_history_id_right_after_post": None,
    "06_get_history_id_after_delete": None,
    "06_get_history_id_cleared_from_queue": None,
    "06_get_history_id_deleted_from_queue": None,
    "06_get_history_id_pending": None,
    "06_get_history_id_running": None,
    "01_get_history_id_success": (S, None, "1 output", 1),
    "01b_get_history_id_batch_success": (S, None, "8 outputs", 8),
    "01c_get_history_id_ws_binary": (S, None, "finished but produced no files", 0),
    "01d_get_history_id_cached": (S, None, "1 output", 1),
    "01e_get_history_id_no_client_id": (S, None, "1 output", 1),
    "01f_get_history_custom_prompt_id": (S, None, "1 output", 1),
    "03_get_history_id_partially_valid": (S, None, "1 output", 1),
    "05_get_history_id_exec_error_blend": (F, EXE, BLEND_MESSAGE, 0),
    "05_get_history_id_exec_error_scaleby": (
        F,
        EXE,
        "node 2 ImageScaleBy: RuntimeError: Input and output sizes should be greater than 0, "
        "but got input (H: 1, W: 1) output (H: 0, W: 0)",
        0,
    ),
    "05_get_history_id_mixed_good_and_failing": (F, EXE, BLEND_MESSAGE.replace("node 3 ", "node 13 "), 0),
    "06_get_history_id_interrupted_global": (F, INT, "interrupted before node 11 ImageBlur", 0),
    "06_get_history_id_interrupted_targeted": (F, INT, "interrupted before node 11 ImageBlur", 0),
    "06_get_history_id_slow_success": (S, None, "1 output", 1),
    "09_get_history_id_one_of_200": (S, None, "1 output", 1),
}

# fixture -> (accepted, failure category, exact message or warning)
PROMPT_EXPECTED: dict[str, tuple[bool, FailureCategory | None, str | None]] = {
    "01_post_prompt_valid": (True, None, None),
    "01b_post_prompt_batch": (True, None, None),
    "01c_post_prompt_ws_binary": (True, None, None),
    "01c_post_prompt_ws_binary_flags": (True, None, None),
    "01d_post_prompt_resubmit_identical": (True, None, None),
    "01e_post_prompt_no_client_id": (True, None, None),
    "01f_post_prompt_custom_prompt_id": (True, None, None),
    "03_post_prompt_origin_match": (True, None, None),
    "05_post_prompt_exec_error_blend": (True, None, None),
    "05_post_prompt_exec_error_scaleby": (True, None, None),
    "05_post_prompt_mixed_good_and_failing": (True, None, None),
    "06_post_prompt_slow_1": (True, None, None),
    "03_post_prompt_partially_valid": (
        True,
        None,
        "output 5 skipped: node 6 ImageScale: upscale_method 'nope' not in "
        "['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']",
    ),
    "02_post_prompt_sd15_missing_checkpoint": (False, REJ, SD15_MESSAGE),
    "03_post_prompt_bad_values": (False, REJ, BAD_VALUES_MESSAGE),
    "03_post_prompt_unknown_class_type": (
        False,
        REJ,
        "node 2: Cannot execute because node NoSuchNodeType does not exist.",
    ),
    "03_post_prompt_missing_class_type": (
        False,
        REJ,
        "node 2: Cannot execute because a node is missing the class_type property.",
    ),
    "03_post_prompt_cycle": (
        False,
        REJ,
        "Prompt outputs failed validation, and the server named no node (a dependency cycle between nodes gives this)",
    ),
    "03_post_prompt_link_to_missing_node": (
        False,
        REJ,
        "node 3 ImageScale: Exception when validating inner node: KeyError: '42'",
    ),
    "03_post_prompt_link_bad_output_index": (
        False,
        REJ,
        "node 3 ImageScale: Exception when validating inner node: IndexError: list index out of range",
    ),
    "03_post_prompt_type_mismatch": (
        False,
        REJ,
        "node 4 SaveImage: images: Return type mismatch between linked nodes: "
        "received_type(LATENT) mismatch input_type(IMAGE)",
    ),
    "03_post_prompt_empty_prompt": (
        False,
        REJ,
        "Prompt has no outputs (the workflow needs an output node such as SaveImage)",
    ),
    "03_post_prompt_no_output_node": (
        False,
        REJ,
        "Prompt has no outputs (the workflow needs an output node such as SaveImage)",
    ),
    "03_post_prompt_missing_prompt": (False, REJ, "No prompt provided"),
    "03_post_prompt_invalid_json": (False, REJ, MALFORMED_500),
    "03_post_prompt_empty_body": (False, REJ, MALFORMED_500),
    "03_post_prompt_prompt_is_string": (False, REJ, MALFORMED_500),
    "03_post_prompt_ui_format_workflow": (False, REJ, MALFORMED_500),
    "03_post_prompt_origin_mismatch": (
        False,
        AUTH,
        "403 Forbidden: the server refused the request (wrong token, or an Origin header it rejects)",
    ),
}

SINK_BLEND_PID = "8756fbb7-b3a0-4f86-b6b3-0b4294ef89a8"
DOC_PID = "c3c9f3a2-5d7e-4b1a-9a64-0f7e2b8f6c11"
# sink sample -> (state, failure category, exact message, prompt_id, filenames)
SINK_EXPECTED: dict[str, tuple[JobState, FailureCategory | None, str, str | None, tuple[str, ...]]] = {
    "executed_events_and_outputs": (
        S,
        None,
        "3 outputs",
        DOC_PID,
        ("ComfyUI_00001_.png", "ComfyUI_00001_.webp", "comfyUI_00001.mp4"),
    ),
    "cached_outputs_only": (
        S,
        None,
        "3 outputs",
        None,
        ("ComfyUI_00001_.png", "ComfyUI_00001_.webp", "comfyUI_00001.mp4"),
    ),
    "cached_bare_object": (S, None, "1 output", None, ("ComfyUI_00001_.png",)),
    "outputs_in_subfolder_and_temp": (
        S,
        None,
        "2 outputs",
        DOC_PID,
        ("shot_00001_.png", "ComfyUI_temp_abcde_00001_.png"),
    ),
    "events_without_outputs_object": (S, None, "1 output", DOC_PID, ("ComfyUI_00001_.png",)),
    "no_files": (S, None, "finished but produced no files", None, ()),
    "last_code_200": (S, None, "1 output", DOC_PID, ("ComfyUI_00001_.png",)),
    "last_code_400_validation_body": (F, REJ, SD15_MESSAGE, None, ()),
    "last_code_500_execution_error": (F, EXE, BLEND_MESSAGE, SINK_BLEND_PID, ()),
    "last_code_500_text": (
        F,
        EXE,
        "the worker answered 500 Internal Server Error: 500 Internal Server Error Server got itself in trouble",
        None,
        (),
    ),
    "last_code_401": (
        F,
        AUTH,
        "the worker answered 401 Unauthorized: the server refused the request (wrong token, or an Origin header "
        "it rejects): Unauthorized",
        None,
        (),
    ),
    "last_code_404_json": (
        F,
        REJ,
        'the worker answered 404 Not Found: {"message": "no route api_prompt"}',
        None,
        (),
    ),
    "validation_body_bad_values": (F, REJ, BAD_VALUES_MESSAGE, None, ()),
    "execution_error_event": (F, EXE, BLEND_MESSAGE, SINK_BLEND_PID, ()),
    "execution_interrupted_event": (
        F,
        INT,
        "interrupted before node 11 ImageBlur",
        "65c009f0-dfd8-4c49-8cba-b877f4713135",
        (),
    ),
    "success_false": (F, EXE, "the service reported a failure: model load failed: out of memory", None, ()),
    "non_json_text": (U, None, "unrecognised result: not JSON: worker crashed", None, ()),
    "non_json_bytes": (
        U,
        None,
        "unrecognised result: not JSON: b'\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR\\xff\\xfe'",
        None,
        (),
    ),
    "other_json_object": (U, None, 'unrecognised result: {"status": "done", "result": 42}', None, ()),
    "other_json_list": (U, None, "unrecognised result: [1, 2, 3]", None, ()),
    "other_json_string": (U, None, 'unrecognised result: "ok"', None, ()),
    "empty_array": (U, None, "unrecognised result: []", None, ()),
}
