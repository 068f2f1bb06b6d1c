"""Reading a server's checkpoint list (tui/core/checkpoints.py) from the real captures, and the per-profile cache."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tui.core.checkpoints import (
    MAX_CHECKPOINTS, CheckpointCache, CheckpointChoices, CheckpointListError, parse_models_answer,
    parse_object_info_answer,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "comfyui"


def test_the_captured_empty_models_answer_is_an_empty_list() -> None:
    choices = parse_models_answer((FIXTURES / "00_get_models_checkpoints.json").read_bytes())
    assert choices.listed and choices.names == () and choices.lacks("3dAnimationDiffusion_v10.safetensors")


def test_the_captured_object_info_answer_is_the_same_empty_list() -> None:
    body = (FIXTURES / "00_get_object_info_CheckpointLoaderSimple.json").read_bytes()
    assert parse_object_info_answer(body) == parse_models_answer(b"[]")


def test_object_info_with_names_and_the_newer_combo_spelling() -> None:
    info = json.loads((FIXTURES / "00_get_object_info_CheckpointLoaderSimple.json").read_text())
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = ["a.safetensors", "SDXL/b.safetensors"]
    assert parse_object_info_answer(json.dumps(info).encode()).names == ("a.safetensors", "SDXL/b.safetensors")
    info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] = ["COMBO", {"options": ["c.ckpt"]}]
    assert parse_object_info_answer(json.dumps(info).encode()).names == ("c.ckpt",)


@pytest.mark.parametrize("body", [b"", b"nope", b"{}", b'{"a": 1}', b"[null, 3]", b'"x"'])
def test_junk_is_an_error_with_a_reason(body: bytes) -> None:
    with pytest.raises(CheckpointListError):
        parse_models_answer(body)


def test_names_are_made_safe_junk_entries_dropped_and_the_count_capped() -> None:
    raw = ["ok.safetensors", "bad\x1b[2J.ckpt", 7, "", "x" * 5000] + [f"m{i}" for i in range(MAX_CHECKPOINTS)]
    choices = parse_models_answer(json.dumps(raw).encode())
    assert choices.names[:2] == ("ok.safetensors", "bad\\x1b[2J.ckpt")
    assert len(choices.names) == MAX_CHECKPOINTS and choices.more == 2
    assert not choices.lacks("m99999")  # capped: it may be among those left out


def test_no_list_never_says_a_name_is_missing() -> None:
    assert not CheckpointChoices.failed("HTTP 500").lacks("a")
    assert not CheckpointChoices.unavailable("API edition").lacks("a")


async def test_the_cache_asks_once_shares_the_request_and_asks_again_when_forgotten() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def fetch(profile: str) -> CheckpointChoices:
        calls.append(profile)
        await release.wait()
        return CheckpointChoices(names=(f"{profile}-{len(calls)}",), listed=True)

    cache = CheckpointCache(fetch)
    first = asyncio.ensure_future(cache.get("p"))
    second = asyncio.ensure_future(cache.get("p"))
    await asyncio.sleep(0)
    release.set()
    assert (await first) == (await second) and calls == ["p"]
    assert cache.cached("p") is not None and (await cache.get("p")).names == ("p-1",)
    assert (await cache.get("p", refresh=True)).names == ("p-2",)


async def test_a_fetch_overtaken_by_forget_is_not_kept() -> None:
    release = asyncio.Event()

    async def fetch(profile: str) -> CheckpointChoices:
        await release.wait()
        return CheckpointChoices(names=("old",), listed=True)

    cache = CheckpointCache(fetch)
    pending = asyncio.ensure_future(cache.get("p"))
    await asyncio.sleep(0)
    cache.forget("p")  # the profile reconnected meanwhile
    release.set()
    assert (await pending).names == ("old",)
    assert cache.cached("p") is None


async def test_close_ends_the_fetches_under_way() -> None:
    started = asyncio.Event()

    async def fetch(profile: str) -> CheckpointChoices:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("never gets here")

    cache = CheckpointCache(fetch)
    asker = asyncio.ensure_future(cache.get("p"))
    await started.wait()
    await asyncio.wait_for(cache.close(), 5)
    with pytest.raises(asyncio.CancelledError):
        await asker
    assert cache.cached("p") is None
