"""An ASGI app served by uvicorn on a thread, on a loopback port: the in-process ssooidc server,
and an application under test that a browser or a redirect must reach over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

__all__ = ["ServedApp", "serve_app"]


class ServedApp:
    """uvicorn serving ``app`` on ``host``; ``port`` 0 chooses a free one."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["auto", "on", "off"] = "auto",
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.lifespan = lifespan
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServedApp:
        """Serve, and return once the app has started (its lifespan too) and accepts."""
        import uvicorn

        sock = socket.create_server((self.host, self.port))
        # Accepted connections inherit it: no response part waits for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = int(sock.getsockname()[1])
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            lifespan=self.lifespan,
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="asgi", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the ASGI app did not start")
            time.sleep(0.002)
        return self

    def stop(self) -> bool:
        """Drain and stop; whether it was serving."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=20)
        if sock is not None:
            sock.close()
        return server is not None


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` for the block; yields its base URL (``http://127.0.0.1:<port>``)."""
    served = ServedApp(app, host=host, port=port).start()
    try:
        yield served.url
    finally:
        served.stop()
