"""The checkpoint field offers the target profile's checkpoints (issue 13): the real app on the emulators.

Typing a name's start completes it from the server's list (→ takes it); a name the server does not list gets a
short line under the field, which never blocks a submit; the choices follow the target profile; the API edition
(which cannot list) says nothing; at 80×24 the line is readable whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Label

from tests.integration.conftest import RunningComfyUISim, start_comfyui_sim
from tests.tui.conftest import SIZE, Sim, choose_profile, running, screen_lines, wait_for
from tests.tui.editor_app import EditorApp, editor_of
from tui.app import ComfyqApp
from tui.core.workflow import seed_workflow
from tui.widgets import checkpoint_field
from tui.widgets.parameters_form import ParametersForm
from tui.widgets.workflow_editor import WorkflowEditor

MODELS = ("3dAnimationDiffusion_v10.safetensors", "dreamshaper_8.safetensors", "SDXL/sd_xl_base_1.0.safetensors")
OTHER_MODELS = ("juggernaut_reborn.safetensors",)
FIELD = "4.ckpt_name"


def set_models(sim: Sim, names: tuple[str, ...]) -> None:
    """What the sim's dedicated ComfyUI has installed (its catalogue: what it lists and validates against)."""
    sim.server.comfyui.catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = list(names)


@pytest.fixture
async def other_server(tmp_path: Path) -> AsyncIterator[RunningComfyUISim]:
    """A second ComfyUI (another profile) with other checkpoints."""
    server = await start_comfyui_sim(tmp_path / "other-output", models=OTHER_MODELS)
    try:
        yield server
    finally:
        await server.stop()


def form_of(app: ComfyqApp) -> ParametersForm:
    return app.screen.query_one(WorkflowEditor).query_one(ParametersForm)


def field_of(app: ComfyqApp) -> Input:
    field = form_of(app).field_widget(FIELD)
    assert isinstance(field, Input)
    return field


def note_of(app: ComfyqApp) -> Label:
    return form_of(app).query_one(f"#{field_of(app).id}-hint", Label)


def note_text(app: ComfyqApp) -> str | None:
    note = note_of(app)
    return str(note.render()) if note.display else None


async def listed(pilot: Pilot[int], app: ComfyqApp, profile: str) -> None:
    form = form_of(app)
    await wait_for(pilot, lambda: form.checkpoint_profile == profile and form.checkpoints is not None
                   and form.checkpoints.available and (form.checkpoints.listed or form.checkpoints.reason),
                   f"{profile}'s checkpoint list")
    assert form.checkpoints is not None and form.checkpoints.listed, form.checkpoints


async def type_into(pilot: Pilot[int], field: Input, text: str) -> None:
    field.focus()
    field.value = ""
    await pilot.pause()
    await pilot.press(*text)
    await pilot.pause()


async def test_typing_a_names_start_completes_it_from_the_server(sim: Sim) -> None:
    set_models(sim, MODELS)
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        await listed(pilot, app, "sim-dedicated")
        field = field_of(app)
        await type_into(pilot, field, "dre")
        await wait_for(pilot, lambda: field._suggestion == "dreamshaper_8.safetensors", "the completion")
        # Being typed, not wrong: the line under the field says (whole) what → takes, not that it is missing.
        assert note_text(app) == "→ completes to dreamshaper_8.safetensors"
        assert not note_of(app).has_class("-warning")
        await pilot.press("right")  # takes the completion
        assert field.value == "dreamshaper_8.safetensors"
        await wait_for(pilot, lambda: note_text(app) is None, "no note for a listed name")
        workflow = app.screen.query_one(WorkflowEditor).workflow
        assert workflow is not None and workflow.nodes["4"]["inputs"]["ckpt_name"] == "dreamshaper_8.safetensors"

        await type_into(pilot, field, "sdxl/")  # any case finds it; the name's own case is what is taken
        await wait_for(pilot, lambda: field._suggestion == "SDXL/sd_xl_base_1.0.safetensors", "a case-blind completion")
        await pilot.press("right")
        assert field.value == "SDXL/sd_xl_base_1.0.safetensors"


async def test_a_name_the_server_lacks_is_said_under_the_field_and_still_submits(sim: Sim) -> None:
    set_models(sim, MODELS)
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        await listed(pilot, app, "sim-dedicated")
        await type_into(pilot, field_of(app), "typo_model.safetensors")
        await wait_for(pilot, lambda: note_text(app) is not None, "the note under the field")
        note = note_text(app) or ""
        assert "not on sim-dedicated (3 checkpoints)" in note and "refuse" in note, note
        assert note_of(app).has_class("-warning")
        editor = app.screen.query_one(WorkflowEditor)
        assert editor.workflow is not None and editor.error is None  # a hint, never a block

        await type_into(pilot, field_of(app), "DREAMSHAPER_8.safetensors")  # only the case differs
        await wait_for(pilot, lambda: "case matters" in (note_text(app) or ""), "the case note")

        await pilot.press("ctrl+s")  # submits anyway: the server has the last word
        job = (await wait_for(pilot, lambda: app.store.page(), "the submitted job"))[0]
        assert job.workflow is not None and job.workflow["4"]["inputs"]["ckpt_name"] == "DREAMSHAPER_8.safetensors"


async def test_the_choices_follow_the_target_profile(sim: Sim, other_server: RunningComfyUISim) -> None:
    set_models(sim, MODELS)
    sim.write_config(f'\n[profiles.other]\nedition = "dedicated"\nurl = "{other_server.base_url}/"\n')
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "other")
        await listed(pilot, app, "other")
        assert form_of(app).checkpoints.names == OTHER_MODELS  # type: ignore[union-attr]
        await wait_for(pilot, lambda: "not on other (1 checkpoint)" in (note_text(app) or ""),
                       "the seed's checkpoint is not on the other server")
        field = field_of(app)
        await type_into(pilot, field, "jug")
        await wait_for(pilot, lambda: field._suggestion == OTHER_MODELS[0], "the other server's completion")

        await choose_profile(pilot, app, "sim-dedicated")
        await listed(pilot, app, "sim-dedicated")
        await wait_for(pilot, lambda: "sim-dedicated (3 checkpoints)" in (note_text(app) or ""),
                       "the note names the new target")
        await type_into(pilot, field, "jug")
        await pilot.pause(0.2)
        assert field._suggestion == ""  # nothing of the other server's offered here

        await choose_profile(pilot, app, "sim-api")  # the API edition cannot list: nothing is said
        await wait_for(pilot, lambda: form_of(app).checkpoint_profile == "sim-api" and form_of(app).checkpoints
                       is not None, "sim-api's (absent) list")
        assert not form_of(app).checkpoints.available  # type: ignore[union-attr]
        await wait_for(pilot, lambda: note_text(app) is None, "no note without a list")
        assert field.suggester is None


async def test_going_to_the_field_reads_a_stale_list_again(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file copied to the server since the list was read is offered once the user goes to the field again."""
    monkeypatch.setattr(checkpoint_field, "REFRESH_AFTER_SECONDS", 0.0)  # every list is stale at once
    set_models(sim, MODELS)
    app = sim.app()
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        await listed(pilot, app, "sim-dedicated")
        set_models(sim, (*MODELS, "fresh_download.safetensors"))
        field_of(app).focus()
        await wait_for(pilot, lambda: "fresh_download.safetensors" in form_of(app).checkpoints.names,  # type: ignore[union-attr]
                       "the new file offered")
        await type_into(pilot, field_of(app), "fresh")
        await wait_for(pilot, lambda: field_of(app)._suggestion == "fresh_download.safetensors", "its completion")


async def test_the_note_is_readable_at_80_by_24(sim: Sim) -> None:
    set_models(sim, MODELS)
    app = sim.app()
    async with running(app, size=(80, 24)) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        await listed(pilot, app, "sim-dedicated")
        await type_into(pilot, field_of(app), "typo_model.safetensors")
        await wait_for(pilot, lambda: note_text(app) is not None, "the note")
        form = form_of(app)
        note = note_of(app)

        def on_screen() -> bool:  # the form scrolls to it by itself: the field has the focus
            region = note.region
            lines = screen_lines(app)[region.y: region.bottom]
            shown = " ".join(line[region.x: region.right].strip() for line in lines)
            return (note_text(app) or "").split() == shown.split()

        await wait_for(pilot, on_screen, lambda: "\n".join(screen_lines(app)))
        assert form.region.contains_region(note.region)

        # Tabbing away and back to the field (its text whole and the note under it) shows both again.
        form.scroll_home(animate=False)
        await pilot.press("shift+tab")
        await pilot.press("tab")
        await wait_for(pilot, lambda: field_of(app).has_focus and form.region.contains_region(note.region),
                       lambda: "\n".join(screen_lines(app)))
        assert note.region.width >= 20 and note.region.height <= 3  # a few wrapped lines, in the sidebar


@pytest.mark.parametrize("gap", [0.0, 0.001, 0.004])
async def test_quick_typing_keeps_every_key(tmp_path: Path, gap: float) -> None:
    """Keys arriving faster than the editor echoes each edit back into the form (tmux send-keys, a quick typist on a
    busy machine) all land: an echo of what the field itself sent never puts an older text back (it did: the
    server got `typo_v2.safeten` for `typo_v2.safetensors`)."""
    app = EditorApp(seed_workflow(), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        field = app.query_one(ParametersForm).field_widget(FIELD)
        assert isinstance(field, Input)
        field.focus()
        field.value = ""
        await pilot.pause()
        text = "typo_v2.safetensors_and_some_more"
        for character in text:  # as the terminal driver hands them over: posted to the app, a key at a time
            app.post_message(events.Key(character, character))
            await asyncio.sleep(gap)
        await wait_for(pilot, lambda: editor_of(app).workflow is not None
                       and editor_of(app).workflow.nodes["4"]["inputs"]["ckpt_name"] == text,  # type: ignore[union-attr]
                       lambda: f"every key in the JSON (the field says {field.value!r})")
        assert field.value == text


async def test_an_app_without_its_engine_asks_no_server(sim: Sim) -> None:
    app = sim.app(start_engine=False)
    async with running(app) as pilot:
        await choose_profile(pilot, app, "sim-dedicated")
        field_of(app).focus()
        await pilot.pause(0.5)
        assert form_of(app).checkpoint_profile == "sim-dedicated"
        assert form_of(app).checkpoints is None and app.engine.checkpoint_choices("sim-dedicated") is None
        assert note_text(app) is None
