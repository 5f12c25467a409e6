"""What the live server needs of a websocket, whatever library holds it.

:class:`~voicestream.server.websocket.VoicestreamServer` speaks the protocol to a
:class:`Socket`: the one-process server's sockets come from the ``websockets`` library
(:class:`WebsocketsSocket`), a Ray Serve gateway's from Starlette
(:mod:`voicestream.server.asgi`). Both apply the same checks, limits and close codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class SocketClosedError(Exception):
    """The connection is gone (closed by either side, or lost)."""


class Socket(Protocol):
    """An accepted websocket: the request it came with, messages both ways, the close."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The upgrade request's headers (case-insensitive lookup)."""
        ...

    @property
    def path(self) -> str:
        """The request's path with its query string (``/?token=...``)."""
        ...

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006 when the connection was lost), else ``None``."""
        ...

    async def recv(self) -> str | bytes:
        """The next message: text or binary.

        Raises:
            SocketClosedError: the connection is closed.
        """
        ...

    async def send(self, message: str | bytes) -> None:
        """Send a text or binary message.

        Raises:
            SocketClosedError: the connection is closed.
        """
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason`` (at most 123 bytes); nothing if already closed."""
        ...


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A plain HTTP response (the page, ``/info``, ``/metrics``) for any server library."""

    status: int
    content_type: str
    body: bytes


def path_and_query(path: str, query: str) -> str:
    """``/path?query`` of a request (``/path`` without a query), as the access checks read it."""
    return path + (f"?{query}" if query else "")
