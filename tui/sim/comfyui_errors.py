"""The canned error data of the ComfyUI emulator: what a real 0.3.64 server answers when something goes wrong.

Every text here is copied from the captured responses in tests/fixtures/comfyui/ (its README, "Observed behaviour"):
the stock aiohttp 500 body for malformed requests, the top-level `error` objects of POST /prompt (`no_prompt`,
`invalid_prompt`, `prompt_no_outputs`, `prompt_outputs_failed_validation`), and the traceback frames of execution
and validation errors (install paths rewritten to /opt/ComfyUI, as in the fixtures). The logic that decides *when*
an error happens is in comfyui_validation.py and comfyui_nodes.py; this module only says what it looks like.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

# aiohttp's own body for an exception escaping a handler (what ComfyUI sends for malformed requests).
SERVER_ERROR_TEXT = "500 Internal Server Error\n\nServer got itself in trouble"


def server_error_response() -> web.Response:
    """aiohttp's stock 500 (text/plain + Connection: close), as ComfyUI answers malformed bodies."""
    response = web.Response(status=500, text=SERVER_ERROR_TEXT, content_type="text/plain")
    response.force_close()
    return response


# ----------------------------------------------------------------------------------------------------------
# POST /prompt's top-level `error` objects (01_*, 03_post_prompt_*.json)


def error_body(error: dict[str, Any] | None, node_errors: dict[str, Any]) -> dict[str, Any]:
    """The 400 body of a rejected prompt."""
    return {"error": error, "node_errors": node_errors}


def no_prompt_error() -> dict[str, Any]:
    return {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}}


def missing_class_type_error(node_id: object) -> dict[str, Any]:
    return {"type": "invalid_prompt", "message": "Cannot execute because a node is missing the class_type property.",
            "details": f"Node ID '#{node_id}'", "extra_info": {}}


def unknown_class_type_error(node_id: object, class_type: object) -> dict[str, Any]:
    return {"type": "invalid_prompt", "message": f"Cannot execute because node {class_type} does not exist.",
            "details": f"Node ID '#{node_id}'", "extra_info": {}}


def no_outputs_error() -> dict[str, Any]:
    return {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}}


def outputs_failed_error(details: str) -> dict[str, Any]:
    """`details` is "" unless the failing node is the output node itself (fixture README, item 2)."""
    return {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
            "details": details, "extra_info": {}}


# ----------------------------------------------------------------------------------------------------------
# Traceback frames and messages

# Copied from the captured tracebacks (05_get_history_id_exec_error_*.json).
EXECUTE_FRAMES = [
    '  File "/opt/ComfyUI/execution.py", line 496, in execute\n    output_data, output_ui, has_s'
    'ubgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_a'
    'll, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hi'
    'dden_inputs)\n                                                              ^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/execution.py", line 315, in get_output_data\n    return_values = await'
    ' _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_'
    'interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidd'
    'en_inputs=hidden_inputs)\n                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/execution.py", line 289, in _async_map_node_over_list\n    await proce'
    'ss_inputs(input_dict, i)\n',
    '  File "/opt/ComfyUI/execution.py", line 277, in process_inputs\n    result = f(**inputs)\n '
    '            ^^^^^^^^^^^\n',
]
V3_FRAMES = [
    '  File "/opt/ComfyUI/comfy_api/internal/__init__.py", line 149, in wrapped_func\n    return'
    ' method(locked_class, **inputs)\n           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/comfy_api/latest/_io.py", line 1270, in EXECUTE_NORMALIZED\n    to_ret'
    'urn = cls.execute(*args, **kwargs)\n                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
]
BLEND_FRAME = (
    '  File "/opt/ComfyUI/comfy_extras/nodes_post_processing.py", line 40, in execute\n    blend'
    'ed_image = image1 * (1 - blend_factor) + blended_image * blend_factor\n                    '
    '~~~~~~~~~~~~~~~~~~~~~~~~~~~~^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n'
)
SCALE_FRAMES = [
    '  File "/opt/ComfyUI/nodes.py", line 1824, in upscale\n    s = comfy.utils.common_upscale(s'
    'amples, width, height, upscale_method, "disabled")\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/ComfyUI/comfy/utils.py", line 887, in common_upscale\n    out = torch.nn.funct'
    'ional.interpolate(s, size=(height, width), mode=upscale_method)\n          ^^^^^^^^^^^^^^^^'
    '^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n',
    '  File "/opt/venv/lib/python3.11/site-packages/torch/nn/functional.py", line 5274, in inte'
    'rpolate\n    return torch._C._nn.upsample_bilinear2d(\n           ^^^^^^^^^^^^^^^^^^^^^^^^^^'
    '^^^^^^^\n',
]
KSAMPLER_FRAMES = [
    '  File "/opt/ComfyUI/nodes.py", line 1525, in sample\n    return common_ksampler(model, seed, steps, cfg, '
    "sampler_name, scheduler, positive, negative, latent_image, denoise=denoise)\n",
    '  File "/opt/ComfyUI/nodes.py", line 1492, in common_ksampler\n    samples = comfy.sample.sample(model, '
    "noise, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,\n",
    '  File "/opt/ComfyUI/comfy/sample.py", line 45, in sample\n    samples = sampler.sample(noise, positive, negative,'
    " cfg=cfg, latent_image=latent_image, start_step=start_step, last_step=last_step, force_full_denoise=force_full_"
    "denoise, denoise_mask=noise_mask, sigmas=sigmas, callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
    '  File "/opt/ComfyUI/comfy/samplers.py", line 1161, in sample\n    return sample(self.model, noise, positive, '
    "negative, cfg, self.device, sampler, sigmas, self.model_options, latent_image=latent_image, denoise_mask="
    "denoise_mask, callback=callback, disable_pbar=disable_pbar, seed=seed)\n",
    '  File "/opt/ComfyUI/comfy/ldm/modules/attention.py", line 461, in attention_pytorch\n    out = '
    "comfy.ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)\n",
]
OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 23.64 GiB of which 1.31 GiB is "
    "free. Including non-PyTorch memory, this process has 22.32 GiB memory in use. Of the allocated memory 21.62 GiB "
    "is allocated by PyTorch, and 251.40 MiB is reserved by PyTorch but unallocated. If reserved but unallocated "
    "memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
    "documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)
OOM_TIPS = (
    "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have "
    "accidentally set the batch_size to a large number."
)

# Validation tracebacks, as ComfyUI's validate_inputs produces them (03_post_prompt_link_*.json).
VALIDATE_RECURSE_FRAME = (
    '  File "/opt/ComfyUI/execution.py", line 808, in validate_inputs\n    r = await validate_inputs(prompt_id, '
    "prompt, o_id, validated)\n        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
)
VALIDATE_LOOKUP_FRAME = (
    '  File "/opt/ComfyUI/execution.py", line 788, in validate_inputs\n'
    "    o_class_type = prompt[o_id]['class_type']\n"
    "                   ~~~~~~^^^^^^\n"
)
VALIDATE_SLOT_FRAME = (
    '  File "/opt/ComfyUI/execution.py", line 790, in validate_inputs\n    received_type = r[val[1]]\n'
    "                    ~^^^^^^^^\n"
)


def full_type_name(exc: BaseException) -> str:
    """An exception's type as ComfyUI reports it: `KeyError` for builtins, `module.Class` otherwise."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def validation_frames_for(exc: BaseException) -> list[str]:
    """The traceback of an exception raised while validating a linked node (a missing node or a bad slot)."""
    if isinstance(exc, KeyError):
        return [VALIDATE_RECURSE_FRAME, VALIDATE_LOOKUP_FRAME]
    return [VALIDATE_RECURSE_FRAME, VALIDATE_SLOT_FRAME]
