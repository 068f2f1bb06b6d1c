"""Every screen readable at 80×24 (issue 13): no key in the footer drawn cut, no value a user needs cut to "…".

The footer is Textual's stock Footer; at 80 columns it must show only keys that fit whole (the rest stay bound and
are listed by help and the command palette). Each screen is looked at as a user reaches it, at 80×24 and 120×36.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, TextArea

from tests.tui.conftest import SIZE, Sim, jobs_table, running, screen_lines, wait_for
from tui.app import ComfyqApp
from tui.core.backends.base import SourceState, SourceStatus
from tui.core.jobs import JobState
from tui.core.stats import ProfileFigures
from tui.widgets.job_detail import JobDetail
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.profile_list import ProfileList
from tui.widgets.workflow_editor import WorkflowEditor

NARROW = (80, 24)
SIZES = pytest.mark.parametrize("size", [NARROW, SIZE], ids=["80x24", "120x36"])


def footer_problems(app: ComfyqApp, screen: Screen[Any]) -> list[str]:
    """Every FooterKey of `screen` that is not whole on screen, or that the command-palette key covers."""
    area = Region(0, 0, *app.size)
    keys = list(screen.query("FooterKey"))  # the stock Footer's keys (the class is not exported by name)
    assert keys, f"{type(screen).__name__} has no footer keys"
    palette = [key for key in keys if key.has_class("-command-palette")]
    problems = []
    for key in keys:
        region = key.region
        label = f"{getattr(key, 'key_display', '')} {getattr(key, 'description', '')}".strip()
        if not region or not area.contains_region(region):
            problems.append(f"{label!r} not whole on screen ({region})")
        elif any(key is not other and region.overlaps(other.region) for other in palette):
            problems.append(f"{label!r} under the command-palette key ({region})")
    return problems


async def assert_footer_fits(pilot: Pilot[Any], app: ComfyqApp, screen: Screen[Any] | None = None) -> None:
    await pilot.pause()
    await pilot.pause()  # the Footer recomposes after a refresh
    problems = footer_problems(app, screen or app.screen)
    assert not problems, "\n".join(problems) + "\n" + screen_lines(app)[-1]


def footer_line(app: ComfyqApp) -> str:
    return screen_lines(app)[-1]


@SIZES
async def test_the_main_screens_footer_keys_are_whole_whatever_has_the_focus(sim: Sim, size: tuple[int, int]) -> None:
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        await assert_footer_fits(pilot, app)  # the job table (the screen's first focus)
        assert "? Help" in footer_line(app)  # help lists every key the footer has no room for
        app.screen.query_one(ProfileList).focus()
        await assert_footer_fits(pilot, app)
        editor = app.screen.query_one(WorkflowEditor)
        editor.query(Input).first().focus()  # a parameter field
        await assert_footer_fits(pilot, app)
        await pilot.press("ctrl+t")  # the JSON view
        await wait_for(pilot, lambda: isinstance(app.focused, TextArea), "the JSON text to have the focus")
        await assert_footer_fits(pilot, app)
        app.screen.query_one(JobDetail).focus()
        await assert_footer_fits(pilot, app)


@SIZES
async def test_the_footer_keeps_cancel_and_help_while_a_job_runs(sim: Sim, size: tuple[int, int]) -> None:
    sim.set_step_seconds(0.5)  # 20 steps: the job runs long enough to be cancelled
    app = sim.app()
    async with running(app, size=size) as pilot:
        app.screen.query_one(ProfileList).set_active("sim-dedicated")
        jobs_table(app).focus()
        await pilot.press("ctrl+s")
        job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        await wait_for(pilot, lambda: app.store.get(job.id).state in (JobState.QUEUED, JobState.RUNNING),
                       "the job in flight")
        await wait_for(pilot, lambda: "x Cancel" in footer_line(app), lambda: f"Cancel in the footer: {footer_line(app)}")
        await assert_footer_fits(pilot, app)
        assert "? Help" in footer_line(app)


@SIZES
async def test_every_other_screens_footer_keys_are_whole(sim: Sim, size: tuple[int, int]) -> None:
    app = sim.app()
    async with running(app, size=size) as pilot:
        jobs_table(app).focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: jobs_table(app).cursor_job_id is not None, "the submitted job's row")

        async def look(open_keys: tuple[str, ...], ready: Callable[[], bool], what: str,
                       check: Callable[[], Awaitable[None]]) -> None:
            await pilot.press(*open_keys)
            await wait_for(pilot, ready, what)
            await check()
            await pilot.press("escape")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "MainScreen", f"back from {what}")

        main = app.screen
        # Full-screen views have a footer of their own; dialogs lie over the main screen, whose footer shows.
        async def full_screen_footer() -> None:
            await assert_footer_fits(pilot, app)
            assert "esc Back" in footer_line(app) and "? Help" in footer_line(app), footer_line(app)  # how to leave

        await look(("enter",), lambda: type(app.screen).__name__ == "JobDetailScreen", "the detail screen",
                   full_screen_footer)
        await look(("i",), lambda: type(app.screen).__name__ == "StatsScreen", "the stats screen",
                   full_screen_footer)
        for keys, name in ((("question_mark",), "HelpScreen"), (("ctrl+o",), "OpenWorkflowScreen")):
            await look(keys, lambda name=name: type(app.screen).__name__ == name, name,  # type: ignore[misc]
                       lambda: assert_footer_fits(pilot, app, main))
        app.screen.query_one(ProfileList).focus()
        await look(("n",), lambda: type(app.screen).__name__ == "ProfileFormScreen", "the profile form",
                   lambda: assert_footer_fits(pilot, app, main))


@SIZES
async def test_the_profiles_pane_says_where_its_config_is_without_cutting(sim: Sim, size: tuple[int, int]) -> None:
    """The key hints are the footer's (n / E / t show there when the pane has the focus); the pane's border says
    which file its profiles come from, whole; the host, the last hour and why a profile cannot connect are whole."""
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        profiles = app.screen.query_one(ProfileList)
        profiles.focus()
        error = "auth failed: HTTP 401 from the EAS gateway (check the token of sim-api)"
        profiles.update_status(SourceStatus("sim-api", SourceState.ERROR, last_seen=None, error=error))
        profiles.update_status(SourceStatus("sim-dedicated", SourceState.CONNECTED, last_seen=None))
        profiles.set_hour_figures({"sim-api": ProfileFigures("sim-api", 12, 9, 3, 12.0, 60.0)})
        profiles.set_in_flight("sim-api", {f"job{number}" for number in range(12)})  # "12 in flight", whole too
        profiles.scroll_home(animate=False)
        await pilot.pause()
        assert str(profiles.border_subtitle) == sim.config_file.name

        def pane() -> list[str]:
            region = profiles.region
            return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]

        shown = "\n".join(pane())
        assert sim.config_file.name in pane()[-1], shown
        cut = [line for line in pane() if line.rstrip("│╮╯ ").endswith("…")]  # a masked token has one inside
        assert not cut, shown
        assert app.config.profiles["sim-api"].host in shown and "✘ error" in shown, shown
        assert "12 in flight" in shown, shown
        # Why it cannot connect, whole (wrapped), and the last hour: on the pane as it is, or zoomed (z) where the
        # pane is short (at 24 lines it shows a profile's first four lines).
        if "25.0% failed" not in shown:
            await pilot.press("z")
            await wait_for(pilot, lambda: app.screen.maximized is profiles, "the profiles pane zoomed")
            await pilot.pause()
            shown = "\n".join(pane())
        inside = " ".join(line.strip("│╭╮╰╯─ ") for line in shown.splitlines())
        assert error in inside and "12/h · 25.0% failed" in inside, shown
        assert not [line for line in shown.splitlines() if line.rstrip("│╮╯ ").endswith("…")], shown
        for key in ("space Mark", "n New profile", "E Edit", "del Delete", "t Test"):  # the pane's own keys, all
            assert key in footer_line(app), footer_line(app)


CHECKPOINT = "3dAnimationDiffusion_v10.safetensors"  # the seed workflow's (and the demo's) checkpoint


@SIZES
async def test_the_checkpoint_name_is_readable_whole_without_a_tooltip(sim: Sim, size: tuple[int, int]) -> None:
    """In the main screen's sidebar (28 cells inside at 80 columns) the whole name is on screen, wrapped if need be,
    while the field is not focused (as a user first sees it) and while it is being typed in."""
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        editor = app.screen.query_one(WorkflowEditor)
        form = editor.query_one(ParametersForm)
        field = form.field_widget("4.ckpt_name")
        assert isinstance(field, Input) and field.value == CHECKPOINT
        form.scroll_to_widget(field.parent or field, animate=False, top=True)
        await pilot.pause()
        assert CHECKPOINT in form_text(app, form), form_text(app, form)

        field.focus()
        field.value = "sd_xl_base_1.0_0.9vae_refiner_edition.safetensors"
        row = field.parent or field

        def readable() -> bool:  # the user scrolls the form to the field (its read-out grows under it)
            form.scroll_to_widget(row, animate=False)
            return field.value in form_text(app, form)

        await wait_for(pilot, readable, lambda: f"the typed name whole on screen: {form_text(app, form)}")


def form_text(app: ComfyqApp, form: ParametersForm) -> str:
    """The form's lines as on screen, joined without their line breaks (a wrapped value reads whole)."""
    region = form.region
    return "".join(line[region.x : region.right].strip() for line in screen_lines(app)[region.y : region.bottom])


@SIZES
async def test_where_ctrl_s_sends_is_whole_under_the_editor(sim: Sim, size: tuple[int, int]) -> None:
    """The line under the editor says where ctrl+s sends ("→ sim-dedicated", "3 jobs → sim-dedicated"): at 80
    columns a profile name longer than what is left beside the count takes a line of its own instead of "→ sim-dedi…"."""
    app = sim.app(start_engine=False)
    async with running(app, size=size) as pilot:
        app.screen.switch_profile("sim-dedicated")
        editor = app.screen.query_one(WorkflowEditor)

        def bar_text() -> str:
            region = editor.query_one("#workflow-submit-bar").region
            return "\n".join(line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom])

        await wait_for(pilot, lambda: "→ sim-dedicated" in bar_text(), lambda: f"the target whole: {bar_text()!r}")
        assert "copies" in bar_text(), bar_text()
        count = editor.query_one("#workflow-count", Input)
        count.value = "3"
        await wait_for(pilot, lambda: "3 jobs → sim-dedicated" in bar_text() and "same seed" in bar_text(),
                       lambda: f"three copies, whole: {bar_text()!r}")
        count.value = "1"
        await wait_for(pilot, lambda: "same seed" not in bar_text() and "→ sim-dedicated" in bar_text(),
                       lambda: f"back to one copy: {bar_text()!r}")


async def test_a_profile_made_active_from_the_palette_is_shown_in_the_short_profiles_pane(sim: Sim) -> None:
    """At 80×24 the Profiles pane shows one profile at a time: the palette's "Switch profile" brings the new active
    one into view (it stayed below, the pane showing a profile no longer active)."""
    app = sim.app(start_engine=False)
    async with running(app, size=NARROW) as pilot:
        profiles = app.screen.query_one(ProfileList)
        for name in ("sim-api", "sim-dedicated"):  # as connected profiles show: four lines each, at 80 columns
            profiles.update_status(SourceStatus(name, SourceState.CONNECTED, last_seen=None, queue_length=0,
                                                consumers=3))
        profiles.set_hour_figures({})
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.press(*"Switch profile: sim-dedicated")
        await wait_for(pilot, lambda: "Switch profile: sim-dedicated" in "\n".join(screen_lines(app)), "the command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: profiles.active_profile == "sim-dedicated", "sim-dedicated active")

        def pane() -> str:
            region = profiles.region
            return "\n".join(line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom])

        await wait_for(pilot, lambda: "▶ sim-dedicated" in pane(), lambda: f"the active profile in view:\n{pane()}")
