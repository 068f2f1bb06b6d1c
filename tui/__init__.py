"""comfyq: submit, watch and resubmit ComfyUI workflows on PAI-EAS / PAI ArtLab and plain ComfyUI."""

import os

__version__ = "0.1.0"

# Textual paints at most TEXTUAL_FPS frames a second (default 60) and reads the variable once, when it is first
# imported — so this has to run before any `import textual`. At 60 a key press waits up to 17 ms for its frame,
# which is what a user feels when holding ↓ over a busy table; at 120 it waits half that, and a frame with nothing
# dirty costs nothing. A value the user set wins.
os.environ.setdefault("TEXTUAL_FPS", "120")
