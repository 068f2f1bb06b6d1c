"""Moved to `tui.core.presentation` (the CLI and the widgets share it); this module only re-exports its names.

re-exported for tui/widgets/profile_list.py, tui/widgets/status_bar.py, screens/job_detail.py and bench/_common.py
(owned by others this round); delete once they import `tui.core.presentation`.
"""

from __future__ import annotations

from tui.core.presentation import (  # noqa: F401 - re-exported, see above
    STATE_ICONS,
    STATE_STYLES,
    error_summary,
    format_age,
    format_clock,
    format_duration,
    progress_text,
    remote_id,
    short_id,
)
