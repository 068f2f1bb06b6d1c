"""The one TLS context comfyq's HTTP clients share: made once, and as strict as httpx's default."""

from __future__ import annotations

import ssl
import threading

from tui.core.tls import shared_tls_context


def test_one_context_for_every_client_and_thread() -> None:
    seen: list[ssl.SSLContext] = []
    threads = [threading.Thread(target=lambda: seen.append(shared_tls_context())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(context) for context in seen}) == 1 and seen[0] is shared_tls_context()


def test_it_verifies_like_httpx_default() -> None:
    context = shared_tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded (certifi, or SSL_CERT_FILE)
