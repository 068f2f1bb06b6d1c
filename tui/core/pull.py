"""`comfyq pull`'s core: which file goes where (the plan), and fetching them N at a time (the run).

No printing here: the command shows progress through the callbacks. Downloads run on a thread pool (the OSS SDK
is synchronous; so is httpx's client, which shares its pool across threads), each through `fetch.download_to`
(temporary name, size/CRC check, rename; a file already there with the same size is skipped).

What stops what: a missing file (404) is reported and the rest go on; keys or a token that are refused, a service
that does not answer or a missing setting stop that profile's remaining files (each would fail the same way); a full
disk stops everything. Files that finished stay.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tui.core.fetch import Downloaded, FetchError, OutputSource, download_to
from tui.core.jobs import Job, Output
from tui.core.oss import OssPathError, compose_oss_path, safe_segments

LAYOUTS = ("flat", "job", "oss")


@dataclass(frozen=True)
class PullItem:
    job: Job
    output: Output
    target: Path
    relative: str  # the target under the output dir, as shown


@dataclass(frozen=True)
class Skipped:
    """A job or output that will not be fetched, and why (planning finds these before any download)."""

    job: Job
    output: Output | None
    reason: str


@dataclass(frozen=True)
class PullResult:
    item: PullItem
    status: str  # "fetched" | "skipped" | "failed" | "not tried"
    size: int = 0
    error: FetchError | None = None


def relative_parts(job: Job, output: Output, layout: str, bucket_path: str | None) -> list[str]:
    """The target's path under `-o`, as safe segments (raises OssPathError for a name that would escape)."""
    name = safe_segments(output.filename, "file name")
    if not name:
        raise OssPathError(f"output of node {output.node_id} has no file name")
    subfolder = safe_segments(output.subfolder or "", "subfolder")
    if layout == "flat":
        return name
    if layout == "job":
        return [job.id, *subfolder, *name]
    location = compose_oss_path(bucket_path, output) if bucket_path else None
    if location is not None:  # mirror the bucket: <bucket>/<prefix>/output/<subfolder>/<file>
        path = location.path.split("://", 1)[-1]
        return safe_segments(path, "OSS path")
    return [output.type or "output", *subfolder, *name]


def plan(
    jobs: Iterable[Job], out_dir: Path, layout: str, bucket_paths: Mapping[str, str | None]
) -> tuple[list[PullItem], list[Skipped]]:
    """Every output of `jobs` with its target; jobs without outputs and names that cannot be used are Skipped."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    root = out_dir.resolve()
    items: list[PullItem] = []
    skipped: list[Skipped] = []
    taken: dict[Path, PullItem] = {}
    for job in jobs:
        if not job.outputs:
            reason = "no outputs" if job.state.value == "succeeded" else f"{job.state.value}: no outputs"
            skipped.append(Skipped(job, None, reason))
            continue
        for output in job.outputs:
            try:
                parts = relative_parts(job, output, layout, bucket_paths.get(job.profile))
            except OssPathError as error:
                skipped.append(Skipped(job, output, f"refused: {error}"))
                continue
            target = root.joinpath(*parts)
            # The segments are checked already; resolving again guards against a symlink inside -o.
            if os.path.commonpath((str(target.resolve()), str(root))) != str(root):
                skipped.append(Skipped(job, output, "refused: the name leads outside the output folder"))
                continue
            if target in taken:
                other = taken[target]
                skipped.append(Skipped(job, output, f"same name as an output of job {other.job.id} (use --layout job)"))
                continue
            item = PullItem(job, output, target, "/".join(parts))
            taken[target] = item
            items.append(item)
    return items, skipped


class PullRun:
    """Fetch `items` `concurrency` at a time; `sources` by profile name (a FetchError where none could be made)."""

    def __init__(
        self,
        items: list[PullItem],
        sources: Mapping[str, OutputSource | FetchError],
        *,
        concurrency: int = 8,
        on_bytes: Callable[[int], None] | None = None,
        on_done: Callable[[PullResult], None] | None = None,
    ) -> None:
        self.items = items
        self.sources = sources
        self.concurrency = max(1, concurrency)
        self.on_bytes = on_bytes
        self.on_done = on_done
        self._lock = threading.Lock()
        self._stopped_profiles: dict[str, FetchError] = {}
        self._stop_all: FetchError | None = None
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def _stopper(self, profile: str) -> FetchError | None:
        with self._lock:
            return self._stop_all or self._stopped_profiles.get(profile)

    def _one(self, item: PullItem) -> PullResult:
        profile = item.job.profile
        source = self.sources.get(profile)
        if isinstance(source, FetchError) or source is None:
            error = source or FetchError("config", f"profile {profile!r} is not configured")
            return PullResult(item, "failed", error=error)
        if self.cancelled.is_set() or self._stopper(profile) is not None:
            return PullResult(item, "not tried", error=self._stopper(profile))
        try:
            outcome: Downloaded = download_to(
                source,
                item.output,
                item.target,
                on_bytes=self.on_bytes,
                should_stop=lambda: self.cancelled.is_set() or self._stopper(profile) is not None,
            )
        except FetchError as error:
            if error.stops_everything:
                with self._lock:
                    if error.kind == "disk":
                        self._stop_all = self._stop_all or error
                    else:
                        self._stopped_profiles.setdefault(profile, error)
            elif self._stopper(profile) is not None or self.cancelled.is_set():
                return PullResult(item, "not tried", error=self._stopper(profile))
            return PullResult(item, "failed", error=error)
        return PullResult(item, outcome.status, size=outcome.size)

    def _run_one(self, item: PullItem) -> PullResult:
        result = self._one(item)
        if self.on_done is not None:
            self.on_done(result)
        return result

    def run(self) -> list[PullResult]:
        if not self.items:
            return []
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="comfyq-pull") as pool:
            try:
                return list(pool.map(self._run_one, self.items))
            except BaseException:
                self.cancel()  # Ctrl+C: the downloads see it at their next chunk and remove their partial files
                raise


def exit_code(results: Iterable[PullResult], skipped: Iterable[Skipped]) -> int:
    """0 every file is here; 3 refused or unreachable; 2 a setting is missing; 1 anything else missing."""
    results = list(results)
    errors = [result.error for result in results if result.error is not None]
    if any(error.kind in ("auth", "unreachable") for error in errors):
        return 3
    if any(error.kind == "config" for error in errors):
        return 2
    if errors or any(result.status in ("failed", "not tried") for result in results) or list(skipped):
        return 1
    return 0
