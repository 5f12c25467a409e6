"""The browser page of ``voicestream serve``: static files from ``clients/web`` on the websocket's port.

Plain HTTP GET requests (no websocket upgrade) get the page; files are read once at
start, only names listed in the folder are served (no path is ever joined from a
request), and every response carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import http
import json
from dataclasses import dataclass
from pathlib import Path

from voicestream.server.transport import HttpReply

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".ico": "image/x-icon",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Permissions-Policy": "microphone=(self)",
}
MAX_FILE_BYTES = 2 * 1024 * 1024


def default_web_root() -> Path:
    """``clients/web`` inside the wheel (``voicestream/web``) or the source tree."""
    packaged = Path(__file__).resolve().parents[1] / "web"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "clients" / "web"


@dataclass(frozen=True, slots=True)
class WebPage:
    """The page's files, by URL path (``/`` is ``index.html``)."""

    files: dict[str, tuple[str, bytes]]

    @classmethod
    def load(cls, root: Path) -> WebPage:
        """Read every servable file directly in ``root`` (none if the folder is missing)."""
        files: dict[str, tuple[str, bytes]] = {}
        if root.is_dir():
            for path in sorted(root.iterdir()):
                kind = CONTENT_TYPES.get(path.suffix.lower())
                if kind and path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
                    files["/" + path.name] = (kind, path.read_bytes())
        if "/index.html" in files:
            files["/"] = files["/index.html"]
        for name in [n for n in files if n.endswith(".html") and n != "/index.html"]:
            files[name.removesuffix(".html")] = files[name]  # /watch, /overlay
        return cls(files)

    def reply(self, route: str) -> HttpReply:
        """The reply to a GET of ``route`` (a path without its query): a file, or 404."""
        found = self.files.get(route)
        if found is None:
            text = "not found" if self.files else "this voicestream server has no page: connect with a websocket client"
            return HttpReply(http.HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", text.encode())
        kind, body = found
        return HttpReply(http.HTTPStatus.OK, kind, body)


def json_reply(doc: object, status: http.HTTPStatus = http.HTTPStatus.OK) -> HttpReply:
    """A JSON reply (200 by default)."""
    return HttpReply(status, "application/json", json.dumps(doc).encode())


def reply_headers(reply: HttpReply) -> dict[str, str]:
    """The headers every reply carries: its type and length, and the security headers."""
    return {"Content-Type": reply.content_type, "Content-Length": str(len(reply.body)), **SECURITY_HEADERS}
