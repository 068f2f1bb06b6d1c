"""The preview of one output in the job detail: the image itself (textual-image), or a non-image's name, size, type.

`textual-image` picks how to draw when it is first imported (Kitty graphics, Sixel, or Unicode half-blocks where the
terminal has neither); it asks the terminal, which is only possible before Textual owns it, so `comfyq` imports it
before the app starts (tui/commands/ui.py). Fetching and decoding run in a thread worker (one at a time: a newer
request replaces an older one) and the image handed to the widget is already scaled down, so no frame waits for
the network, the disk or a PNG decoder. Files are cached on disk (tui/core/preview_cache.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from tui.core.config import Config
from tui.core.fetch import FetchError, OutputSource, download_to
from tui.core.output_sources import source_for
from tui.core.jobs import Job, Output
from tui.core.oss import OssPathError, safe_segments
from tui.core.preview_cache import PreviewCache, is_image, kind_of, preview_dir
from tui.core.safe_text import visible
from tui.widgets.image_protocol import image_widget_class

if TYPE_CHECKING:
    from tui.app import ComfyqApp

# The decoded image is scaled to at most this many pixels a side before it reaches the widget: a terminal cell is
# ~10×20 px, so even a full-screen Sixel/Kitty preview needs no more; half-blocks draw 1×2 pixels a cell, so 256
# is plenty, and textual-image's half-block renderer then has few pixels to map each frame.
PREVIEW_MAX_PIXELS = 640
HALF_BLOCK_MAX_PIXELS = 256
THUMBNAILS_KEPT = 32  # decoded previews kept in memory: opening a job again shows it without decoding
MAX_DECODE_PIXELS = 64 * 1024 * 1024  # a PNG that claims more is refused (decompression bomb)


_thumbnails: dict[tuple[str, int], Any] = {}  # (cache file, its mtime) -> decoded preview, least recent first
_thumbnails_lock = threading.Lock()


@dataclass(frozen=True)
class PreviewKey:
    job_id: str
    output: Output


class OutputPreview(Vertical):
    """Shows what `show(job, output)` was last asked for; `open_in_viewer` / `save_to` act on it."""

    DEFAULT_CSS = """
    OutputPreview {
        height: auto;
        margin-top: 1;
    }
    OutputPreview > #preview-caption {
        height: auto;
        color: $text-muted;
    }
    OutputPreview > #preview-image {
        height: 16;
        width: auto;
    }
    """

    class Ready(Message):
        """A worker finished: the image (a PIL image), or a caption only (non-image, or an error)."""

        def __init__(
            self, key: PreviewKey, caption: str, image: Any = None, *, widget_class: Any = None, failed: bool = False
        ) -> None:
            super().__init__()
            self.key = key
            self.caption = caption
            self.image = image
            self.widget_class = widget_class
            self.failed = failed

    def __init__(self, data_dir: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cache = PreviewCache(preview_dir(data_dir))
        self.key: PreviewKey | None = None
        self.image_shown: Any = None  # the decoded image the widget holds (tests read it)
        self.last_caption = ""
        self._sources: dict[str, OutputSource] = {}
        self._image_widget: Any = None
        self._widget_class: Any = None  # textual-image's widget for this terminal (imported by the first worker)
        self._caption = Static(id="preview-caption")
        self._thumbnails: dict[tuple[str, int], Any] = {}  # (cache file, its mtime) -> decoded preview (LRU)  # held: show() may come before compose has run

    def compose(self) -> ComposeResult:
        yield self._caption

    # ------------------------------------------------------------------ showing

    def show(self, job: Job | None, output: Output | None) -> None:
        """Preview `output` of `job` (None: nothing; the widget hides). A repeated call for the same file is free."""
        if job is None or output is None:
            self.key = None
            self.display = False
            return
        key = PreviewKey(job.id, output)
        self.display = True
        if key == self.key:
            return
        self.key = key
        self._set_caption(f"{visible(output.filename)}  fetching…")
        self._set_image(None)
        self.run_worker(
            lambda: self._load(job, output, key), thread=True, exclusive=True, group="preview", exit_on_error=False
        )

    def on_output_preview_ready(self, message: Ready) -> None:
        message.stop()
        if message.key != self.key:
            return  # an older request finished after the user moved on
        self._set_caption(message.caption)
        if message.widget_class is not None:
            self._widget_class = message.widget_class
        self._set_image(message.image)

    def _set_caption(self, text: str) -> None:
        self.last_caption = text
        self._caption.update(text)

    def _set_image(self, image: Any) -> None:
        self.image_shown = image
        if image is None:
            if self._image_widget is not None:
                self._image_widget.display = False
            return
        if self._image_widget is None:
            self._image_widget = self._widget_class(image, id="preview-image")
            self.mount(self._image_widget)
        else:
            self._image_widget.image = image
        self._image_widget.display = True

    @property
    def config(self) -> Config:
        """The app's config (held once, by the app): the profile of an output says where to fetch it."""
        return cast("ComfyqApp", self.app).config

    # ------------------------------------------------------------------ worker side

    def _source(self, job: Job) -> OutputSource:
        profile = self.config.profiles.get(job.profile)
        if profile is None:
            raise FetchError("config", f"profile {job.profile!r} is not in the config")
        source = self._sources.get(profile.name)
        if source is None:
            source = self._sources[profile.name] = source_for(profile, max_connections=4)
        return source

    def _load(self, job: Job, output: Output, key: PreviewKey) -> None:
        worker = get_current_worker()
        started = time.monotonic()
        try:
            if not is_image(output):
                size = self._remote_size(job, output)
                caption = f"{visible(output.filename)}  {kind_of(output)}  {_size_text(size)}  (o opens it)"
                self.post_message(self.Ready(key, caption))
                return
            cached = self.cache.fetch(self._source(job), job, output)
            if worker.is_cancelled:
                return
            widget_class = image_widget_class()  # the first time: textual-image (and numpy) imported here, not in a frame
            image = self._thumbnail(cached.path)
            where = "fetched" if cached.fetched else "cached"
            caption = (
                f"{visible(output.filename)}  {image.info.get('comfyq_size', '')}  {_size_text(cached.size)}  "
                f"({where} in {1000 * (time.monotonic() - started):.0f} ms; o open · d download · p hide)"
            )
            self.post_message(self.Ready(key, caption, image, widget_class=widget_class))
        except FetchError as error:
            self.post_message(self.Ready(key, f"{visible(output.filename)}: {visible(error.message)}", failed=True))
        except Exception as error:  # noqa: BLE001 - an undecodable file is a caption, never a crash
            self.post_message(
                self.Ready(key, f"{visible(output.filename)}: cannot show it ({visible(type(error).__name__)})", failed=True)
            )

    @staticmethod
    def _thumbnail(path: Path) -> Any:
        """The decoded, scaled preview of a cached file (kept in memory for every detail view of this app)."""
        key = (str(path), path.stat().st_mtime_ns)
        with _thumbnails_lock:
            image = _thumbnails.pop(key, None)
        if image is None:
            from tui.widgets.image_protocol import HALF_BLOCKS, protocol

            image = _decode(path, HALF_BLOCK_MAX_PIXELS if protocol() == HALF_BLOCKS else PREVIEW_MAX_PIXELS)
        with _thumbnails_lock:
            _thumbnails[key] = image  # most recently used last
            while len(_thumbnails) > THUMBNAILS_KEPT:
                _thumbnails.pop(next(iter(_thumbnails)))
        return image

    def _remote_size(self, job: Job, output: Output) -> int | None:
        cached = self.cache.lookup(job, output)
        if cached is not None:
            return cached.stat().st_size
        with self._source(job).open(output, time.monotonic() + 30) as remote:
            return remote.size

    # ------------------------------------------------------------------ o / d

    def open_in_viewer(self, job: Job, output: Output) -> Worker[None]:
        def work() -> None:
            try:
                cached = self.cache.fetch(self._source(job), job, output)
                opener = _opener()
                if opener is None:
                    self._notify(f"no xdg-open here; the file is at {cached.path}", "warning")
                    return
                subprocess.Popen(  # noqa: S603 - a fixed opener and our own cache path
                    [opener, str(cached.path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True,
                )
                self._notify(f"opened {visible(output.filename)}", "information")
            except (FetchError, OSError) as error:
                self._notify(f"{visible(output.filename)}: {visible(getattr(error, 'message', None) or error)}", "error")

        return self.run_worker(work, thread=True, group="open", exit_on_error=False)

    def save_to(self, job: Job, output: Output, directory: Path) -> Worker[None]:
        def work() -> None:
            try:
                name = safe_segments(output.filename, "file name")[-1]
                target = directory / name
                result = download_to(self._source(job), output, target)
                verb = "already there:" if result.status == "skipped" else "saved"
                self._notify(f"{verb} {visible(str(target))}", "information")
            except OssPathError as error:
                self._notify(f"refused: {visible(str(error))}", "error")
            except FetchError as error:
                self._notify(f"{visible(output.filename)}: {visible(error.message)}", "error")
            except IndexError:
                self._notify("the output has no file name", "error")

        return self.run_worker(work, thread=True, group="save", exit_on_error=False)

    def _notify(self, text: str, severity: SeverityLevel) -> None:
        self.app.call_from_thread(self.app.notify, text, severity=severity)

    def on_unmount(self) -> None:
        for source in self._sources.values():
            source.close()
        self._sources.clear()


def _decode(path: Path, max_pixels: int = PREVIEW_MAX_PIXELS) -> Any:
    """Open, fully decode and scale down (in the worker thread: the widget then only maps pixels to cells)."""
    from PIL import Image  # here, in the worker thread: Pillow is imported by the first preview, not at start-up

    Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS
    with Image.open(path) as image:
        width, height = image.size
        image.load()
        image.thumbnail((max_pixels, max_pixels))
        small = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    small.info["comfyq_size"] = f"{width}×{height}"
    return small


def _opener() -> str | None:
    if sys.platform == "darwin":
        return shutil.which("open")
    return shutil.which("xdg-open")


def _size_text(size: int | None) -> str:
    if size is None:
        return "size unknown"
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"
