"""The checkpoint list a profile's server offers (the parameters form's completions), over loopback.

The real httpx client (through the engine and the dedicated backend) against the project's ComfyUI emulator, and a
tiny aiohttp server for the answers the emulator never gives (404 on an old server, 500, a stall, an oversized
body, junk). Every failure is "no list" with a reason, never an exception; the API edition says "not available".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from tests.integration.backend_helpers import SimServerFactory
from tests.integration.conftest import ComfyUISimFactory, RunningComfyUISim
from tests.integration.engine_helpers import config_text
from tests.waiting import wait_until
from tui.core.checkpoints import MAX_CHECKPOINTS, CheckpointChoices
from tui.core.config import parse_config_text
from tui.core.engine import Engine
from tui.core.store import JobStore
from tui.sim.comfyui import DEFAULT_MODELS
from tui.sim.comfyui_routes import start_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _config_text(url: str, *, extra: str = "") -> str:
    return (
        "[defaults]\n"
        "request_timeout = 5\n"
        "\n"
        "[profiles.local]\n"
        'edition = "dedicated"\n'
        f'url = "{url}"\n'
        f"{extra}"
        "\n"
        "[profiles.queue]\n"
        'edition = "api"\n'
        'input_url = "http://127.0.0.1:9/api/predict/comfyui-api"\n'
        'token = "eas-token-0123456789abcdef"\n'
        'oss_bucket_path = "oss://test-bucket/data"\n'
    )


@pytest.fixture
async def engine_for(store: JobStore) -> AsyncIterator[Callable[..., Engine]]:
    """Engines on a config whose `local` profile points at a URL; stopped (clients closed) at the end."""
    made: list[Engine] = []

    def make(url: str, *, extra: str = "") -> Engine:
        engine = Engine(parse_config_text(_config_text(url, extra=extra)), store)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.stop()


@pytest.fixture
async def tiny_server() -> AsyncIterator[Callable[[dict[str, Handler]], Awaitable[str]]]:
    """A bare aiohttp server answering only the given routes (everything else 404, like an old ComfyUI)."""
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Handler]) -> str:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        runner, port = await start_server(app)
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


# ----- against the emulator ------------------------------------------------------------------------------------------

async def test_the_emulators_checkpoints_are_listed(comfyui_sim_factory: ComfyUISimFactory,
                                                    engine_for: Callable[..., Engine]) -> None:
    names = ("3dAnimationDiffusion_v10.safetensors", "sd_xl_base_1.0.safetensors", "SD15/v1-5-pruned.ckpt")
    sim: RunningComfyUISim = await comfyui_sim_factory(models=names)
    engine = engine_for(sim.base_url)
    assert engine.checkpoint_choices("local") is None  # nothing asked yet

    choices = await engine.load_checkpoint_choices("local")

    assert choices.listed and choices.reason is None
    assert choices.names == names
    assert engine.checkpoint_choices("local") == choices  # cached for the form
    assert not choices.lacks(names[1]) and choices.lacks("sd_xl_base_1.0")


async def test_a_hostile_name_is_shown_escaped(comfyui_sim_factory: ComfyUISimFactory,
                                               engine_for: Callable[..., Engine]) -> None:
    sim = await comfyui_sim_factory(models=("good.safetensors", "evil\x1b]52;c;aGk=\x07\x1b[2J.safetensors"))
    choices = await engine_for(sim.base_url).load_checkpoint_choices("local")
    assert choices.listed
    assert choices.names[0] == "good.safetensors"
    assert "\x1b" not in choices.names[1] and "\x07" not in choices.names[1]
    assert choices.names[1] == "evil\\x1b]52;c;aGk=\\x07\\x1b[2J.safetensors"


async def test_the_list_and_the_servers_validation_agree(comfyui_sim_factory: ComfyUISimFactory,
                                                         engine_for: Callable[..., Engine]) -> None:
    """A name the list offers passes POST /prompt's ckpt_name check; one it lacks is refused as not in the list."""
    sim = await comfyui_sim_factory(models=("a.safetensors", "b.safetensors"))
    choices = await engine_for(sim.base_url).load_checkpoint_choices("local")
    catalogue = sim.emulator.catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert list(choices.names) == catalogue
    workflow = json.loads((FIXTURES / "workflows" / "sd15_txt2img_missing_checkpoint.json").read_text())
    for name in (*choices.names, "c.safetensors"):
        workflow["4"]["inputs"]["ckpt_name"] = name
        status, body = sim.emulator.validate(workflow)
        refused = status == 400 and "value_not_in_list" in json.dumps(body["node_errors"].get("4", {}))
        assert refused == choices.lacks(name), name


async def test_the_list_follows_a_refresh(comfyui_sim_factory: ComfyUISimFactory,
                                          engine_for: Callable[..., Engine]) -> None:
    sim = await comfyui_sim_factory(models=("a.safetensors",))
    engine = engine_for(sim.base_url)
    assert (await engine.load_checkpoint_choices("local")).names == ("a.safetensors",)
    sim.emulator.catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].append("new.safetensors")
    assert (await engine.load_checkpoint_choices("local")).names == ("a.safetensors",)  # cached
    refreshed = await engine.load_checkpoint_choices("local", refresh=True)
    assert refreshed.names == ("a.safetensors", "new.safetensors")


async def test_the_api_edition_says_not_available(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for("http://127.0.0.1:9")
    choices = await engine.load_checkpoint_choices("queue")
    assert not choices.available and not choices.listed
    assert choices.reason and "API edition" in choices.reason
    assert not choices.lacks("anything.safetensors")  # no list: nothing is said to be missing


# ----- servers that cannot give the list -----------------------------------------------------------------------------

async def _not_found(request: web.Request) -> web.StreamResponse:
    return web.Response(status=404)


async def test_an_old_server_without_the_route_falls_back_to_object_info(
        tiny_server: Callable[[dict[str, Handler]], Awaitable[str]], engine_for: Callable[..., Engine]) -> None:
    """Before /models existed, /object_info/CheckpointLoaderSimple carried the same list (the fixture's shape)."""
    info = json.loads((FIXTURES / "00_get_object_info_CheckpointLoaderSimple.json").read_text())
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = ["old.ckpt"]

    async def object_info(request: web.Request) -> web.StreamResponse:
        return web.json_response(info)

    url = await tiny_server({"/object_info/CheckpointLoaderSimple": object_info})
    choices = await engine_for(url).load_checkpoint_choices("local")
    assert choices.listed and choices.names == ("old.ckpt",)


async def test_a_server_with_neither_route_gives_no_list(
        tiny_server: Callable[[dict[str, Handler]], Awaitable[str]], engine_for: Callable[..., Engine]) -> None:
    url = await tiny_server({})
    choices = await engine_for(url).load_checkpoint_choices("local")
    assert not choices.listed and choices.available
    assert choices.reason and "404" in choices.reason


async def test_a_server_error_gives_no_list(tiny_server: Callable[[dict[str, Handler]], Awaitable[str]],
                                            engine_for: Callable[..., Engine]) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")

    url = await tiny_server({"/models/checkpoints": broken})
    choices = await engine_for(url).load_checkpoint_choices("local")
    assert not choices.listed and choices.reason and "HTTP 500" in choices.reason


async def test_a_stalled_answer_gives_no_list_within_the_deadline(
        tiny_server: Callable[[dict[str, Handler]], Awaitable[str]], engine_for: Callable[..., Engine]) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'["a.safe')
        await asyncio.sleep(30)  # a trickle that never ends: only the overall deadline stops it
        return response

    url = await tiny_server({"/models/checkpoints": stall})
    engine = engine_for(url, extra="request_timeout = 0.5\n")
    choices = await asyncio.wait_for(engine.load_checkpoint_choices("local"), 10)
    assert not choices.listed and choices.reason and "in time" in choices.reason


async def test_an_oversized_answer_gives_no_list(tiny_server: Callable[[dict[str, Handler]], Awaitable[str]],
                                                 engine_for: Callable[..., Engine]) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        return web.json_response([f"model_{index:05d}.safetensors" for index in range(2000)])

    url = await tiny_server({"/models/checkpoints": huge})
    choices = await engine_for(url, extra="max_response_mb = 0.01\n").load_checkpoint_choices("local")
    assert not choices.listed and choices.reason and "larger than" in choices.reason


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b'{"checkpoints": []}', b"[1, 2, 3]"])
async def test_junk_gives_no_list(tiny_server: Callable[[dict[str, Handler]], Awaitable[str]],
                                  engine_for: Callable[..., Engine], body: bytes) -> None:
    async def junk(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    url = await tiny_server({"/models/checkpoints": junk})
    choices = await engine_for(url).load_checkpoint_choices("local")
    if body == b"[1, 2, 3]":  # a list with no names at all is no list either
        assert not choices.listed and choices.reason
    else:
        assert not choices.listed and choices.reason and "checkpoints" in choices.reason


async def test_too_many_names_are_capped(tiny_server: Callable[[dict[str, Handler]], Awaitable[str]],
                                         engine_for: Callable[..., Engine]) -> None:
    count = MAX_CHECKPOINTS + 25

    async def many(request: web.Request) -> web.StreamResponse:
        return web.json_response([f"m{index:06d}.safetensors" for index in range(count)])

    url = await tiny_server({"/models/checkpoints": many})
    choices = await engine_for(url).load_checkpoint_choices("local")
    assert choices.listed and len(choices.names) == MAX_CHECKPOINTS and choices.more == 25
    assert not choices.lacks("zzz.safetensors")  # not among the first ones kept: it may well be on the server


async def test_an_unreachable_server_gives_no_list(engine_for: Callable[..., Engine]) -> None:
    choices = await engine_for("http://127.0.0.1:9").load_checkpoint_choices("local")
    assert isinstance(choices, CheckpointChoices)
    assert not choices.listed and choices.reason and "cannot reach" in choices.reason


# ----- refreshed when the profile reconnects -------------------------------------------------------------------------

async def test_a_restarted_server_is_asked_again(sim_servers: SimServerFactory, store: JobStore,
                                                 tmp_path: Path) -> None:
    """ComfyUI restarted (maybe with other files): once the profile is back, the engine has forgotten the old list."""
    server = await sim_servers()
    server.comfyui.catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].append("gone.safetensors")
    engine = Engine(parse_config_text(config_text(server, token=None)), store)
    try:
        await engine.start(["sim-dedicated"])
        before = await engine.load_checkpoint_choices("sim-dedicated")
        assert before.names == (*DEFAULT_MODELS, "gone.safetensors")

        await server.restart_comfyui(down_seconds=0.3)  # the new process has only the default files

        await wait_until(lambda: engine.checkpoint_choices("sim-dedicated") is None, 15, "the old list forgotten")
        after = await engine.load_checkpoint_choices("sim-dedicated")
        assert after.names == DEFAULT_MODELS
    finally:
        await engine.stop()
