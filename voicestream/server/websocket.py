"""The websocket server: accepts connections, checks access (token, origin, capacity),
turns frames into audio and control calls on a :class:`~voicestream.live.session.LiveSession`
and its events into JSON, and applies the transport's limits. What a session does lives
in :mod:`voicestream.live`.

Each connection runs three tasks: the reader (this handler: limits, parsing, audio into
the session), the session's own work, and the sender (events -> socket). Broad exceptions
are caught only here, at the connection boundary, logged with ``exc_info``, and close that
session alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import itertools
import logging
import secrets
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicestream.asr import AsrEngine, language_codes
from voicestream.errors import OptionError
from voicestream.live.events import (
    DoneEvent,
    FinalEvent,
    PartialEvent,
    RevisionEvent,
    SpeakerUpdateEvent,
    SpeechEvent,
)
from voicestream.live.options import EXPORT_FORMATS
from voicestream.live.policy import StreamSettings
from voicestream.live.services import LiveServices, LiveSettings
from voicestream.live.session import LiveSession, SessionFailedError
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.server import protocol as p
from voicestream.server.file_jobs import FileJobs
from voicestream.server.limits import RateLimit
from voicestream.server.metrics import Counters, LoopLag, ReportsMetrics, process_stats
from voicestream.server.rooms import Room, RoomError, RoomLimits, Rooms, viewers_message
from voicestream.server.transport import HttpReply, Socket, SocketClosedError
from voicestream.server.watch import RoomTranslation, ViewerConnection, room_targets, translation_routes
from voicestream.server.web import WebPage, json_reply

if TYPE_CHECKING:
    from voicestream.diarize.live import SpeakerModels

log = logging.getLogger("voicestream.server")

TRANSLATION_WAIT_S = 10.0
"""Longest wait, at the end of a room, for its last translations before viewers get ``done``."""
CLOSE_TIMEOUT_S = 3.0
"""Longest wait for one client's close handshake when the server stops."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Limits and access rules of ``voicestream serve``.

    Attributes:
        host, port: Listening address (127.0.0.1 by default: local only).
        token: Shared secret clients must present, or ``None`` for none.
        allowed_origins: Browser origins allowed; empty allows only same-host pages
            (and clients that send no Origin), ``("*",)`` allows any.
        max_sessions: Concurrent sessions; one more is refused with 1013.
        max_audio_frame: Largest binary frame (bytes).
        max_control_frame: Largest text frame (bytes).
        idle_timeout_s: Longest time without any message.
        max_session_s: Longest session (wall-clock seconds).
        max_rate: Most audio seconds per wall-clock second, sustained (0: no limit).
        rate_burst_s: Audio seconds a client may send ahead of that rate.
        max_inbox_s: Unprocessed audio (s) after which reading pauses (backpressure).
        outbox_size: Events queued for a slow client before partials are skipped.
        web_root: Folder of the browser page served to plain HTTP GETs (``None``: no page).
        max_upload_bytes: Largest file upload of the speech-to-text HTTP API (bytes).
        room: Caption room a session publishes to when its ``start`` names none (``None``: none).
        viewer_token: Secret a room's viewers present (``/watch``); ``None``: viewers need
            ``token`` when one is set, nothing otherwise.
        rooms: Limits of the caption rooms.
        file_jobs: Uploaded files transcribed at once (0: the HTTP API takes no files).
        workers, hypothesis_drafts, max_speaker_audio_s, speech_helper, warm_speech, stream:
            How the live sessions run (:class:`~voicestream.live.services.LiveSettings`;
            ``serve`` sets ``warm_speech``).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    max_sessions: int = 4
    max_audio_frame: int = 64 * 1024
    max_control_frame: int = 4 * 1024
    idle_timeout_s: float = 30.0
    max_session_s: float = 4 * 3600.0
    max_rate: float = 2.0
    rate_burst_s: float = 10.0
    max_inbox_s: float = 20.0
    outbox_size: int = 256
    workers: int = 1
    hypothesis_drafts: bool = True
    max_speaker_audio_s: float = 3600.0
    speech_helper: bool = True
    warm_speech: bool = False
    web_root: Path | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    file_jobs: int = 1
    room: str | None = None
    viewer_token: str | None = None
    rooms: RoomLimits = field(default_factory=RoomLimits)
    stream: StreamSettings = field(default_factory=StreamSettings)

    def live_settings(self) -> LiveSettings:
        """The settings of the live sessions this server runs."""
        return LiveSettings(
            workers=self.workers, max_sessions=self.max_sessions, hypothesis_drafts=self.hypothesis_drafts,
            max_speaker_audio_s=self.max_speaker_audio_s, speech_helper=self.speech_helper,
            warm_speech=self.warm_speech, events=self.outbox_size, stream=self.stream,
        )  # fmt: skip


def _token_from(headers: Mapping[str, str], path: str) -> str | None:
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for proto in headers.get("Sec-WebSocket-Protocol", "").split(","):
        if proto.strip().startswith("bearer."):
            return proto.strip()[7:]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return query.get("token", [None])[0]


def _carries(headers: Mapping[str, str], path: str, secret: str) -> bool:
    """Whether the request presents ``secret`` (compared in constant time)."""
    given = _token_from(headers, path)
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class VoicestreamServer:
    """Live captions for many clients on one shared model."""

    def __init__(
        self,
        engine: AsrEngine,
        vad: SileroFrameModel,
        config: ServerConfig,
        diarization: SpeakerModels | None = None,
        revision_engine: AsrEngine | None = None,
    ) -> None:
        """``revision_engine``: see :class:`~voicestream.live.services.LiveServices`."""
        self.engine = engine
        self.config = config
        self.live = LiveServices(engine, vad, config.live_settings(), diarization, revision_engine)
        self.sessions: dict[str, LiveSession] = {}
        self.closing = False
        """Set once the server began to stop: no new file jobs."""
        self._sockets: set[Socket] = set()
        self.rooms = Rooms(config.rooms)
        self.file_jobs = FileJobs(engine, lambda: self.live.workers.inference, config.file_jobs)
        self._ids = itertools.count(1)
        self.lag = LoopLag()
        self.counters = Counters()
        self._lag_task: asyncio.Task[None] | None = None
        self.page = WebPage.load(config.web_root) if config.web_root is not None else WebPage({})

    async def open(self) -> None:
        """Start the inference workers and the loop-lag probe; sessions may come through
        :meth:`handle` (:class:`~voicestream.server.listener.HttpServer` listens for them, a Ray
        Serve gateway replica is given them by Serve's proxy)."""
        await self.live.start()
        self._lag_task = asyncio.create_task(self.lag.run())

    async def going_away(self) -> None:
        """Close every open websocket with 1001 "server stopping" (their sessions end)."""
        self.closing = True

        async def close(socket: Socket) -> None:
            with contextlib.suppress(TimeoutError):  # a client that reads nothing is left to the listener
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await socket.close(p.CLOSE_GOING_AWAY, "server stopping")

        await asyncio.gather(*(close(s) for s in list(self._sockets)))

    async def shutdown(self) -> None:
        """Stop the workers and the probe (after the sessions, which the listener closes first)."""
        self.closing = True
        self.file_jobs.close()
        await self.live.close()
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task

    def http_get(self, path: str, headers: Mapping[str, str]) -> HttpReply:
        """The reply to a plain GET of ``path`` (with its query): ``/info``, ``/metrics``
        (which needs the token when one is configured), else the browser page's files."""
        route = path.split("?", 1)[0]
        if route == "/info":
            return json_reply(self.info())
        if route == "/metrics":
            if not self.token_ok(headers, path):
                return json_reply({"error": "missing or wrong token"}, http.HTTPStatus.UNAUTHORIZED)
            return json_reply(self.metrics())
        return self.page.reply(route)

    def metrics(self) -> dict[str, Any]:
        """Health figures (``GET /metrics``): sessions, close codes, loop lag, how often and how
        long speech synthesis was stopped for captions, process resources, and ``asr``: the
        engine's own figures where it has some (the Ray replicas')."""
        pause = self.live.pause
        return {
            "sessions": len(self.sessions), "sessions_opened": self.counters.opened,
            "closed": dict(self.counters.closed), "loop_lag_ms": self.lag.summary_ms(),
            "tasks": len(asyncio.all_tasks()), "uptime_s": round(time.monotonic() - self.counters.started, 1),
            "speech_pauses": pause.stops, "speech_paused_s": round(pause.stopped_total_s, 1),
            **process_stats(),
            **({"asr": self.engine.metrics()} if isinstance(self.engine, ReportsMetrics) else {}),
        }  # fmt: skip

    def info(self) -> dict[str, Any]:
        """What a client may ask for: the page builds its settings from this (``GET /info``)."""
        multilingual = self.engine.multilingual
        return {
            "protocol": p.PROTOCOL_VERSION,
            "model": self.engine.name,
            "multilingual": multilingual,
            "languages": list(language_codes()) if multilingual else ["en"],
            "tasks": ["transcribe", "translate"] if multilingual else ["transcribe"],
            "token_required": self.config.token is not None,
            "export_formats": list(EXPORT_FORMATS),
            "diarize": self.live.diarization is not None,
            "translate_to": self.live.translation_targets(),
            "speak_to": self.live.speak_to,
            "room": self.config.room,
            "room_translate_to": room_targets(),
            "translation_routes": translation_routes(),
            "viewer_token_required": self.config.viewer_token is not None or self.config.token is not None,
            "sample_rates": [p.MIN_RATE, p.MAX_RATE],
        }

    def origin_allowed(self, origin: str | None, host: str | None = None) -> bool:
        """Whether a request from a page at ``origin`` (``None``: not a browser) may use this
        server reached as ``host``."""
        allowed = self.config.allowed_origins
        if origin is None or "*" in allowed or origin in allowed:
            return True
        if host and urllib.parse.urlsplit(origin).netloc == host:
            return True  # the page this server serves, whatever address it was opened at
        if allowed:
            return False
        host = urllib.parse.urlsplit(origin).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1", self.config.host}

    def check_capacity(self) -> None:
        """Refuse with 1013 when ``max_sessions`` sessions are open."""
        if len(self.sessions) >= self.config.max_sessions:
            raise p.ProtocolError(p.CLOSE_TRY_LATER, f"server full ({self.config.max_sessions} sessions)")

    def token_ok(self, headers: Mapping[str, str], path: str) -> bool:
        """Whether the request with ``headers`` and ``path`` carries the token (if one is set)."""
        return self.config.token is None or _carries(headers, path, self.config.token)

    async def handle(self, socket: Socket) -> None:
        """Run one accepted connection to its end: access checks (origin, token, capacity),
        then a live session; every way it can end is counted and closed with its code."""
        headers = socket.headers
        self._sockets.add(socket)
        try:
            if self.closing:
                raise p.ProtocolError(p.CLOSE_GOING_AWAY, "server stopping")
            if not self.origin_allowed(headers.get("Origin"), headers.get("Host")):
                raise p.ProtocolError(p.CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
            if urllib.parse.urlsplit(socket.path).path == "/watch":
                await self._watch(socket)
                return
            if not self.token_ok(headers, socket.path):
                raise p.ProtocolError(p.CLOSE_UNAUTHORIZED, "missing or wrong token")
            self.check_capacity()
            self.counters.opened += 1
            await _Connection(self, socket).run()
            self.counters.close(p.CLOSE_NORMAL if socket.close_code == p.CLOSE_NORMAL else "gone")
        except p.ProtocolError as e:
            self.counters.close(e.code)
            await _close(socket, e.code, e.reason)
        except SocketClosedError:
            self.counters.close("gone")
        except Exception:
            log.exception("session failed")
            self.counters.close(p.CLOSE_INTERNAL)
            await _close(socket, p.CLOSE_INTERNAL, "internal error")
        finally:
            self._sockets.discard(socket)

    def viewer_token_ok(self, headers: Mapping[str, str], path: str) -> bool:
        """Whether a viewer may watch: the viewer token (or the publisher's) when one is set,
        the publisher token when only that is set, anything when neither is."""
        if self.config.viewer_token is None:
            return self.token_ok(headers, path)
        return _carries(headers, path, self.config.viewer_token) or (
            self.config.token is not None and self.token_ok(headers, path)
        )

    async def _watch(self, socket: Socket) -> None:
        """A viewer of a caption room (see :mod:`voicestream.server.watch`)."""
        try:
            if not self.viewer_token_ok(socket.headers, socket.path):
                raise RoomError(p.CLOSE_UNAUTHORIZED, "missing or wrong viewer token")
            targets = room_targets()
            await ViewerConnection(socket, self.rooms, self.config.idle_timeout_s, targets).run()
        except RoomError as e:
            await _close(socket, e.code, e.reason)


async def _close(socket: Socket, code: int, reason: str) -> None:
    """Send the error event and close; frames the client already sent are discarded so the
    close handshake is not stuck behind them (the library stops reading when its queue is full)."""

    async def discard() -> None:
        with contextlib.suppress(SocketClosedError):
            while True:
                await socket.recv()

    drain = asyncio.create_task(discard())
    try:
        with contextlib.suppress(SocketClosedError):
            await socket.send(p.encode_event(p.ErrorEvent(code, reason)))
        await socket.close(code, reason)
    finally:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain


class _Connection:
    """One accepted connection: its reader and sender around one live session."""

    def __init__(self, server: VoicestreamServer, ws: Socket) -> None:
        self.server = server
        self.config = server.config
        self.ws = ws
        self.room: Room | None = None
        self.translation: RoomTranslation | None = None
        self._translating: asyncio.Task[None] | None = None
        self._room_ended = False
        self._viewers_told = -1  # the first event tells the publisher it has a room

    async def _recv(self) -> str | bytes:
        try:
            async with asyncio.timeout(self.config.idle_timeout_s):
                return await self.ws.recv()
        except TimeoutError:
            raise p.ProtocolError(p.CLOSE_IDLE, f"idle for {self.config.idle_timeout_s:g} s") from None

    async def run(self) -> None:
        first = await self._recv()
        if isinstance(first, bytes):
            raise p.ProtocolError(p.CLOSE_STATE, "audio before start")
        self._check_control(first)
        start = p.parse_client_message(first)
        if not isinstance(start, p.StartMessage):
            raise p.ProtocolError(p.CLOSE_STATE, "the first message must be start")
        session = await self._open(start)
        try:
            ready = p.ReadyEvent(session.id, self.server.engine.name, start.audio.sample_rate)
            await self.ws.send(p.encode_event(ready))
            async with asyncio.TaskGroup() as tasks:
                if self.translation is not None:
                    self._translating = tasks.create_task(self.translation.run())
                tasks.create_task(session.run())
                tasks.create_task(self._send(session))
                tasks.create_task(self._read(session, start.audio))
        except* SessionFailedError as group:
            raise p.ProtocolError(p.CLOSE_INTERNAL, str(group.exceptions[0])) from None
        except* p.ProtocolError as group:
            raise group.exceptions[0] from None
        except* SocketClosedError:
            pass
        finally:
            self.server.sessions.pop(session.id, None)
            if self.room is not None:
                if not self._room_ended:
                    for viewer in list(self.room.viewers.values()):
                        viewer.close(p.CLOSE_GOING_AWAY, "the publisher left")
                self.server.rooms.leave(self.room, publisher=True)
            spec, stats = session.state.stats.speculative, session.state.stats
            log.info(
                "session %s closed after %.1f s of audio; drafted %d tokens, accepted %d (%.0f%%) in %d passes",
                session.id, stats.received_s, spec.drafted, spec.accepted, 100 * spec.acceptance_rate,
                spec.verify_passes,
            )  # fmt: skip

    async def _open(self, start: p.StartMessage) -> LiveSession:
        sid = f"s{next(self.server._ids)}-{secrets.token_hex(4)}"
        try:
            session = await self.server.live.open(sid, start.audio.sample_rate, start.options)
        except OptionError as e:
            raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, str(e)) from None
        self.server.check_capacity()  # again: others may have opened while this client sent start
        name = start.room or self.config.room
        if name is not None:
            try:
                self.room = self.server.rooms.publish_to(name, sid)
            except RoomError as e:
                if start.room is not None:  # the server's default room is taken: this session is not published
                    raise p.ProtocolError(e.code, e.reason) from None
            if self.room is not None:
                self.translation = RoomTranslation(self.room, self.server.live.workers.inference)
        self.server.sessions[sid] = session
        return session

    def _check_control(self, text: str) -> None:
        if len(text.encode()) > self.config.max_control_frame:
            raise p.ProtocolError(p.CLOSE_TOO_BIG, f"control message over {self.config.max_control_frame} bytes")

    async def _read(self, session: LiveSession, audio: p.AudioFormat) -> None:
        started = time.monotonic()
        rate = RateLimit(self.config.max_rate, self.config.rate_burst_s)
        while True:
            message = await self._recv()
            if time.monotonic() - started > self.config.max_session_s:
                raise p.ProtocolError(p.CLOSE_SESSION_TOO_LONG, f"session over {self.config.max_session_s:g} s")
            if isinstance(message, str):
                self._check_control(message)
                parsed = p.parse_client_message(message)
                if isinstance(parsed, p.StartMessage):
                    raise p.ProtocolError(p.CLOSE_STATE, "start sent twice")
                if isinstance(parsed, p.StopMessage):
                    session.stop(parsed.export)
                    await self._until_gone()
                    return
                if isinstance(parsed, p.ExportMessage):
                    await session.export(parsed.format)
                continue
            if len(message) > self.config.max_audio_frame:
                raise p.ProtocolError(p.CLOSE_TOO_BIG, f"audio frame over {self.config.max_audio_frame} bytes")
            session.add_audio(p.decode_audio_frame(message, audio))
            if not rate.allows(session.state.stats.received_s, time.monotonic()):
                raise p.ProtocolError(p.CLOSE_RATE, f"audio sent faster than {self.config.max_rate:g}x real time")
            await session.drained(self.config.max_inbox_s)  # backpressure: stop reading until processed

    async def _until_gone(self) -> None:
        """After ``stop``: keep reading (and ignoring) until the connection closes, so a client
        that vanishes while its last audio is flushed frees its session at once instead of
        after the flush (the flush is cancelled: nobody is left to read it)."""
        while True:
            await self.ws.recv()

    async def _send(self, session: LiveSession) -> None:
        while (event := await session.next_event()) is not None:
            if self.room is not None:
                await self._to_room(self.room, event)
            await self.ws.send(p.encode_event(event))
            if isinstance(event, SpeechEvent):
                await self.ws.send(event.audio)
        await self.ws.close(p.CLOSE_NORMAL, "done")

    async def _to_room(self, room: Room, event: object) -> None:
        """The publisher's ``event`` to its room's viewers (and its finals to the room's
        translation); at ``done``, the last translations, then ``done`` to the viewers. The
        publisher hears how many watch whenever that changed."""
        if isinstance(event, PartialEvent | FinalEvent | RevisionEvent | SpeakerUpdateEvent):
            room.publish(event)
            if isinstance(event, FinalEvent) and self.translation is not None:
                self.translation.add(event)
        elif isinstance(event, DoneEvent):
            if self.translation is not None and self._translating is not None:
                await self.translation.finish()
                try:
                    async with asyncio.timeout(TRANSLATION_WAIT_S):
                        await asyncio.shield(self._translating)
                except TimeoutError:  # the captions are done: the last translations are not worth more
                    log.warning("room %s: last translations dropped after %g s", room.name, TRANSLATION_WAIT_S)
                    self._translating.cancel()
            room.end(p.encode_event(event))
            self._room_ended = True
        if len(room.viewers) != self._viewers_told:
            self._viewers_told = len(room.viewers)
            await self.ws.send(viewers_message(room))
