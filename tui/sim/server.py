"""The combined local server: the EAS queue service + the ComfyUI API edition's workers + a dedicated ComfyUI.

One aiohttp app on one port serves
- `/api/predict/<service>[/sink]` and `POST /api/predict/<service>/api_prompt?task_id=...` (tui/sim/eas.py), with a
  pool of worker instances per service (tui/sim/workers.py) that run the workflows and write the sink;
- the ComfyUI routes at `/` and `/api/...` (the dedicated edition, one ComfyUIEmulator).
With a token, every request and websocket handshake must carry `Authorization: <token>` (else 401 `unauthorized`).

`SimServer` runs in the caller's event loop; `SimThread` runs one in a background thread for synchronous code.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tui.sim import comfyui_newer
from tui.sim.comfyui import ComfyUIEmulator
from tui.sim.comfyui_routes import bound_port, token_middleware
from tui.sim.eas import QueueService
from tui.sim.oss import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, OssEmulator, is_oss_signed
from tui.sim.workers import (
    EmulatedComfyUIHandler,
    Handler,
    ProbabilityModelHandler,
    RemoteComfyUIHandler,
    WorkerPool,
)

DEFAULT_PORT = 8288
DEFAULT_SERVICE = "comfyui-api"
# The queue the SDK's own test suite (eas_prediction/test_queue_client.py) talks to.
SDK_TEST_SERVICE = "test_group.qservice"
MAX_REQUEST_BYTES = 64 * 1024 * 1024

DEFAULT_SIM_BUCKET = "oss://comfyq-sim/artlab"
SIM_OSS_REGION = "cn-hangzhou"


class SimServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        instances: int = 2,
        step_seconds: float = 0.05,
        fail_rate: float = 0.0,
        seed: int | None = None,
        comfyui_url: str | None = None,
        output_dir: Path | None = None,
        service: str = DEFAULT_SERVICE,
        comfyui_version: str = comfyui_newer.OLD_VERSION,
        oss_bucket_path: str = DEFAULT_SIM_BUCKET,
        oss_key: tuple[str, str] = (DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET),
    ) -> None:
        self.host = host
        self.port = port
        self.token = token or None
        self.instances = max(instances, 1)
        self.step_seconds = step_seconds
        self.fail_rate = fail_rate
        self.seed = seed
        self.comfyui_url = comfyui_url
        self.service = service
        self.comfyui_version = comfyui_version  # the dedicated ComfyUI's generation (tui/sim/comfyui_newer.py)
        self._own_output_dir: tempfile.TemporaryDirectory[str] | None = None
        if output_dir is None:
            self._own_output_dir = tempfile.TemporaryDirectory(prefix="comfyq-sim-")
            output_dir = Path(self._own_output_dir.name)
        self.output_dir = Path(output_dir)
        self.comfyui: ComfyUIEmulator = self._new_comfyui()
        self.queues = QueueService(on_input_post=self._on_input_post)
        # The bucket the services "mount": its output/ folder is the emulators' output dir.
        self.oss = OssEmulator(
            bucket_path=oss_bucket_path, output_dir=self.output_dir, access_key_id=oss_key[0], access_key_secret=oss_key[1]
        )
        self.pools: dict[str, WorkerPool] = {}
        # Called with each app the server builds (at start and at every re-listen) before it serves: tests hook
        # their recorders (e.g. aiohttp's on_response_prepare) into it.
        self.app_hooks: list[Callable[[web.Application], None]] = []
        self._runner: web.AppRunner | None = None
        self._started = False

    # ----- addresses -----
    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def api_input_url(self) -> str:
        return f"{self.base_url}/api/predict/{self.service}"

    @property
    def dedicated_url(self) -> str:
        return self.base_url

    def config_snippet(self, oss_bucket_path: str | None = None, oss_env_prefix: str | None = None) -> str:
        """Two ready-to-paste profiles pointing at this server (TOML), reading outputs from its OSS endpoint.
        The keys are not in it (never stored): they are read from OSS_ACCESS_KEY_ID / _SECRET, or from
        `<oss_env_prefix>_ACCESS_KEY_ID` / `_SECRET` when given."""
        token_line = f'token = "{self.token}"\n' if self.token else ""
        bucket = self.oss.bucket_path if oss_bucket_path is None else oss_bucket_path
        bucket_line = f'oss_bucket_path = "{bucket}"\n' if bucket else ""
        if bucket:
            bucket_line += f'oss_region = "{SIM_OSS_REGION}"\noss_endpoint = "{self.base_url}"\n'
            if oss_env_prefix:
                bucket_line += (
                    f'oss_access_key_id_env = "{oss_env_prefix}_ACCESS_KEY_ID"\n'
                    f'oss_access_key_secret_env = "{oss_env_prefix}_ACCESS_KEY_SECRET"\n'
                )
        return (
            f"[profiles.sim-api]\n"
            f'edition = "api"\n'
            f'input_url = "{self.api_input_url}"\n'
            f"{token_line}"
            f"{bucket_line}"
            f"\n"
            f"[profiles.sim-dedicated]\n"
            f'edition = "dedicated"\n'
            f'url = "{self.dedicated_url}/"\n'
            f"{token_line}"
            f"{bucket_line}"
        )

    # ----- lifecycle -----
    async def start(self) -> None:
        """Start the emulators and workers, then listen (port 0 picks a free port; `port` then holds it)."""
        if not self._started:
            await self.comfyui.start()
            await self._ensure_pool(self.service, self._comfyui_handler_factory())
            await self._ensure_pool(SDK_TEST_SERVICE, lambda number: ProbabilityModelHandler())
            self._started = True
        await self._listen()

    async def stop(self) -> None:
        await self._close_listener()
        if self._started:
            for pool in list(self.pools.values()):
                await pool.stop()
            self.pools.clear()
            await self.comfyui.stop()
            self._started = False
        if self._own_output_dir is not None:
            self._own_output_dir.cleanup()
            self._own_output_dir = None

    async def restart(self) -> None:
        """Drop every connection and listen again on the same port; queues, history and workers carry on."""
        await self.stop_listening()
        await self.start_listening()

    async def restart_comfyui(self, down_seconds: float = 0.0) -> None:
        """The dedicated ComfyUI process is killed and started again: the port closes (every connection dropped),
        and the new process knows nothing of the old one's queue, running prompt or history. (The API edition's
        worker instances carry on.)"""
        await self.stop_listening()
        await self.comfyui.stop()
        self.comfyui = self._new_comfyui()
        if self._started:
            await self.comfyui.start()
        if down_seconds > 0:
            await asyncio.sleep(down_seconds)
        await self.start_listening()

    def _new_comfyui(self) -> ComfyUIEmulator:
        return ComfyUIEmulator(
            output_dir=self.output_dir, step_seconds=self.step_seconds, fail_rate=self.fail_rate, seed=self.seed,
            comfyui_version=self.comfyui_version,
        )

    async def stop_listening(self) -> None:
        """Go down: close the port and drop every connection (watch sockets without a close frame)."""
        await self._close_listener()

    async def start_listening(self) -> None:
        """Come back on the same port after `stop_listening`."""
        if self._runner is None:
            await self._listen()

    async def _listen(self) -> None:
        # OSS routes carry an OSS signature in Authorization and check it themselves (tui/sim/oss.py).
        check_token = token_middleware(self.token, exempt=is_oss_signed)
        app = web.Application(middlewares=[check_token], client_max_size=MAX_REQUEST_BYTES)
        self.queues.register_routes(app)
        self.comfyui.register_routes(app)
        self.oss.register_routes(app)
        for hook in self.app_hooks:
            hook(app)
        runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            self.port = bound_port(site, self.port)
        self._runner = runner

    async def _close_listener(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # ----- workers -----
    def _comfyui_handler_factory(self) -> Callable[[int], Handler]:
        if self.comfyui_url:
            url = self.comfyui_url
            return lambda number: RemoteComfyUIHandler(url)

        def emulated(number: int) -> Handler:
            seed = None if self.seed is None else self.seed + number + 1
            emulator = ComfyUIEmulator(
                output_dir=self.output_dir,
                step_seconds=self.step_seconds,
                fail_rate=self.fail_rate,
                seed=seed,
                filename_style="api",
            )
            return EmulatedComfyUIHandler(emulator)

        return emulated

    async def _ensure_pool(self, service: str, factory: Callable[[int], Handler]) -> None:
        if service in self.pools:
            return
        pool = WorkerPool(
            service=service,
            input_queue=self.queues.input_queue(service),
            sink_queue=self.queues.sink_queue(service),
            handler_factory=factory,
            instances=self.instances,
        )
        self.pools[service] = pool
        await pool.start()

    def _on_input_post(self, service: str, path: str) -> None:
        # A workflow posted to `<service>/api_prompt` of a service nobody configured: give it ComfyUI instances too.
        if path and service not in self.pools and self._started:
            asyncio.get_running_loop().create_task(self._ensure_pool(service, self._comfyui_handler_factory()))


class SimThread:
    """A SimServer in a background thread with its own event loop (for CLI tests, the demo and sync code)."""

    def __init__(self, **sim_server_kwargs: Any) -> None:
        self._kwargs = sim_server_kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.server: SimServer | None = None

    def start(self) -> SimServer:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.server = SimServer(**self._kwargs)
                loop.run_until_complete(self.server.start())
            except BaseException as error:  # noqa: BLE001 - handed to the starting thread
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="comfyq-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        assert self.server is not None
        return self.server

    def _call(self, coroutine_function: Callable[[], Coroutine[Any, Any, None]]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine_function(), self._loop).result()

    def restart(self) -> None:
        assert self.server is not None
        self._call(self.server.restart)

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self.server is None:
            return
        try:
            self._call(self.server.stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
