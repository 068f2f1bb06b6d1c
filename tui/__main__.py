"""`python -m tui` is the same as the `comfyq` console script."""

import sys

from tui.cli import main

if __name__ == "__main__":
    sys.exit(main())
