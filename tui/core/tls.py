"""One TLS context for every HTTP client comfyq makes.

Why: httpx builds a fresh `ssl.SSLContext` for each client unless handed one, and loading the CA bundle takes
~30 ms with the interpreter held. comfyq makes a client per profile at start and one per profile the first time a
preview is fetched (in a worker thread, while the job detail is being drawn: the first `enter` took 3× the stock
app's time). httpx's own `create_ssl_context()` (the certifi bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured: what
`verify=True` gives) made once and shared does the same checks: a context is safe to share between connections
and threads once configured. No Textual here.
"""

from __future__ import annotations

import ssl
import threading

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def shared_tls_context() -> ssl.SSLContext:
    """The process's TLS context for verified HTTPS (made on first use)."""
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context
