"""The nodes the ComfyUI emulator can run, the values that flow between them, and the files they write.

Images are tracked by size, batch and colour (or a seeded pattern for a sampled picture), never as pixels until a
file is written: SaveImage writes real PNG files (png.py) with the workflow in a `prompt` text chunk, in ComfyUI's
`<prefix>_NNNNN_.png` naming (or the API edition's longer names); PreviewImage writes temp files. KSampler takes
`steps x step_seconds` and reports each step through the progress hook (and may raise the simulated CUDA
out-of-memory error); the other nodes take `node_seconds`. The failures two nodes raise are the captured ones
(ImageBlend's batch mismatch, ImageScaleBy's zero size; texts in comfyui_errors.py).

A node is `async (context, inputs) -> (outputs tuple, ui dict or None)`; the context (comfyui_execution.NodeContext)
gives it the emulator's settings, its progress hook and the websocket.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.sim import comfyui_newer
from tui.sim.comfyui_errors import (
    BLEND_FRAME,
    EXECUTE_FRAMES,
    KSAMPLER_FRAMES,
    OOM_MESSAGE,
    OOM_TIPS,
    SCALE_FRAMES,
    V3_FRAMES,
)
from tui.sim.comfyui_ws import text_frame
from tui.sim.png import RowSource, encode_png, pattern_rows, solid_rows

if TYPE_CHECKING:
    from tui.sim.comfyui_execution import NodeContext

NodeResult = tuple[tuple[Any, ...], dict[str, Any] | None]
NodeFunction = Callable[["NodeContext", dict[str, Any]], Awaitable[NodeResult]]


# ----------------------------------------------------------------------------------------------------------
# Values flowing between nodes


@dataclass(frozen=True)
class SimImage:
    """An IMAGE batch: size, batch and either a solid colour or a seeded pattern (a sampled picture)."""

    width: int
    height: int
    batch: int
    rgb: tuple[int, int, int] = (0, 0, 0)
    pattern_seed: int | None = None

    def rows(self, index: int) -> RowSource:
        if self.pattern_seed is not None:
            return pattern_rows(self.width, self.height, (self.pattern_seed + index * 7919) & 0xFFFFFF)
        return solid_rows(self.width, self.rgb)

    def resized(self, width: int, height: int) -> SimImage:
        return SimImage(width, height, self.batch, self.rgb, self.pattern_seed)

    def __str__(self) -> str:  # how ComfyUI stringifies a tensor in current_inputs (abridged)
        pixel = "[" + ", ".join(f"{c / 255:.4f}" for c in self.rgb) + "]"
        return f"tensor([[[{pixel},\n          ...]]]) # shape [{self.batch}, {self.height}, {self.width}, 3]"


@dataclass(frozen=True)
class SimLatent:
    width: int  # in pixels, like EmptyLatentImage's inputs
    height: int
    batch: int
    seed: int | None = None

    def __str__(self) -> str:
        return f"{{'samples': tensor(...) # shape [{self.batch}, 4, {self.height // 8}, {self.width // 8}]}}"


@dataclass(frozen=True)
class SimOpaque:
    """MODEL / CLIP / VAE / CONDITIONING stand-ins."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"<{self.kind} object at 0x7f{zlib.crc32(self.detail.encode()) & 0xFFFFFFFF:08x}>"


class NodeExecutionError(Exception):
    """An exception a node raised while running; becomes an `execution_error` message."""

    def __init__(self, exception_type: str, message: str, frames: list[str], tips: str = "") -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.message = message
        self.frames = frames
        self.tips = tips


class InterruptProcessing(Exception):
    """comfy.model_management.InterruptProcessingException."""


# ----------------------------------------------------------------------------------------------------------
# Output files


def _next_counter(folder: Path, filename: str) -> int:
    """folder_paths.get_save_image_path: one past the highest `<filename>_NNNNN_` already in the folder."""
    highest = 0
    prefix_len = len(filename)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        names = []
    for name in names:
        same_prefix = os.path.normcase(name[:prefix_len]) == os.path.normcase(filename)
        if not same_prefix or name[prefix_len:prefix_len + 1] != "_":
            continue
        digits = name[prefix_len + 1:].split("_")[0]
        if digits.isdigit():
            highest = max(highest, int(digits))
    return highest + 1


async def save_images(context: NodeContext, images: SimImage, filename_prefix: str, *, temp: bool
                      ) -> list[dict[str, str]]:
    """Write one PNG per image of the batch (the workflow in its text chunks); return the ui `images` list."""
    emulator = context.emulator
    base_dir = emulator.temp_dir if temp else emulator.output_dir
    if "%" in filename_prefix:
        filename_prefix = _compute_vars(filename_prefix, images.width, images.height)
    normalized = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(normalized)
    filename = os.path.basename(normalized)
    folder = (base_dir / subfolder).resolve()
    if os.path.commonpath((str(base_dir), str(folder))) != str(base_dir):
        raise NodeExecutionError(
            "Exception",
            "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: "
            f"{folder}\n         output_dir: {base_dir}\n         commonpath: "
            f"{os.path.commonpath((str(base_dir), str(folder)))}", list(EXECUTE_FRAMES))
    folder.mkdir(parents=True, exist_ok=True)
    text = {"prompt": json.dumps(context.prompt)}
    extra_pnginfo = context.extra_data.get("extra_pnginfo")
    if isinstance(extra_pnginfo, dict):
        text.update({str(key): json.dumps(value) for key, value in extra_pnginfo.items()})
    results: list[dict[str, str]] = []
    comfyui_names = temp or emulator.filename_style == "comfyui"
    counter = _next_counter(folder, filename) if comfyui_names else 0
    for index in range(images.batch):
        with_batch = filename.replace("%batch_num%", str(index))
        if comfyui_names:
            name = f"{with_batch}_{counter:05}_.png"
            counter += 1
        else:  # the API edition's names: <prefix>_<8 digits>_<timestamp>_<uuid>_.png
            name = f"{with_batch}_{index:08d}_{int(time.time() * 100000)}_{uuid.uuid4()}_.png"
        data = await asyncio.to_thread(encode_png, images.width, images.height, images.rows(index), text)
        await asyncio.to_thread((folder / name).write_bytes, data)
        result: dict[str, Any] = {"filename": name, "subfolder": subfolder, "type": "temp" if temp else "output"}
        if emulator.newer:
            result["metadata"] = comfyui_newer.image_metadata(images.width, images.height)
        results.append(result)
    return results


def _compute_vars(text: str, width: int, height: int) -> str:
    """SaveImage's %width%, %height%, %year%, ... placeholders in a filename prefix."""
    now = time.localtime()
    for key, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year),
                       ("%month%", f"{now.tm_mon:02}"), ("%day%", f"{now.tm_mday:02}"),
                       ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                       ("%second%", f"{now.tm_sec:02}")):
        text = text.replace(key, str(value))
    return text


# ----------------------------------------------------------------------------------------------------------
# Node implementations

async def _pause(context: NodeContext) -> None:
    await asyncio.sleep(context.emulator.node_seconds)


def _color(value: int) -> tuple[int, int, int]:
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


async def _empty_image(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (SimImage(inputs["width"], inputs["height"], inputs["batch_size"], _color(inputs["color"])),), None


async def _image_blur(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (inputs["image"],), None


def _upscale_error(image: SimImage, width: int, height: int) -> NodeExecutionError:
    return NodeExecutionError(
        "RuntimeError",
        f"Input and output sizes should be greater than 0, but got input (H: {image.height}, W: {image.width}) "
        f"output (H: {height}, W: {width})",
        [*EXECUTE_FRAMES, *SCALE_FRAMES])


async def _image_scale(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    image: SimImage = inputs["image"]
    width, height = inputs["width"], inputs["height"]
    if width == 0 and height == 0:
        return (image,), None
    if width == 0:
        width = max(1, round(image.width * height / image.height))
    elif height == 0:
        height = max(1, round(image.height * width / image.width))
    return (image.resized(width, height),), None


async def _image_scale_by(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    image: SimImage = inputs["image"]
    width, height = round(image.width * inputs["scale_by"]), round(image.height * inputs["scale_by"])
    if width <= 0 or height <= 0:
        raise _upscale_error(image, width, height)
    return (image.resized(width, height),), None


async def _image_blend(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    first: SimImage = inputs["image1"]
    second: SimImage = inputs["image2"]
    if first.batch != second.batch and 1 not in (first.batch, second.batch):
        raise NodeExecutionError(
            "RuntimeError",
            f"The size of tensor a ({first.batch}) must match the size of tensor b ({second.batch}) at "
            "non-singleton dimension 0",
            [*EXECUTE_FRAMES, *V3_FRAMES, BLEND_FRAME])
    factor = float(inputs["blend_factor"])
    red, green, blue = (round(a * (1 - factor) + b * factor) for a, b in zip(first.rgb, second.rgb))
    seed = first.pattern_seed if first.pattern_seed is not None else second.pattern_seed
    return (SimImage(first.width, first.height, max(first.batch, second.batch), (red, green, blue), seed),), None


async def _get_image_size(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    image: SimImage = inputs["image"]
    text = f"width: {image.width}, height: {image.height}\n batch size: {image.batch}"
    context.emulator.websockets.send_binary(text_frame(context.node_id, text), context.emulator.client_id)
    return (image.width, image.height, image.batch), None


async def _save_image(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    images = await save_images(context, inputs["images"], inputs["filename_prefix"], temp=False)
    return (), {"images": images}


async def _preview_image(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    suffix = "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))  # ComfyUI's own alphabet
    images = await save_images(context, inputs["images"], f"ComfyUI_temp_{suffix}", temp=True)
    return (), {"images": images}


async def _save_image_websocket(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    images: SimImage = inputs["images"]
    for index in range(images.batch):
        await _pause(context)
        png = await asyncio.to_thread(encode_png, images.width, images.height, images.rows(index), None)
        context.progress_hook(index, images.batch, png)
    return (), None


async def _checkpoint_loader(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    name = inputs["ckpt_name"]
    return (SimOpaque("comfy.model_patcher.ModelPatcher", name), SimOpaque("comfy.sd.CLIP", name),
            SimOpaque("comfy.sd.VAE", name)), None


async def _clip_text_encode(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (SimOpaque("conditioning", str(inputs["text"])),), None


async def _empty_latent(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    return (SimLatent(inputs["width"], inputs["height"], inputs["batch_size"]),), None


async def _ksampler(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    emulator = context.emulator
    steps = int(inputs["steps"])
    latent: SimLatent = inputs["latent_image"]
    fail_at = emulator.failure_step(steps)
    for step in range(steps):
        if step == fail_at:
            raise NodeExecutionError("torch.OutOfMemoryError", OOM_MESSAGE, [*EXECUTE_FRAMES, *KSAMPLER_FRAMES],
                                     OOM_TIPS)
        await asyncio.sleep(emulator.step_seconds)
        context.progress_hook(step + 1, steps)
    mixed = zlib.crc32(f"{inputs['seed']}|{inputs['positive']}|{inputs['negative']}|{inputs['cfg']}".encode())
    return (SimLatent(latent.width, latent.height, latent.batch, mixed),), None


async def _vae_decode(context: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    await _pause(context)
    latent: SimLatent = inputs["samples"]
    seed = latent.seed if latent.seed is not None else 0
    return (SimImage(latent.width, latent.height, latent.batch, (0, 0, 0), seed),), None


NODE_IMPLEMENTATIONS: dict[str, NodeFunction] = {
    "EmptyImage": _empty_image,
    "ImageBlur": _image_blur,
    "ImageScale": _image_scale,
    "ImageScaleBy": _image_scale_by,
    "ImageBlend": _image_blend,
    "GetImageSize": _get_image_size,
    "SaveImage": _save_image,
    "PreviewImage": _preview_image,
    "SaveImageWebsocket": _save_image_websocket,
    "CheckpointLoaderSimple": _checkpoint_loader,
    "CLIPTextEncode": _clip_text_encode,
    "EmptyLatentImage": _empty_latent,
    "KSampler": _ksampler,
    "VAEDecode": _vae_decode,
}
