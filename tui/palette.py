"""Command palette (ctrl+p): contextual commands for the job under the cursor, profiles and filter presets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.main import MainScreen

if TYPE_CHECKING:
    from tui.app import ComfyqApp


class ComfyqCommands(Provider):
    """Everything the main screen can do, named so it can be found by typing."""

    def _main_screen(self) -> MainScreen | None:
        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        return None

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        screen = self._main_screen()
        if screen is None:
            return
        job = screen.cursor_job()
        if job is not None:
            short = job.id[:8]
            yield f"Resubmit job {short}", "r — new attempt with the same workflow", screen.action_resubmit
            yield (
                f"Resubmit job {short} with a new seed",
                "a new attempt with every seed randomized",
                partial(screen.resubmit_with_new_seed),
            )
            if screen.cancel_refusal(job) is None:  # only where the job's backend can
                yield f"Cancel job {short}", "x — delete from the queue or interrupt", screen.action_cancel
            if job.outputs:
                yield f"Copy OSS path of job {short}", "y — the first output's OSS path", screen.action_copy_oss_path
                yield f"Copy all OSS paths of job {short}", "Y — one path per line", screen.action_copy_all_oss_paths
            yield f"Copy ids of job {short}", "c — job id, task_id / prompt_id", screen.action_copy_ids
            yield f"Open detail of job {short}", "enter — timeline, outputs, errors, raw result", screen.open_cursor_detail
            if job.workflow is not None:
                yield f"Load workflow of job {short}", "w — into the editor", screen.action_load_job_workflow
        yield "Resubmit all failed jobs in view", "R — failed, lost and unknown jobs without a retry yet", (
            screen.action_resubmit_failed
        )
        for pane_id, name, what in (("profiles", "Profiles", "the service profiles: n new, E edit, t test"),
                                    ("editor", "Workflow", "the workflow editor: parameters and JSON"),
                                    ("jobs-pane", "Jobs", "the live job table"),
                                    ("detail", "Detail", "the selected job's detail pane")):
            yield f"Go to {name}", f"focus {what}", partial(screen.go_to_pane, pane_id)
        yield "Show stats", "i — throughput, wait and run times, failures of this profile or filter", screen.action_stats
        yield "Export this view (CSV)", "every job of the current filter to a .csv file", partial(screen.export_view, "csv")
        yield "Export this view (JSON Lines)", "every job of the current filter to a .jsonl file", partial(
            screen.export_view, "jsonl"
        )
        yield "Submit workflow", "ctrl+s — to the active (or every marked) profile", screen.action_submit
        yield "Open workflow in $EDITOR", "e — edit the JSON in your editor", screen.action_open_in_editor
        yield "Open workflow file…", "ctrl+o — path completion and recent files", screen.action_open_workflow
        yield "Save workflow", "F2 — pretty JSON to its file", screen.action_save_workflow
        yield "Save workflow as…", "shift+F2 — to a new file", screen.action_save_workflow_as
        yield "Randomize seeds", "every seed / noise_seed in the workflow", screen.randomize_seeds
        for key, label in (("all", "All"), ("active", "Active"), ("failed", "Failed"), ("done", "Done")):
            yield f"Filter: {label}", f"quick filter ({key})", partial(screen.action_quick_filter, key)
        for name in cast("ComfyqApp", self.app).config.profiles:
            yield f"Switch profile: {name}", "make it the active profile", partial(screen.switch_profile, name)
            yield f"Filter: profile {name}", "show only this profile's jobs", partial(screen.filter_profile, name)
            yield f"Test connection: {name}", "one request to the service", partial(screen.test_connection, name)
        yield "New profile", "add a service profile (saved to the config file)", screen.new_profile

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
