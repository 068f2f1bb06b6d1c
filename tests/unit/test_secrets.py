"""Tokens are masked everywhere: the mask format, redact(), the log filter and the log file itself."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tui.core.config import parse_config_text
from tui.core.logs import setup_logging
from tui.core.secrets import RedactingFilter, mask_token, redact, register_secret


@pytest.mark.parametrize(
    ("token", "mask"),
    [
        ("Yjhabcdefghi", "Yjha…(12)"),
        ("Yjha" + "x" * 60, "Yjha…(64)"),
        ("", "(none)"),
        (None, "(none)"),
        ("abc12", "…(5)"),  # too short to show a prefix without showing most of it
    ],
)
def test_mask_token(token: str | None, mask: str) -> None:
    assert mask_token(token) == mask


def test_redact_hides_every_registered_secret() -> None:
    register_secret("Tk01-redact-first-secret")
    register_secret("Tk02-redact-other")
    text = "auth Tk01-redact-first-secret then Tk02-redact-other and Tk01-redact-first-secret again"
    assert redact(text) == "auth Tk01…(24) then Tk02…(17) and Tk01…(24) again"


def test_a_secret_containing_another_is_masked_whole() -> None:
    register_secret("Tk03-inner")
    register_secret("Tk03-inner-and-more")
    assert redact("x Tk03-inner-and-more y Tk03-inner") == "x Tk03…(19) y Tk03…(10)"


def test_too_short_or_missing_values_are_not_registered() -> None:
    register_secret(None)
    register_secret("")
    register_secret("abc")  # would mask ordinary text everywhere
    assert redact("abc a b c") == "abc a b c"


def test_parsing_a_config_registers_its_tokens() -> None:
    parse_config_text(
        '[profiles.a]\nedition = "dedicated"\nurl = "http://h"\ntoken = "Tk04-from-config-file"\n'
        '[profiles.b]\nedition = "dedicated"\nurl = "http://h"\ntoken_env = "B_TOKEN"\n',
        env={"B_TOKEN": "Tk05-from-environment"},
    )
    assert redact("Tk04-from-config-file Tk05-from-environment") == "Tk04…(21) Tk05…(21)"


def test_redacting_filter_covers_message_and_args() -> None:
    register_secret("Tk06-filter-secret")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "token %s in %r", ("Tk06-filter-secret", {"h": "Tk06-filter-secret"}), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "token Tk06…(18) in {'h': 'Tk06…(18)'}"


def test_log_file_is_private_and_never_holds_a_token(tmp_path: Path) -> None:
    token = "Tk07-must-not-reach-the-log"
    register_secret(token)
    log_file = tmp_path / "logs" / "comfyq.log"
    setup_logging(log_file)
    logger = logging.getLogger("comfyq.test")
    try:
        logger.info("calling with Authorization: %s", token)
        logger.warning("header was " + token)
        try:
            raise RuntimeError(f"server said bad token {token}")
        except RuntimeError:
            logger.exception("request failed")
        setup_logging(log_file)  # a second setup replaces, not duplicates, the handler
        logger.info("once")
    finally:
        for handler in list(logging.getLogger().handlers):
            if handler.get_name() == "comfyq-file":
                handler.close()
                logging.getLogger().removeHandler(handler)
    text = log_file.read_text(encoding="utf-8")
    assert token not in text
    assert text.count("Tk07…(27)") == 3  # the %s argument, the concatenated message, the exception text
    assert text.count("once") == 1
    assert (os.stat(log_file).st_mode & 0o777) == 0o600
