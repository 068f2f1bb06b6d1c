"""Workflow validation as ComfyUI 0.3.64 does it (execution.validate_prompt / validate_inputs), for the emulator.

The walk follows ComfyUI's own code on purpose, so its quirks come out the same (fixture README, items 2-7):
output nodes are validated one by one and a partly valid prompt is accepted with a non-empty `node_errors`; a link
to a missing node is reported on the node holding the link, with the *downstream* input's extra_info; a dependency
cycle leaves every node invalid without a reason. With `newer` set it adds the 0.38 differences
(comfyui_newer.py): `missing_node_type` before anything else, and `dependency_cycle` errors for a cycle.
What the errors say comes from comfyui_errors.py.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tui.sim import comfyui_newer
from tui.sim.comfyui_errors import (
    VALIDATE_LOOKUP_FRAME,
    full_type_name,
    missing_class_type_error,
    no_outputs_error,
    outputs_failed_error,
    unknown_class_type_error,
    validation_frames_for,
)

# (valid, reasons, node id) per validated node, as validate_inputs caches them.
NodeValidation = tuple[bool, list[dict[str, Any]], str]


class ValidationResult(NamedTuple):
    valid: bool
    error: dict[str, Any] | None  # POST /prompt's top-level `error` when not valid
    outputs: list[str]  # the output nodes that will run
    node_errors: dict[str, Any]


def is_link(value: object) -> bool:
    """ComfyUI's is_link: a 2-list [node_id: str, slot: int|float]."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
        and not isinstance(value[1], bool)
    )


def validate_node_input(received_type: Any, input_type: Any) -> bool:
    """execution.validate_node_input (non-strict): equal, '*' or overlapping comma-separated unions."""
    if not received_type != input_type:
        return True
    if not isinstance(received_type, str) or not isinstance(input_type, str):
        return False
    received = {t.strip() for t in received_type.split(",")}
    wanted = {t.strip() for t in input_type.split(",")}
    if "*" in received or "*" in wanted:
        return True
    return len(received & wanted) > 0


class PromptValidator:
    """Validates API-format prompts against one node catalogue (the emulator's /object_info)."""

    def __init__(self, catalogue: dict[str, dict[str, Any]], *, newer: bool) -> None:
        self.catalogue = catalogue
        self.newer = newer

    def validate_prompt(self, prompt: Any, partial_execution_list: Any = None) -> ValidationResult:
        """execution.validate_prompt: (valid, error, outputs to execute, node_errors). May raise for a prompt that
        is not an object of nodes (ComfyUI then answers 500)."""
        outputs: list[str] = []
        if self.newer:
            for x in prompt:
                node = prompt[x]
                if "class_type" not in node or self.catalogue.get(node["class_type"]) is None:
                    return ValidationResult(False, comfyui_newer.missing_node_type(str(x), node), [], {})
        for x in prompt:
            if "class_type" not in prompt[x]:
                return ValidationResult(False, missing_class_type_error(x), [], {})
            class_type = prompt[x]["class_type"]
            class_def = self.catalogue.get(class_type)  # an unhashable class_type raises -> 500, as in ComfyUI
            if class_def is None:
                return ValidationResult(False, unknown_class_type_error(x, class_type), [], {})
            if class_def.get("output_node") is True:
                if (partial_execution_list is None or x in partial_execution_list) and x not in outputs:
                    outputs.append(x)
        if not outputs:
            return ValidationResult(False, no_outputs_error(), [], {})
        if self.newer and (cycle := comfyui_newer.find_cycle(prompt)) is not None:
            cycle_errors = comfyui_newer.cycle_node_errors(prompt, cycle, outputs)
            return ValidationResult(False, outputs_failed_error(""), [], cycle_errors)

        good_outputs: list[str] = []
        errors: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        validated: dict[str, NodeValidation] = {}
        for o in outputs:
            try:
                valid, reasons, _ = self.validate_inputs(prompt, o, validated, set())
            except Exception as ex:
                valid = False
                reasons = [{"type": "exception_during_validation", "message": "Exception when validating node",
                            "details": str(ex), "extra_info": {"exception_type": full_type_name(ex),
                                                               "traceback": [VALIDATE_LOOKUP_FRAME]}}]
                validated[o] = (False, reasons, o)
            if valid is True:
                good_outputs.append(o)
            else:
                errors.append((o, reasons))
                for node_id, result in validated.items():
                    if result[0] is not True and len(result[1]) > 0:
                        if node_id not in node_errors:
                            node_errors[node_id] = {"errors": result[1], "dependent_outputs": [],
                                                    "class_type": prompt[node_id]["class_type"]}
                        node_errors[node_id]["dependent_outputs"].append(o)
        if not good_outputs:
            details = "\n".join(f"{error['message']}: {error['details']}"
                                for _o, reasons in errors for error in reasons)
            return ValidationResult(False, outputs_failed_error(details), [], node_errors)
        return ValidationResult(True, None, good_outputs, node_errors)

    def validate_inputs(self, prompt: dict[str, Any], unique_id: str, validated: dict[str, NodeValidation],
                        visiting: set[str]) -> NodeValidation:
        if unique_id in validated:
            return validated[unique_id]
        inputs = prompt[unique_id]["inputs"]
        class_type = prompt[unique_id]["class_type"]
        class_def = self.catalogue[class_type]
        class_inputs = class_def["input"]
        valid_inputs = [*class_inputs.get("required", {}), *class_inputs.get("optional", {})]
        errors: list[dict[str, Any]] = []
        valid = True
        visiting = visiting | {unique_id}
        for x in valid_inputs:
            category = "required" if x in class_inputs.get("required", {}) else "optional"
            spec = class_inputs[category][x]
            input_type = spec[0]
            extra_info = spec[1] if len(spec) > 1 else {}
            info = [input_type, extra_info]
            if x not in inputs:
                if category == "required":
                    errors.append({"type": "required_input_missing", "message": "Required input is missing",
                                   "details": f"{x}", "extra_info": {"input_name": x}})
                continue
            val = inputs[x]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append({"type": "bad_linked_input",
                                   "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                   "details": f"{x}", "extra_info": {"input_name": x, "input_config": info,
                                                                     "received_value": val}})
                    continue
                o_id = val[0]
                o_class_type = prompt[o_id]["class_type"]
                linked_def = self.catalogue[o_class_type]
                # V1 nodes declare RETURN_TYPES as a tuple, V3 ones as a list: the IndexError text differs.
                return_types = list(linked_def["output"]) if "api_node" in linked_def else tuple(linked_def["output"])
                received_type = return_types[val[1]]
                if not validate_node_input(received_type, input_type):
                    errors.append({"type": "return_type_mismatch",
                                   "message": "Return type mismatch between linked nodes",
                                   "details": f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                                   "extra_info": {"input_name": x, "input_config": info,
                                                  "received_type": received_type, "linked_node": val}})
                    continue
                if o_id in visiting:
                    # A dependency cycle: ComfyUI recurses until it fails and the error is overwritten on the
                    # way back, leaving every node invalid without reasons (03_post_prompt_cycle.json).
                    valid = False
                    continue
                try:
                    r = self.validate_inputs(prompt, o_id, validated, visiting)
                    if r[0] is False:
                        valid = False
                        continue
                except Exception as ex:
                    valid = False
                    validated[o_id] = (False, [{
                        "type": "exception_during_inner_validation",
                        "message": "Exception when validating inner node",
                        "details": str(ex),
                        "extra_info": {"input_name": x, "input_config": info, "exception_message": str(ex),
                                       "exception_type": full_type_name(ex),
                                       "traceback": validation_frames_for(ex), "linked_node": val},
                    }], o_id)
                    continue
            else:
                try:
                    if isinstance(val, dict) and "__value__" in val:
                        val = val["__value__"]
                        inputs[x] = val
                    if input_type == "INT":
                        val = int(val)
                        inputs[x] = val
                    if input_type == "FLOAT":
                        val = float(val)
                        inputs[x] = val
                    if input_type == "STRING":
                        val = str(val)
                        inputs[x] = val
                    if input_type == "BOOLEAN":
                        val = bool(val)
                        inputs[x] = val
                except Exception as ex:
                    errors.append({"type": "invalid_input_type",
                                   "message": f"Failed to convert an input value to a {input_type} value",
                                   "details": f"{x}, {val}, {ex}",
                                   "extra_info": {"input_name": x, "input_config": info, "received_value": val,
                                                  "exception_message": str(ex)}})
                    continue
                if "min" in extra_info and val < extra_info["min"]:
                    errors.append({"type": "value_smaller_than_min",
                                   "message": "Value {} smaller than min of {}".format(val, extra_info["min"]),
                                   "details": f"{x}", "extra_info": {"input_name": x, "input_config": info,
                                                                     "received_value": val}})
                    continue
                if "max" in extra_info and val > extra_info["max"]:
                    errors.append({"type": "value_bigger_than_max",
                                   "message": "Value {} bigger than max of {}".format(val, extra_info["max"]),
                                   "details": f"{x}", "extra_info": {"input_name": x, "input_config": info,
                                                                     "received_value": val}})
                    continue
                if isinstance(input_type, list) or input_type == "COMBO":
                    options = extra_info.get("options", []) if input_type == "COMBO" else input_type
                    if val not in options:
                        input_config: Any = info
                        if len(options) > 20:
                            list_info = f"(list of length {len(options)})"
                            input_config = None
                        else:
                            list_info = str(options)
                        errors.append({"type": "value_not_in_list", "message": "Value not in list",
                                       "details": f"{x}: '{val}' not in {list_info}",
                                       "extra_info": {"input_name": x, "input_config": input_config,
                                                      "received_value": val}})
                        continue
        result = (False, errors, unique_id) if errors or valid is not True else (True, [], unique_id)
        validated[unique_id] = result
        return result
