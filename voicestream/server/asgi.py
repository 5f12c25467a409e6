"""The server as an ASGI application (Starlette): what ``voicestream serve`` runs under
uvicorn and a Ray Serve gateway replica under Serve's proxy.

Websocket upgrades on any path go to :meth:`~VoicestreamServer.handle` through
:class:`StarletteSocket`, the speech-to-text HTTP API (``/v1/...``) to
:mod:`voicestream.server.http_api`, other GETs to :meth:`~VoicestreamServer.http_get`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from voicestream.server import protocol as p
from voicestream.server.http_api import SpeechApi
from voicestream.server.transport import SocketClosedError, path_and_query
from voicestream.server.web import reply_headers

if TYPE_CHECKING:
    from voicestream.server.websocket import VoicestreamServer

CLOSE_LOST = 1006
"""The close code of a connection that ended without a close frame."""


class StarletteSocket:
    """:class:`~voicestream.server.transport.Socket` over an accepted Starlette websocket."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.headers: Mapping[str, str] = ws.headers
        self.path = path_and_query(ws.url.path, ws.url.query)
        self._code: int | None = None

    @property
    def close_code(self) -> int | None:
        """See :class:`~voicestream.server.transport.Socket`."""
        return self._code

    async def recv(self) -> str | bytes:
        """See :class:`~voicestream.server.transport.Socket`."""
        if self._code is not None:
            raise SocketClosedError(f"closed ({self._code})")
        try:
            message = await self.ws.receive()
        except (RuntimeError, OSError) as e:  # the server saw the connection go
            self._code = CLOSE_LOST
            raise SocketClosedError(str(e)) from None
        if message["type"] == "websocket.disconnect":
            self._code = int(message.get("code") or CLOSE_LOST)
            raise SocketClosedError(f"closed by the client ({self._code})")
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def send(self, message: str | bytes) -> None:
        """See :class:`~voicestream.server.transport.Socket`."""
        if self._code is not None:
            raise SocketClosedError(f"closed ({self._code})")
        try:
            if isinstance(message, str):
                await self.ws.send_text(message)
            else:
                await self.ws.send_bytes(message)
        except (WebSocketDisconnect, RuntimeError, OSError) as e:
            self._code = CLOSE_LOST
            raise SocketClosedError(str(e)) from None

    async def close(self, code: int, reason: str) -> None:
        """See :class:`~voicestream.server.transport.Socket`."""
        if self._code is not None:
            return
        self._code = code
        with contextlib.suppress(RuntimeError, OSError):  # already gone
            await self.ws.close(code, reason)


def build(server: VoicestreamServer) -> Starlette:
    """The ASGI application of ``server`` (opened and shut down by its owner:
    :meth:`~VoicestreamServer.open`, :meth:`~VoicestreamServer.shutdown`)."""

    async def session(ws: WebSocket) -> None:
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=p.SUBPROTOCOL if p.SUBPROTOCOL in offered else None)
        await server.handle(StarletteSocket(ws))

    async def get(request: Request) -> Response:
        reply = server.http_get(path_and_query(request.url.path, request.url.query), request.headers)
        return Response(reply.body, status_code=reply.status, headers=reply_headers(reply))

    routes = [
        *SpeechApi(server).routes(),
        WebSocketRoute("/{path:path}", session),
        Route("/{path:path}", get, methods=["GET"]),
    ]
    return Starlette(routes=routes)
