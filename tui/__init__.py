"""comfyq: submit, watch and resubmit ComfyUI workflows on PAI-EAS / PAI ArtLab and plain ComfyUI."""

__version__ = "0.1.0"
