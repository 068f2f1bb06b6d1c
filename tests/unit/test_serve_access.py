"""`comfyq serve`'s access rules: when a token is required, where it comes from, which names and origins pass."""

from __future__ import annotations

import pytest

from tui.serve.access import (
    MIN_TOKEN_LENGTH,
    AccessConfigError,
    is_loopback_host,
    resolve_access_token,
    same_origin,
)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST", "app.localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "localhost.example", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_localhost_needs_no_token() -> None:
    assert resolve_access_token("127.0.0.1", None, {}) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_any_other_address_gets_a_generated_token(host: str) -> None:
    first = resolve_access_token(host, None, {})
    second = resolve_access_token(host, None, {})
    assert first is not None and second is not None
    assert first.generated and len(first.value) >= 32
    assert first.value != second.value  # made up afresh, never a fixed default


def test_a_token_from_the_environment_is_used_on_any_address() -> None:
    environ = {"ACCESS": "x" * MIN_TOKEN_LENGTH}
    for host in ("127.0.0.1", "0.0.0.0"):
        token = resolve_access_token(host, "ACCESS", environ)
        assert token is not None and token.value == environ["ACCESS"] and not token.generated
        assert token.source == "$ACCESS"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "not set or is empty"),
        ({"ACCESS": "   "}, "not set or is empty"),
        ({"ACCESS": "short"}, "use at least 16"),
        ({"ACCESS": "has a space in the middle"}, "must not contain spaces"),
    ],
)
def test_unusable_tokens_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(AccessConfigError, match=message):
        resolve_access_token("0.0.0.0", "ACCESS", environ)


@pytest.mark.parametrize(
    ("origin", "authorities", "expected"),
    [
        ("http://127.0.0.1:8765", ["127.0.0.1:8765"], True),
        ("http://localhost:8765", ["localhost:8765"], True),
        ("https://monitor.example", ["monitor.example"], True),  # default port on both sides
        ("https://monitor.example", ["127.0.0.1:8765", "monitor.example"], True),  # behind a proxy: X-Forwarded-Host
        ("http://evil.example", ["127.0.0.1:8765"], False),
        ("http://127.0.0.1:9999", ["127.0.0.1:8765"], False),  # another local server's page
        ("null", ["127.0.0.1:8765"], False),
        ("file://", ["127.0.0.1:8765"], False),
        ("http://127.0.0.1:8765", [""], False),
    ],
)
def test_same_origin(origin: str, authorities: list[str], expected: bool) -> None:
    assert same_origin(origin, authorities) is expected


def test_a_generated_token_is_printed_once_in_the_address_to_open() -> None:
    from tui.commands.serve import startup_lines

    token = resolve_access_token("0.0.0.0", None, {})
    lines = startup_lines("http://0.0.0.0:8765/", token, "/c/config.toml", "/d/jobs.sqlite3")
    assert token is not None
    assert sum(line.count(token.value) for line in lines) == 1
    assert f"http://0.0.0.0:8765/?token={token.value}" in "\n".join(lines)
    assert any("TLS" in line for line in lines)


def test_a_token_from_the_environment_is_never_printed() -> None:
    from tui.commands.serve import startup_lines

    token = resolve_access_token("0.0.0.0", "ACCESS", {"ACCESS": "secret-value-0123456789"})
    text = "\n".join(startup_lines("http://0.0.0.0:8765/", token, "/c/config.toml", "/d/jobs.sqlite3"))
    assert "secret-value-0123456789" not in text and "$ACCESS" in text


def test_printed_paths_are_made_visible() -> None:
    from tui.commands.serve import startup_lines

    text = "\n".join(startup_lines("http://127.0.0.1:8765/", None, "/c/\x1b]52;c;x\x07.toml", "/d/jobs.sqlite3"))
    assert "\x1b" not in text and "\\x1b" in text
