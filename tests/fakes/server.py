"""Run an ASGI app in a real uvicorn server on a free loopback port, in a daemon thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn


def run_app_in_thread(app, *, startup_timeout: float = 10.0) -> tuple[str, Callable[[], None]]:
    """Start `app`; return its base URL (`http://127.0.0.1:PORT`) and a `stop()` function.

    The socket is bound here, before the thread starts, so the port is known and free."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        # Handlers that "hang" are cut off at stop() instead of holding the test up.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{port}", stop
