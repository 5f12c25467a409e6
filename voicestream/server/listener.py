"""The listening socket of ``voicestream serve``: the server's ASGI application
(:mod:`voicestream.server.asgi`) under uvicorn, in the caller's event loop (websockets
through the ``websockets`` library's sans-I/O protocol).

Uvicorn's request and handshake lines go through :class:`~voicestream.server.redact.RedactTokens`
(they carry ``?token=``), its logging is otherwise left to the process's configuration, and
it installs no signal handlers: the owner decides when to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from voicestream.server import asgi
from voicestream.server.redact import redact_loggers
from voicestream.server.websocket import VoicestreamServer

STOP_GRACE_S = 5
"""Seconds running HTTP requests get to finish when the server stops (the server has closed
its websockets with 1001 before; uvicorn closes any left with 1012)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """No signal handlers: ``voicestream serve`` and the tests stop the server themselves."""
        yield


class Listener:
    """``app`` served on ``host``:``port`` (0: a free port) until :meth:`stop`."""

    def __init__(self, app: Any, host: str, port: int, ws_max_size: int) -> None:
        self.host = host
        self._socket = socket.create_server(
            (host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=512
        )
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app, ws="websockets-sansio", ws_max_size=ws_max_size, ws_per_message_deflate=False,
            lifespan="off", log_config=None, server_header=False,
            timeout_graceful_shutdown=STOP_GRACE_S, headers=[("server", "voicestream")],
        )  # fmt: skip
        redact_loggers("uvicorn.access", "uvicorn.error")
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start serving; returns once the socket accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise OSError(f"could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, close what websockets are left (1012), let running requests finish."""
        if self._task is None:
            self._socket.close()
            return
        self._server.should_exit = True
        await self._task


class HttpServer:
    """``server`` listening on its configured host and port: websockets, the page, ``/info``,
    ``/metrics`` and the HTTP API."""

    def __init__(self, server: VoicestreamServer) -> None:
        self.server = server
        self._listener: Listener | None = None

    async def start(self) -> int:
        """Open the server's workers and start listening; returns the bound port (useful with port 0)."""
        config = self.server.config
        frame = max(config.max_audio_frame, config.max_control_frame)
        self._listener = Listener(asgi.build(self.server), config.host, config.port, ws_max_size=frame)
        await self.server.open()
        await self._listener.start()
        return self._listener.port

    async def stop(self) -> None:
        """Close every websocket with 1001, stop listening (running HTTP requests get
        :data:`STOP_GRACE_S`), then stop the workers."""
        await self.server.going_away()
        if self._listener is not None:
            await self._listener.stop()
        await self.server.shutdown()
