"""The workflow model: loading, validation messages (with positions), editing, seeds and the content hash."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tui.core.workflow import (
    PROMPT_BODY_MESSAGE,
    SEED_MAX,
    UI_FORMAT_MESSAGE,
    EditableInput,
    Workflow,
    WorkflowError,
    load_workflow,
    parse_workflow,
    seed_workflow,
    validate_workflow,
    workflow_from_dict,
)

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui" / "workflows"
FIXTURE_WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.json"))


def _node(class_type: str, title: str | None = None, **inputs: object) -> dict:
    node: dict = {"class_type": class_type, "inputs": dict(inputs)}
    if title is not None:
        node["_meta"] = {"title": title}
    return node


# ----- loading every real workflow ---------------------------------------------------------------------------------


def test_there_are_fixture_workflows() -> None:
    assert len(FIXTURE_WORKFLOWS) >= 9


@pytest.mark.parametrize("path", FIXTURE_WORKFLOWS, ids=lambda p: p.name)
def test_every_fixture_workflow_loads(path: Path) -> None:
    workflow = load_workflow(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert workflow.nodes == raw
    assert workflow.source == str(path)
    assert workflow.to_dict() == raw
    assert json.loads(workflow.to_json()) == raw
    assert parse_workflow(workflow.to_json(indent=None)).content_hash() == workflow.content_hash()
    # Every output node of the fixtures is one ComfyUI reports results for.
    assert workflow.output_nodes() == sorted(
        (node_id for node_id, node in raw.items()
         if node["class_type"] in {"SaveImage", "PreviewImage", "SaveImageWebsocket"}),
        key=int,
    )
    # Editable inputs are exactly the literal scalars, none of them a link.
    literal_keys = {
        f"{node_id}.{name}"
        for node_id, node in raw.items()
        for name, value in node["inputs"].items()
        if not isinstance(value, (list, dict)) and value is not None
    }
    assert {item.key for item in workflow.editable_inputs()} == literal_keys


def test_fixture_output_nodes_by_class() -> None:
    workflow = load_workflow(WORKFLOWS_DIR / "batch4_save_plus_preview.json")
    assert workflow.output_nodes() == ["3", "4"]
    websocket = load_workflow(WORKFLOWS_DIR / "ws_binary_getimagesize_saveimagewebsocket.json")
    assert [websocket.nodes[n]["class_type"] for n in websocket.output_nodes()] == ["SaveImageWebsocket"]


def test_output_nodes_recognise_save_and_preview_variants() -> None:
    workflow = workflow_from_dict({
        "1": _node("EmptyImage", width=8, height=8, batch_size=1, color=0),
        "2": _node("VHS_VideoCombine", images=["1", 0]),
        "3": _node("SaveAnimatedWEBP", images=["1", 0]),
        "4": _node("ImagePreviewBridge", images=["1", 0]),
        "5": _node("ImageBlur", image=["1", 0], blur_radius=1, sigma=1.0),
    })
    assert workflow.output_nodes() == ["2", "3", "4"]


# ----- the seed workflow ---------------------------------------------------------------------------------------------


def test_seed_workflow_is_the_sd15_txt2img_graph() -> None:
    workflow = seed_workflow()
    classes = {node_id: node["class_type"] for node_id, node in workflow.nodes.items()}
    assert classes == {
        "3": "KSampler", "4": "CheckpointLoaderSimple", "5": "EmptyLatentImage", "6": "CLIPTextEncode",
        "7": "CLIPTextEncode", "8": "VAEDecode", "9": "SaveImage",
    }
    titles = {node_id: workflow.title_of(node_id) for node_id in workflow.nodes}
    assert titles == {
        "3": "KSampler", "4": "Load Checkpoint", "5": "Empty Latent Image", "6": "Positive prompt",
        "7": "Negative prompt", "8": "VAE Decode", "9": "Save Image",
    }
    inputs = {node_id: node["inputs"] for node_id, node in workflow.nodes.items()}
    assert inputs["4"] == {"ckpt_name": "3dAnimationDiffusion_v10.safetensors"}
    assert inputs["5"] == {"width": 512, "height": 512, "batch_size": 1}
    assert inputs["9"]["filename_prefix"] == "ComfyUI"
    assert inputs["3"]["model"] == ["4", 0] and inputs["8"]["vae"] == ["4", 2]
    assert workflow.output_nodes() == ["9"]


def test_seed_workflow_common_parameters_in_form_order() -> None:
    keys = [item.key for item in seed_workflow().common_parameters()]
    assert keys == [
        "6.text", "7.text",
        "3.seed", "3.steps", "3.cfg", "3.sampler_name", "3.scheduler", "3.denoise",
        "5.width", "5.height", "5.batch_size",
        "4.ckpt_name",
        "9.filename_prefix",
    ]


def test_seed_workflow_is_fresh_each_time() -> None:
    first = seed_workflow()
    first.nodes["3"]["inputs"]["steps"] = 999  # even a careless caller cannot change the next one
    assert seed_workflow().nodes["3"]["inputs"]["steps"] == 20


# ----- validation messages -------------------------------------------------------------------------------------------

_GOOD_TEXT = json.dumps({"1": _node("EmptyImage", width=8, height=8, batch_size=1, color=0)})

INVALID_TEXTS = [
    pytest.param("", "wf.json: the workflow is empty (expected an API-format workflow JSON object)", id="empty"),
    pytest.param("  \n\t ", "wf.json: the workflow is empty (expected an API-format workflow JSON object)",
                 id="whitespace"),
    pytest.param('{\n  "1": {\n    "class_type": "X",\n    "inputs": {}\n  ,\n}\n',
                 "wf.json:6:1: invalid JSON: Expecting property name enclosed in double quotes", id="syntax"),
    pytest.param('{"1": ', "wf.json:1:7: invalid JSON: Expecting value", id="truncated"),
    pytest.param("[1, 2]", "wf.json: expected a JSON object mapping node ids to nodes, got a list", id="list"),
    pytest.param('"hello"', "wf.json: expected a JSON object mapping node ids to nodes, got a string",
                 id="string"),
    pytest.param("{}", "wf.json: the workflow has no nodes", id="no-nodes"),
    pytest.param('{"last_node_id": 9, "nodes": [], "links": [], "version": 0.4}', f"wf.json: {UI_FORMAT_MESSAGE}",
                 id="ui-format"),
    pytest.param('{"links": [[1, 4, 0, 3, 0, "MODEL"]]}', f"wf.json: {UI_FORMAT_MESSAGE}", id="ui-format-links"),
    pytest.param('{"prompt": ' + _GOOD_TEXT + ', "client_id": "abc"}', f"wf.json: {PROMPT_BODY_MESSAGE}",
                 id="prompt-body"),
    pytest.param('{\n  "1": [1, 2]\n}',
                 'wf.json:2:3: node 1: expected an object with "class_type" and "inputs", got a list',
                 id="node-not-object"),
    pytest.param('{\n  "1": {"class_type": "A", "inputs": {}},\n  "7": {"inputs": {}}\n}',
                 'wf.json:3:3: node 7 has no "class_type"', id="no-class-type"),
    pytest.param('{"7": {"class_type": 5, "inputs": {}}}',
                 'wf.json:1:2: node 7: "class_type" must be a non-empty string, got a number',
                 id="class-type-number"),
    pytest.param('{\n"12": {"class_type": "KSampler"}}', 'wf.json:2:1: node 12 (KSampler) has no "inputs"',
                 id="no-inputs"),
    pytest.param('{"3": {"class_type": "KSampler", "inputs": [1]}}',
                 'wf.json:1:2: node 3 (KSampler): "inputs" must be an object, got a list', id="inputs-list"),
    pytest.param(
        '{\n  "3": {\n    "class_type": "KSampler",\n    "inputs": {\n      "steps": 20,\n'
        '      "model": ["44", 0]\n    }\n  }\n}',
        'wf.json:6:7: node 3 (KSampler) input "model" links to node 44, which is not in the workflow',
        id="missing-link-target"),
    pytest.param(
        '{"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "B", "inputs": {"x": ["1", -1]}}}',
        'wf.json:1:78: node 2 (B) input "x": the output slot of the link to node 1 must be a non-negative '
        "integer, got -1",
        id="negative-slot"),
    pytest.param(
        '{"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "B", "inputs": {"x": ["1", "0"]}}}',
        'wf.json:1:78: node 2 (B) input "x": the output slot of the link to node 1 must be a non-negative '
        'integer, got "0"',
        id="string-slot"),
    pytest.param(
        '{"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "B", "inputs": {"x": ["1", 0.5]}}}',
        'wf.json:1:78: node 2 (B) input "x": the output slot of the link to node 1 must be a non-negative '
        "integer, got 0.5",
        id="float-slot"),
    pytest.param(
        '{"1": {"class_type": "A", "inputs": {}}, "2": {"class_type": "B", "inputs": {"x": ["1", true]}}}',
        'wf.json:1:78: node 2 (B) input "x": the output slot of the link to node 1 must be a non-negative '
        "integer, got true",
        id="bool-slot"),
    pytest.param(
        '{"1": {"class_type": "A", "inputs": {}},\n "1": {"class_type": "B", "inputs": {}}}',
        'wf.json:2:2: node id "1" appears more than once; only the last one would be used',
        id="duplicate-node-id"),
]


@pytest.mark.parametrize(("text", "expected"), INVALID_TEXTS)
def test_invalid_workflow_text_gives_exact_message(text: str, expected: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, source="wf.json")
    assert str(caught.value) == expected
    assert isinstance(caught.value, ValueError)


def test_error_carries_node_id_and_position_fields() -> None:
    text = '{\n  "1": {"class_type": "A", "inputs": {}},\n  "7": {"inputs": {}}\n}'
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, source="wf.json")
    error = caught.value
    assert (error.node_id, error.line, error.column, error.source) == ("7", 3, 3, "wf.json")
    assert error.message == 'node 7 has no "class_type"'


def test_position_points_at_the_node_key_not_a_link_to_it() -> None:
    # "2" appears first as a link target; the position must be the key of node 2, on line 3.
    text = '{\n "1": {"class_type": "A", "inputs": {"x": ["2", 0]}},\n "2": {"class_type": "B"}\n}'
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, source="wf.json")
    assert (caught.value.line, caught.value.column) == (3, 2)


def test_dict_validation_has_no_position() -> None:
    with pytest.raises(WorkflowError) as caught:
        workflow_from_dict({"3": {"class_type": "KSampler", "inputs": {"model": ["4", 0]}}}, source="mem")
    assert str(caught.value) == 'mem: node 3 (KSampler) input "model" links to node 4, which is not in the workflow'
    assert caught.value.line is None and caught.value.node_id == "3"


def test_validate_workflow_accepts_a_good_graph_and_rejects_non_string_ids() -> None:
    validate_workflow(seed_workflow().to_dict())
    with pytest.raises(WorkflowError, match="node ids must be non-empty strings, got 1"):
        validate_workflow({1: _node("A")}, source="mem")


def test_non_link_lists_are_literals_not_links() -> None:
    # ComfyUI only treats [<string>, <int>] as a link; other lists are plain values and not editable here.
    workflow = workflow_from_dict({"1": _node("Custom", sizes=[1, 2], pair=[3, 4, 5], name="x")})
    assert [item.key for item in workflow.editable_inputs()] == ["1.name"]


def test_a_node_named_prompt_is_not_taken_for_a_request_body() -> None:
    workflow = workflow_from_dict({"prompt": _node("CLIPTextEncode", text="hi")})
    assert workflow.common_parameters()[0].key == "prompt.text"


def test_load_workflow_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(WorkflowError) as caught:
        load_workflow(missing)
    assert str(caught.value) == f"{missing}: cannot read the file: No such file or directory"

    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"1": {"class_type": "A", "inputs": {"t": "caf\xe9"}}}')
    with pytest.raises(WorkflowError) as caught:
        load_workflow(latin1)
    assert str(caught.value) == f"{latin1}: the file is not UTF-8 text (bad byte at offset 46)"

    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "1": {,\n}', encoding="utf-8")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(broken)
    assert str(caught.value) == f"{broken}:2:9: invalid JSON: Expecting property name enclosed in double quotes"


def test_load_workflow_tolerates_a_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + seed_workflow().to_json().encode("utf-8"))
    assert load_workflow(path) == seed_workflow()


# ----- editable inputs -------------------------------------------------------------------------------------------------


def test_editable_inputs_put_common_first_then_the_rest_in_graph_order() -> None:
    workflow = workflow_from_dict({
        "10": _node("KSamplerAdvanced", "Refiner", add_noise="enable", noise_seed=5, steps=30, cfg=7.0,
                    sampler_name="euler", scheduler="karras", start_at_step=20, model=["2", 0]),
        "2": _node("CheckpointLoaderSimple", ckpt_name="a.safetensors"),
        "3": _node("LoraLoader", "My LoRA", lora_name="l.safetensors", strength_model=0.8, model=["2", 0]),
        "1": _node("CLIPTextEncode", text="cat", clip=["2", 1]),
    })
    assert [item.key for item in workflow.editable_inputs()] == [
        "1.text",
        "10.noise_seed", "10.steps", "10.cfg", "10.sampler_name", "10.scheduler",
        "2.ckpt_name",
        "3.lora_name", "3.strength_model",
        "10.add_noise", "10.start_at_step",
    ]
    first = workflow.editable_inputs()[0]
    assert first == EditableInput("1", "CLIPTextEncode", "CLIPTextEncode", "text", "cat", True)
    assert [item.key for item in workflow.common_parameters()][-1] == "2.ckpt_name"
    lora = next(item for item in workflow.editable_inputs() if item.key == "3.strength_model")
    assert (lora.title, lora.common, lora.type_name) == ("My LoRA", False, "float")


def test_type_names() -> None:
    items = {item.name: item.type_name for item in seed_workflow().editable_inputs()}
    assert (items["seed"], items["cfg"], items["text"]) == ("int", "float", "str")
    flag = workflow_from_dict({"1": _node("X", enabled=True)}).editable_inputs()[0]
    assert flag.type_name == "bool"


# ----- assignments -----------------------------------------------------------------------------------------------------

GOOD_ASSIGNMENTS = [
    pytest.param("3.steps=30", "3", "steps", 30, id="int-by-id"),
    pytest.param("KSampler.steps= 12 ", "3", "steps", 12, id="int-by-title-trimmed"),
    pytest.param("3.cfg=7.5", "3", "cfg", 7.5, id="float"),
    pytest.param("3.cfg=7", "3", "cfg", 7.0, id="float-from-int-text"),
    pytest.param("3.seed=42", "3", "seed", 42, id="seed"),
    pytest.param("Positive prompt.text=a cat, by a window = cozy", "6", "text", "a cat, by a window = cozy",
                 id="text-with-equals"),
    pytest.param("Negative prompt.text=", "7", "text", "", id="empty-text"),
    pytest.param("Load Checkpoint.ckpt_name=v1-5-pruned.safetensors", "4", "ckpt_name", "v1-5-pruned.safetensors",
                 id="title-with-spaces"),
    pytest.param("Empty Latent Image.width=768", "5", "width", 768, id="width"),
    pytest.param("9.filename_prefix=run/a", "9", "filename_prefix", "run/a", id="prefix"),
]


@pytest.mark.parametrize(("assignment", "node_id", "name", "expected"), GOOD_ASSIGNMENTS)
def test_assignments(assignment: str, node_id: str, name: str, expected: object) -> None:
    original = seed_workflow()
    before = original.to_dict()
    changed = original.apply_assignment(assignment)
    value = changed.nodes[node_id]["inputs"][name]
    assert value == expected and type(value) is type(expected)
    assert original.nodes == before  # edits never touch the original
    assert changed.content_hash() != original.content_hash()
    assert changed.source == original.source


def test_bool_conversion_words() -> None:
    workflow = workflow_from_dict({"1": _node("X", "Flags", enabled=False)})
    for text, expected in [("true", True), ("YES", True), ("1", True), ("on", True),
                           ("false", False), ("No", False), ("0", False), ("off", False)]:
        assert workflow.apply_assignment(f"Flags.enabled={text}").nodes["1"]["inputs"]["enabled"] is expected
    with pytest.raises(WorkflowError) as caught:
        workflow.apply_assignment("1.enabled=maybe")
    assert caught.value.message == '1.enabled (X) takes true or false (also yes/no, 1/0, on/off); "maybe" is not one'


def test_cfg_held_as_a_whole_number_accepts_a_fraction() -> None:
    # Exports often hold KSampler cfg as 8, not 8.0; ComfyUI declares it FLOAT, so 7.5 must be accepted.
    workflow = workflow_from_dict({"3": _node("KSampler", cfg=8, steps=20)})
    assert workflow.apply_assignment("3.cfg=7.5").nodes["3"]["inputs"]["cfg"] == 7.5
    assert workflow.apply_assignment("3.cfg=6").nodes["3"]["inputs"]["cfg"] == 6


BAD_ASSIGNMENTS = [
    pytest.param("3.steps=abc", '3.steps (KSampler) takes an integer; "abc" is not one', "3", id="int-from-word"),
    pytest.param("3.steps=7.5", '3.steps (KSampler) takes an integer; "7.5" is not one', "3", id="int-from-float"),
    pytest.param("3.cfg=high", '3.cfg (KSampler) takes a number; "high" is not one', "3", id="float-from-word"),
    pytest.param("3.cfg=nan", '3.cfg (KSampler) takes a finite number; "nan" is not one', "3", id="float-nan"),
    pytest.param("3.model=4", 'node 3 (KSampler) input "model" is a link to node 4 output 0, not a value; '
                 "edit the node it comes from instead", "3", id="link"),
    pytest.param("3.stepz=1", 'node 3 (KSampler) has no input "stepz" (did you mean "steps"?); its inputs: seed, '
                 "steps, cfg, sampler_name, scheduler, denoise, model, positive, negative, latent_image", "3",
                 id="unknown-input"),
    pytest.param("CLIPTextEncode.text=x", '"CLIPTextEncode" matches nodes 6, 7; use the node id instead '
                 '(for example "6.text")', None, id="ambiguous-class"),
    pytest.param("Positve prompt.text=x", 'no node with id or title "Positve prompt" (did you mean '
                 '"Positive prompt" or "Negative prompt"?); nodes: 3 (KSampler), 4 (CheckpointLoaderSimple '
                 '"Load Checkpoint"), 5 (EmptyLatentImage "Empty Latent Image"), 6 (CLIPTextEncode '
                 '"Positive prompt"), 7 (CLIPTextEncode "Negative prompt"), 8 (VAEDecode "VAE Decode"), '
                 '9 (SaveImage "Save Image")', None, id="unknown-title"),
    pytest.param("steps=30", '"steps" is not NODE.INPUT or TITLE.INPUT (for example "3.seed")', None,
                 id="no-dot"),
    pytest.param("3.steps", '"3.steps" is not NODE.INPUT=VALUE (for example "3.steps=30")', None, id="no-equals"),
    pytest.param("=5", '"=5" is not NODE.INPUT=VALUE (for example "3.steps=30")', None, id="no-target"),
]


@pytest.mark.parametrize(("assignment", "message", "node_id"), BAD_ASSIGNMENTS)
def test_bad_assignments(assignment: str, message: str, node_id: str | None) -> None:
    workflow = seed_workflow()
    with pytest.raises(WorkflowError) as caught:
        workflow.apply_assignment(assignment)
    assert caught.value.message == message
    assert str(caught.value) == f"<seed sd15_txt2img>: {message}"
    assert caught.value.node_id == node_id


def test_ambiguous_title_asks_for_the_node_id() -> None:
    workflow = workflow_from_dict({
        "1": _node("CLIPTextEncode", "Prompt", text="a"),
        "2": _node("CLIPTextEncode", "Prompt", text="b"),
    })
    with pytest.raises(WorkflowError) as caught:
        workflow.apply_assignment("Prompt.text=c")
    assert caught.value.message == '"Prompt" matches nodes 1, 2; use the node id instead (for example "1.text")'
    assert workflow.apply_assignment("2.text=c").nodes["2"]["inputs"]["text"] == "c"


def test_title_containing_a_dot_and_id_taking_precedence_over_title() -> None:
    workflow = workflow_from_dict({
        "1": _node("CheckpointLoaderSimple", "SD v1.5", ckpt_name="a"),
        "2": _node("CLIPTextEncode", "1", text="x"),
    })
    assert workflow.apply_assignment("SD v1.5.ckpt_name=b").nodes["1"]["inputs"]["ckpt_name"] == "b"
    with pytest.raises(WorkflowError, match='node 1 .* has no input "text"'):
        workflow.apply_assignment("1.text=y")  # "1" is node 1, not the node titled "1"


def test_untitled_nodes_are_addressed_by_class_type() -> None:
    workflow = load_workflow(WORKFLOWS_DIR / "batch4_save_plus_preview.json")
    changed = workflow.apply_assignment("SaveImage.filename_prefix=mine")
    assert changed.nodes["3"]["inputs"]["filename_prefix"] == "mine"


def test_set_value_converts_python_values_to_the_current_type() -> None:
    workflow = seed_workflow()
    assert workflow.set_value("3.cfg", 6).nodes["3"]["inputs"]["cfg"] == 6.0
    assert isinstance(workflow.set_value("3.cfg", 6).nodes["3"]["inputs"]["cfg"], float)
    assert workflow.set_value("3.steps", "25").nodes["3"]["inputs"]["steps"] == 25
    assert workflow.set_value("6.text", 12).nodes["6"]["inputs"]["text"] == "12"
    with pytest.raises(WorkflowError, match="takes an integer"):
        workflow.set_value("3.steps", True)
    with pytest.raises(WorkflowError, match="takes an integer"):
        workflow.set_value("3.steps", 2.5)
    with pytest.raises(WorkflowError, match="takes text"):
        workflow.set_value("6.text", ["a"])


def test_with_input_by_id_and_non_scalar_inputs() -> None:
    workflow = workflow_from_dict({"1": _node("X", sizes=[1, 2, 3], nothing=None)})
    with pytest.raises(WorkflowError) as caught:
        workflow.with_input("1", "sizes", "4")
    assert caught.value.message == "1.sizes (X) holds a list, which comfyq cannot edit"
    with pytest.raises(WorkflowError) as caught:
        workflow.with_input("9", "sizes", "4")
    assert caught.value.message == "no node 9"


def test_apply_assignments_in_order() -> None:
    changed = seed_workflow().apply_assignments(["3.steps=5", "KSampler.steps=6", "5.width=640"])
    assert changed.nodes["3"]["inputs"]["steps"] == 6 and changed.nodes["5"]["inputs"]["width"] == 640


# ----- seeds ----------------------------------------------------------------------------------------------------------


def test_randomize_seeds_is_deterministic_with_a_seeded_rng() -> None:
    workflow = workflow_from_dict({
        "1": _node("KSampler", seed=1, steps=20),
        "2": _node("KSamplerAdvanced", noise_seed=2, steps=20),
        "3": _node("RandomNoise", noise_seed=["9", 0]),
        "9": _node("SeedNode", seed_text="keep"),
    })
    first = workflow.randomize_seeds(random.Random(1234))
    second = workflow.randomize_seeds(random.Random(1234))
    assert first == second
    expected_rng = random.Random(1234)
    expected = [expected_rng.randint(0, SEED_MAX), expected_rng.randint(0, SEED_MAX)]
    assert [first.nodes["1"]["inputs"]["seed"], first.nodes["2"]["inputs"]["noise_seed"]] == expected
    assert first.nodes["3"]["inputs"]["noise_seed"] == ["9", 0]  # a linked seed stays a link
    assert first.nodes["1"]["inputs"]["steps"] == 20
    assert workflow.nodes["1"]["inputs"]["seed"] == 1  # the original is untouched
    other = workflow.randomize_seeds(random.Random(99))
    assert other.content_hash() != first.content_hash()


def test_randomized_seeds_stay_in_range() -> None:
    rng = random.Random(7)
    workflow = seed_workflow()
    seeds = {workflow.randomize_seeds(rng).nodes["3"]["inputs"]["seed"] for _ in range(200)}
    assert len(seeds) == 200
    assert all(0 <= seed <= SEED_MAX for seed in seeds)


def test_randomize_seeds_without_rng_changes_the_seed() -> None:
    workflow = seed_workflow()
    seeds = {workflow.randomize_seeds().nodes["3"]["inputs"]["seed"] for _ in range(5)}
    assert len(seeds) > 1


# ----- content hash -----------------------------------------------------------------------------------------------


def test_content_hash_ignores_key_order_and_formatting() -> None:
    workflow = seed_workflow()
    reordered = {
        node_id: {key: node[key] for key in reversed(list(node))}
        for node_id, node in reversed(list(workflow.nodes.items()))
    }
    for node in reordered.values():
        node["inputs"] = dict(reversed(list(node["inputs"].items())))
    other = workflow_from_dict(reordered)
    assert other.content_hash() == workflow.content_hash()
    assert parse_workflow(workflow.to_json(indent=None)).content_hash() == workflow.content_hash()
    assert len(workflow.content_hash()) == 64 and int(workflow.content_hash(), 16) >= 0


def test_content_hash_is_stable_across_runs() -> None:
    # The canonical form is fixed, so the hash of the shipped seed is a known value.
    canonical = json.dumps(seed_workflow().nodes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    import hashlib

    assert seed_workflow().content_hash() == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert seed_workflow().content_hash() == seed_workflow().content_hash()


def test_content_hash_changes_with_any_value() -> None:
    workflow = seed_workflow()
    hashes = {
        workflow.content_hash(),
        workflow.apply_assignment("3.steps=21").content_hash(),
        workflow.apply_assignment("6.text=x").content_hash(),
        workflow.apply_assignment("Save Image.filename_prefix=y").content_hash(),
    }
    assert len(hashes) == 4


def test_workflow_equality_and_dict_copies() -> None:
    workflow = seed_workflow()
    copy = workflow.to_dict()
    copy["3"]["inputs"]["steps"] = 1
    assert workflow.nodes["3"]["inputs"]["steps"] == 20
    source = {"1": _node("X", a=1)}
    wrapped = workflow_from_dict(source)
    source["1"]["inputs"]["a"] = 2
    assert wrapped.nodes["1"]["inputs"]["a"] == 1
    assert wrapped == Workflow({"1": _node("X", a=1)})
    assert wrapped != workflow
