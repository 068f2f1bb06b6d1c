"""`comfyq serve` without a browser: who gets in (401 / 403 before any session starts), bad input, and sessions that
always end with their connection. The server is the real command in its own process; the clients are aiohttp's.
The browser itself is driven in tests/tui/test_serve_browser.py.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.integration.cli_helpers import REPO, Cli, cli_env, json_lines
from tests.integration.serve_helpers import SEED_WORKFLOW_FILE, ServeProcess, running_serve, running_sim

ACCESS_ENV = "COMFYQ_TEST_ACCESS_TOKEN"
ACCESS_TOKEN = "access-token-for-tests-0123456789"

# A websocket client in its own process, so the test can kill it the way a browser tab dies (no close frame).
HOLDER = """
import asyncio, sys, aiohttp
async def main():
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(sys.argv[1] + "ws?width=100&height=30") as ws:
            await ws.receive(timeout=60)
            print("got app output", flush=True)
            await asyncio.sleep(3600)
asyncio.run(main())
"""


async def first_app_output(ws: aiohttp.ClientWebSocketResponse) -> bytes:
    message = await ws.receive(timeout=60)
    assert message.type == aiohttp.WSMsgType.BINARY, message
    return message.data  # type: ignore[no-any-return]


def assert_no_session_started(serve: ServeProcess) -> None:
    assert serve.app_processes() == []
    assert not any("session opened" in line for line in serve.lines), serve.lines


def store_is_intact(cli: Cli) -> None:
    with sqlite3.connect(cli.store_file) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    listed = cli.run("jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    json_lines(listed.stdout)


async def test_without_the_token_page_and_websocket_get_401_and_no_session_starts(tmp_path: Path) -> None:
    with running_sim(tmp_path) as cli, running_serve(cli, "--token-env", ACCESS_ENV, env={ACCESS_ENV: ACCESS_TOKEN}) as serve:
        assert not any(ACCESS_TOKEN in line for line in serve.lines), "a token from the environment is not printed"
        async with aiohttp.ClientSession() as http:
            for url in (serve.url, serve.url + "?token=wrong-token-0123456789", serve.url + "static/js/textual.js"):
                async with http.get(url, allow_redirects=False) as response:
                    assert response.status == 401, url
                    assert ACCESS_TOKEN not in await response.text()
            async with http.get(serve.url, headers={"Cookie": "comfyq_access=wrong-token-0123456789"}) as response:
                assert response.status == 401
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(serve.url + "ws?width=80&height=24", headers=headers)
                assert refused.value.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(serve.url + "ws?token=wrong-token-0123456789")
            assert refused.value.status == 401
        time.sleep(1.0)  # a session, had one been started, would have spawned its process by now
        assert_no_session_started(serve)

        # The right token: the page moves it into an HttpOnly cookie and the websocket then opens a session.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # unsafe: IP hosts
            async with http.get(serve.url + f"?token={ACCESS_TOKEN}&fontsize=14", allow_redirects=False) as response:
                assert response.status == 303
                assert response.headers["Location"] == "/?fontsize=14"
                cookie = response.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            async with http.get(serve.url) as response:  # the cookie jar carries it now
                assert response.status == 200
                page = await response.text()
                assert "textual-terminal" in page and ACCESS_TOKEN not in page
                assert "googleapis" not in page  # the page asks no third party for anything
            async with http.ws_connect(serve.url + "ws?width=100&height=30") as ws:
                assert await first_app_output(ws)
                (pid,) = serve.app_processes()
                environment = Path(f"/proc/{pid}/environ").read_bytes()
                assert ACCESS_ENV.encode() not in environment and ACCESS_TOKEN.encode() not in environment
        serve.wait_for_line(r"session closed \(0 open\)")
        serve.wait_for_no_app_processes()


async def test_localhost_mode_refuses_other_host_names_and_cross_site_websockets(tmp_path: Path) -> None:
    with running_sim(tmp_path) as cli, running_serve(cli) as serve:
        async with aiohttp.ClientSession() as http:
            # DNS rebinding: a page on evil.example whose name now points at 127.0.0.1.
            async with http.get(serve.url, headers={"Host": f"evil.example:{serve.port}"}) as response:
                assert response.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(serve.url + "ws", headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(serve.url + "ws", headers={"Origin": "null"})
            assert refused.value.status == 403
            time.sleep(1.0)
            assert_no_session_started(serve)
            async with http.get(serve.url.replace("127.0.0.1", "localhost")) as response:
                assert response.status == 200
            async with http.ws_connect(
                serve.url + "ws", headers={"Origin": f"http://127.0.0.1:{serve.port}"}
            ) as ws:
                assert await first_app_output(ws)


async def test_sessions_are_capped(tmp_path: Path) -> None:
    with running_sim(tmp_path) as cli, running_serve(cli, "--max-sessions", "1") as serve:
        async with aiohttp.ClientSession() as http, http.ws_connect(serve.url + "ws") as ws:
            assert await first_app_output(ws)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(serve.url + "ws")
            assert refused.value.status == 503
            assert len(serve.app_processes()) == 1


def test_a_client_that_dies_mid_session_leaves_no_process_and_the_store_intact(tmp_path: Path) -> None:
    with running_sim(tmp_path) as cli, running_serve(cli) as serve:
        submitted = cli.run("submit", "--profile", "sim-api", "--wait", str(SEED_WORKFLOW_FILE))
        assert submitted.returncode == 0, submitted.stderr
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, serve.url], stdout=subprocess.PIPE, text=True, cwd=REPO, env=cli_env()
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "got app output"
            assert len(serve.app_processes()) == 1
            holder.kill()  # the tab is gone: no close frame, the connection just drops
        finally:
            holder.kill()
            holder.wait()
        serve.wait_for_line(r"session closed \(0 open\)", timeout=30)
        serve.wait_for_no_app_processes(timeout=30)
        store_is_intact(cli)
        assert serve.process.poll() is None, "the server goes on serving"


async def test_stopping_the_server_ends_its_sessions(tmp_path: Path) -> None:
    with running_sim(tmp_path) as cli, running_serve(cli) as serve:
        async with aiohttp.ClientSession() as http, http.ws_connect(serve.url + "ws") as ws:
            assert await first_app_output(ws)
            assert len(serve.app_processes()) == 1
            assert serve.stop() == 0
        serve.wait_for_no_app_processes(timeout=30)
        serve.wait_for_line(r"^comfyq serve stopped$", timeout=5)


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[profiles.local]\nedition = "dedicated"\nurl = "http://127.0.0.1:8188/"\n', encoding="utf-8"
    )  # never contacted: no session starts
    cli = Cli(tmp_path / "config.toml", tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            cli.argv("serve", "--port", str(port)), capture_output=True, text=True, timeout=60, cwd=REPO, env=cli_env()
        )
    assert result.returncode == 2, result
    assert result.stderr.strip() == f"comfyq serve: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "the environment variable is not set or is empty"),
        ("short-token", "the token is 11 characters; use at least 16"),
    ],
)
def test_an_unusable_access_token_is_one_line_and_exit_2(tmp_path: Path, value: str | None, expected: str) -> None:
    cli = Cli(tmp_path / "no-config.toml", tmp_path / "data")
    env = {key: item for key, item in cli_env().items() if key != ACCESS_ENV}
    if value is not None:
        env[ACCESS_ENV] = value
    result = subprocess.run(
        cli.argv("serve", "--port", "0", "--token-env", ACCESS_ENV),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"comfyq serve: --token-env {ACCESS_ENV}: {expected}"


def test_a_bad_config_is_reported_before_listening(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[profiles.broken]\nedition = 'nonsense'\n", encoding="utf-8")
    cli = Cli(tmp_path / "config.toml", tmp_path / "data")
    result = subprocess.run(
        cli.argv("serve", "--port", "0"), capture_output=True, text=True, timeout=60, cwd=REPO, env=cli_env()
    )
    assert result.returncode == 2
    assert "config.toml" in result.stderr and "Traceback" not in result.stderr
    assert "the app on" not in result.stdout
