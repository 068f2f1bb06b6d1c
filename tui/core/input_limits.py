"""The ranges ComfyUI declares for the inputs people edit most (steps, cfg, denoise, width/height, ...).

ComfyUI refuses a prompt whose number is outside its node's declared ``min``/``max`` (``value_smaller_than_min``,
``value_bigger_than_max``), and its own UI keeps sizes on their ``step`` (latent sizes in multiples of 8). The
parameters form checks a typed number against these limits so the user learns it under the field, before a
submission fails. The figures are ComfyUI's node definitions as ``/object_info`` reports them (the fixture
``tests/fixtures/comfyui/00_get_object_info_all.json``; a unit test keeps the two in step). Custom nodes are not
listed: their inputs are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputLimit:
    """An input's declared range; ``multiple`` when the value must also be a multiple of it (a latent size)."""

    minimum: int | float
    maximum: int | float
    multiple: int | None = None

    def problem(self, value: int | float, shown: str | None = None) -> str | None:
        """Why ``value`` is refused ("takes 1 to 10000; 0 is not in range"), or None when it fits."""
        shown = shown if shown is not None else repr(value)
        if self.multiple is not None:
            if not (self.minimum <= value <= self.maximum) or value % self.multiple:
                return f"takes a multiple of {self.multiple} from {self.minimum} to {self.maximum}; {shown} is not one"
            return None
        if not (self.minimum <= value <= self.maximum):
            return f"takes {self.minimum} to {self.maximum}; {shown} is not in range"
        return None


_SAMPLER = {
    "seed": InputLimit(0, 18446744073709551615),
    "steps": InputLimit(1, 10000),
    "cfg": InputLimit(0.0, 100.0),
}
_SIZE = InputLimit(16, 16384, multiple=8)

LIMITS: dict[tuple[str, str], InputLimit] = {
    **{("KSampler", name): limit for name, limit in _SAMPLER.items()},
    ("KSampler", "denoise"): InputLimit(0.0, 1.0),
    ("KSamplerAdvanced", "noise_seed"): _SAMPLER["seed"],
    ("KSamplerAdvanced", "steps"): _SAMPLER["steps"],
    ("KSamplerAdvanced", "cfg"): _SAMPLER["cfg"],
    ("KSamplerAdvanced", "start_at_step"): InputLimit(0, 10000),
    ("KSamplerAdvanced", "end_at_step"): InputLimit(0, 10000),
    ("EmptyLatentImage", "width"): _SIZE,
    ("EmptyLatentImage", "height"): _SIZE,
    ("EmptyLatentImage", "batch_size"): InputLimit(1, 4096),
}


def limit_for(class_type: str, input_name: str) -> InputLimit | None:
    """The declared limit of ``class_type.input_name``, or None when comfyq does not know one."""
    return LIMITS.get((class_type, input_name))
