"""The checkpoints a profile's server has: what the parameters form offers for `ckpt_name`, and says is missing.

ComfyUI refuses a prompt whose `CheckpointLoaderSimple.ckpt_name` is not one of its files (`value_not_in_list`),
and serves that list two ways: `GET /models/checkpoints` (a plain sorted list of names, since mid-2024) and
`GET /object_info/CheckpointLoaderSimple` (the node's input spec, whose `ckpt_name` enum is the same
`folder_paths.get_filename_list("checkpoints")`). The first is preferred: a few bytes and a flat shape; the second is
asked only when the first is not there (404/405 on an older server). The API edition (EAS queue) cannot list
anything: it has no such route.

Names are outside text: each passes `safe_text.visible` here, at the boundary, so no control character ever
reaches a widget. The list is capped (`MAX_CHECKPOINTS`); a capped list never says a name is missing (it may be
among those left out). What cannot be read ("no list") carries a reason and never raises.

`CheckpointCache` keeps one answer per profile for the engine: asked once, shared by concurrent askers, forgotten
when the profile reconnects or the config changes, fetched again on demand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tui.core.safe_text import visible

MAX_CHECKPOINTS = 5000  # more names than anyone scrolls through: the first ones are kept, the rest counted
MAX_NAME_LENGTH = 1024  # a longer "name" is junk, not a file
MODELS_PATH = "/models/checkpoints"
OBJECT_INFO_PATH = "/object_info/CheckpointLoaderSimple"


@dataclass(frozen=True)
class CheckpointChoices:
    """One server's checkpoint names (`listed`), or why there are none (`reason`).

    `available` is False when the profile's edition cannot list them at all (nothing worth a warning).
    `more` counts names beyond the cap (not kept).
    """

    names: tuple[str, ...] = ()
    listed: bool = False
    reason: str | None = None
    available: bool = True
    more: int = 0
    at: float = 0.0  # when the server was asked (the engine's clock)

    @classmethod
    def failed(cls, reason: str) -> CheckpointChoices:
        return cls(reason=visible(reason))

    @classmethod
    def unavailable(cls, reason: str) -> CheckpointChoices:
        return cls(reason=reason, available=False)

    def lacks(self, name: str) -> bool:
        """True only when the whole list is known and `name` is not on it (a capped list or no list: False)."""
        return self.listed and not self.more and name not in self.names

    def __len__(self) -> int:
        return len(self.names) + self.more


class CheckpointListError(ValueError):
    """The answer is not a list of checkpoint names; the message says what it was."""


def checkpoints_from_names(raw: Any) -> CheckpointChoices:
    """A list of names (`/models/checkpoints`' body, the loader's enum) read into choices: each name made safe to
    show, junk entries (not text, absurdly long) left out, the count capped. Not a list at all: CheckpointListError."""
    if not isinstance(raw, list):
        raise CheckpointListError(f"not a list of checkpoints but {type(raw).__name__}")
    names = [visible(item) for item in raw if isinstance(item, str) and 0 < len(item) <= MAX_NAME_LENGTH]
    if raw and not names:
        raise CheckpointListError("a list without any checkpoint name in it")
    kept = tuple(dict.fromkeys(names[:MAX_CHECKPOINTS]))
    return CheckpointChoices(names=kept, listed=True, more=max(0, len(names) - MAX_CHECKPOINTS))


def parse_models_answer(body: bytes) -> CheckpointChoices:
    """`GET /models/checkpoints`' body: `["a.safetensors", "SDXL/b.safetensors", ...]` (`[]` with none)."""
    return checkpoints_from_names(_json(body))


def parse_object_info_answer(body: bytes) -> CheckpointChoices:
    """`GET /object_info/CheckpointLoaderSimple`' body: the enum in `input.required.ckpt_name[0]` (a 0.3.x node),
    or `["COMBO", {"options": [...]}]` (the newer node schema)."""
    info = _json(body)
    try:
        spec = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    except (KeyError, TypeError) as exc:
        raise CheckpointListError("no CheckpointLoaderSimple.ckpt_name in the node info") from exc
    if isinstance(spec, list) and spec and spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return checkpoints_from_names(spec[1].get("options"))
    return checkpoints_from_names(spec[0] if isinstance(spec, list) and spec else None)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointListError("something that is not JSON") from exc


Fetch = Callable[[str], Awaitable[CheckpointChoices]]


class CheckpointCache:
    """One `CheckpointChoices` per profile: fetched once (concurrent askers share the request), kept until
    forgotten. A fetch that a `forget` overtook is not kept (its answer may be from before a reconnect)."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._known: dict[str, CheckpointChoices] = {}
        self._pending: dict[str, asyncio.Task[CheckpointChoices]] = {}
        self._generation: dict[str, int] = {}
        self._tasks: set[asyncio.Task[CheckpointChoices]] = set()  # every fetch under way (forgotten ones too)

    def cached(self, profile: str) -> CheckpointChoices | None:
        return self._known.get(profile)

    async def get(self, profile: str, *, refresh: bool = False) -> CheckpointChoices:
        if refresh:
            self.forget(profile)
        known = self._known.get(profile)
        if known is not None:
            return known
        task = self._pending.get(profile)
        if task is None:
            task = asyncio.ensure_future(self._fetch_and_keep(profile, self._generation.get(profile, 0)))
            self._pending[profile] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)  # one asker giving up must not cancel the others' request

    async def _fetch_and_keep(self, profile: str, generation: int) -> CheckpointChoices:
        try:
            choices = await self._fetch(profile)
        finally:
            if self._generation.get(profile, 0) == generation:
                self._pending.pop(profile, None)
        if self._generation.get(profile, 0) == generation:
            self._known[profile] = choices
        return choices

    def forget(self, profile: str | None = None) -> None:
        """Drop what is known of `profile` (every profile when None): the next `get` asks the server again."""
        for name in [profile] if profile is not None else list({*self._known, *self._pending}):
            self._known.pop(name, None)
            self._pending.pop(name, None)
            self._generation[name] = self._generation.get(name, 0) + 1

    async def close(self) -> None:
        """Forget everything and end the fetches under way (the engine stops: its clients are closing)."""
        self.forget()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def is_failure(self, profile: str) -> bool:
        known = self._known.get(profile)
        return known is not None and known.available and not known.listed
