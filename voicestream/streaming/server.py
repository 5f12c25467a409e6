"""The websocket server: bytes and JSON in, events out. All policy lives elsewhere.

Each connection runs three tasks: the reader (this handler: limits, parsing, audio
into the session's inbox), the pump (session inbox -> inference runner -> outbox)
and the sender (outbox -> socket). Broad exceptions are caught only here, at the
connection boundary, logged with ``exc_info``, and close that session alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import http
import itertools
import logging
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from voicestream.asr import AsrEngine, DecodeOptions, language_codes
from voicestream.dub.stretch import Stretch, stretch
from voicestream.errors import VoicestreamError
from voicestream.helper import HelperProcess
from voicestream.streaming import protocol as p
from voicestream.streaming.metrics import Counters, LoopLag, process_stats
from voicestream.streaming.pause import PauseWhileBusy
from voicestream.streaming.policy import DecodeRequest, StreamSettings
from voicestream.streaming.redact import server_logger
from voicestream.streaming.runner import InferenceRunner
from voicestream.streaming.session import Session
from voicestream.streaming.vad_stream import SileroFrameModel
from voicestream.streaming.web import WebPage, json_response

if TYPE_CHECKING:
    from voicestream.diarize.live import SpeakerModels

log = logging.getLogger("voicestream.server")

SPEECH_BACKLOG = 16
"""Translated sentences waiting for synthesis per session; more are skipped ("backlog")."""

STREAM_DECODE = DecodeOptions(beam_size=1, temperatures=(0.0, 0.4, 0.8))
"""Decoder options for live updates: greedy, short fallback ladder (final decodes only)."""


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
        workers: Inference threads.
        web_root: Folder of the browser page served to plain HTTP GETs (``None``: no page).
        hypothesis_drafts: Verify each update's previous hypothesis as a draft instead of
            generating it again token by token (same text, fewer decoder passes).
        max_speaker_audio_s: Audio (s) a diarized session keeps for its end-of-stream second
            pass (int16, 32 kB/s); longer sessions keep their live labels.
        speech_helper: Synthesize live speech in a helper process that is stopped while
            captions decode (``False``: on a low-priority thread of this process, which
            slows decodes where cores share hardware).
        warm_speech: At start, also start the speech helper and load each engine's model
            for the languages it speaks, so a session's first seconds of captions do not
            wait for that (about 5 s here; ``serve`` sets it).
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
    stream: StreamSettings = field(default_factory=StreamSettings)


def _token_from(headers: Headers, path: str) -> str | None:
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for proto in headers.get("Sec-WebSocket-Protocol", "").split(","):
        if proto.strip().startswith("bearer."):
            return proto.strip()[7:]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return query.get("token", [None])[0]


class VoicestreamServer:
    """Live captions for many clients on one shared model."""

    def __init__(
        self, engine: AsrEngine, vad: SileroFrameModel, config: ServerConfig, speakers: SpeakerModels | None = None
    ) -> None:
        self.engine = engine
        self.vad = vad
        self.config = config
        self.speakers = speakers
        self.sessions: dict[str, Session] = {}
        self._runner: InferenceRunner | None = None
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self.lag = LoopLag()
        self.counters = Counters()
        self._lag_task: asyncio.Task[None] | None = None
        self._speech_runner: InferenceRunner | None = None
        self._synthesizers: list[Any] | None = None
        self._speech_helper: HelperProcess | None = None
        self.pause = PauseWhileBusy()  # the speech helper stops while captions decode
        self.stretch: Stretch = stretch
        """Pitch-preserving speed-up of speech clips (in the speech helper with ``speech_helper``)."""
        self._speak_to: list[str] = []
        self.page = WebPage.load(config.web_root) if config.web_root is not None else WebPage({})

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        self._runner = InferenceRunner(self.config.workers, max_pending=self.config.max_sessions + 1)
        self._speech_runner = InferenceRunner(1, max_pending=self.config.max_sessions + 1, nice=10)
        self._speak_to = await asyncio.to_thread(self._speech_targets)
        self._lag_task = asyncio.create_task(self.lag.run())
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            compression=None,
            max_size=max(self.config.max_audio_frame, self.config.max_control_frame),
            select_subprotocol=self._select_subprotocol,
            server_header="voicestream",
            process_request=self._http,
            close_timeout=3,
            logger=server_logger(),
        )
        return int(self._server.sockets[0].getsockname()[1]) if self._server.sockets else self.config.port

    async def stop(self) -> None:
        """Close every connection and the worker threads."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._runner is not None:
            await asyncio.to_thread(self._runner.close)
        if self._speech_runner is not None:
            await asyncio.to_thread(self._speech_runner.close)
        if self._speech_helper is not None:
            await asyncio.to_thread(self._speech_helper.close)
        if self._lag_task is not None:
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_task

    async def serve_forever(self) -> None:
        """Run until cancelled."""
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        """Plain GET requests get the browser page, ``/info`` and ``/metrics`` (which needs the
        token when one is configured); websocket upgrades go on."""
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            route = request.path.split("?", 1)[0]
            if route == "/info":
                return json_response(self.info())
            if route == "/metrics":
                if not self._token_ok(request.headers, request.path):
                    return json_response({"error": "missing or wrong token"}, http.HTTPStatus.UNAUTHORIZED)
                return json_response(self.metrics())
        return self.page.respond(request)

    def metrics(self) -> dict[str, Any]:
        """Health figures (``GET /metrics``): sessions, close codes, loop lag, how often and how
        long speech synthesis was stopped for captions, process resources."""
        return {
            "sessions": len(self.sessions), "sessions_opened": self.counters.opened,
            "closed": dict(self.counters.closed), "loop_lag_ms": self.lag.summary_ms(),
            "tasks": len(asyncio.all_tasks()), "uptime_s": round(time.monotonic() - self.counters.started, 1),
            "speech_pauses": self.pause.stops, "speech_paused_s": round(self.pause.stopped_total_s, 1),
            **process_stats(),
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
            "export_formats": list(p.EXPORT_FORMATS),
            "diarize": self.speakers is not None,
            "translate_to": _translation_targets(self.engine),
            "speak_to": self._speak_to,
            "sample_rates": [p.MIN_RATE, p.MAX_RATE],
        }

    @staticmethod
    def _select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
        return Subprotocol(p.SUBPROTOCOL) if p.SUBPROTOCOL in offered else None

    def _origin_allowed(self, origin: str | None, host: str | None = None) -> bool:
        allowed = self.config.allowed_origins
        if origin is None or "*" in allowed or origin in allowed:
            return True
        if host and urllib.parse.urlsplit(origin).netloc == host:
            return True  # the page this server serves, whatever address it was opened at
        if allowed:
            return False
        host = urllib.parse.urlsplit(origin).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1", self.config.host}

    def synthesizers(self) -> list[Any]:
        """The speech synthesizers, created at start (worker thread: imports and voice listing
        are slow) and shared by all sessions; with ``speech_helper`` they speak in the helper
        process, on all cores whenever no caption decode runs, below the server's priority."""
        if self._synthesizers is None:
            from voicestream.registry import create_synthesizers

            if not self.config.speech_helper:
                self._synthesizers = create_synthesizers(threads=1)
            else:
                from voicestream.tts.remote import RemoteStretch, remote_synthesizers

                self._synthesizers, helper = remote_synthesizers(create_synthesizers(), threads=None, nice=10)
                self.pause.watch(lambda: helper.pid)
                self._speech_helper = helper
                self.stretch = RemoteStretch(helper)
        return self._synthesizers

    def _speech_targets(self) -> list[str]:
        """Translation targets some installed voice speaks (worker thread, once at start)."""
        from voicestream.tts.cast import catalog

        try:
            synthesizers = self.synthesizers()
        except ImportError:
            return []
        targets = [t for t in _translation_targets(self.engine) if catalog(t, synthesizers)]
        if self.config.warm_speech and targets:
            self._warm_speech(targets)
        return targets

    def _warm_speech(self, targets: list[str]) -> None:
        """Load what a session that speaks will need (worker thread, at start): the pitch
        tracker, and each engine's model with its best voice among ``targets``."""
        from voicestream.live_dub.speaker import warm_up_pitch
        from voicestream.tts.cast import catalog

        warm_up_pitch()
        engines = {s.name: s for s in self.synthesizers()}
        loaded: set[str] = set()
        for target in targets:
            voice = catalog(target, list(engines.values()))[0]
            if voice.engine not in loaded:
                loaded.add(voice.engine)
                try:
                    engines[voice.engine].synthesize("ok", voice)
                except VoicestreamError as e:  # a session that asks for this voice will be told
                    log.warning("could not load the %s voice at start: %s", voice.engine, e)

    def check_capacity(self) -> None:
        """Refuse with 1013 when ``max_sessions`` sessions are open."""
        if len(self.sessions) >= self.config.max_sessions:
            raise p.ProtocolError(p.CLOSE_TRY_LATER, f"server full ({self.config.max_sessions} sessions)")

    def _authorized(self, connection: ServerConnection) -> bool:
        request = connection.request
        if request is None:
            return self.config.token is None
        return self._token_ok(request.headers, request.path)

    def _token_ok(self, headers: Headers, path: str) -> bool:
        if self.config.token is None:
            return True
        given = _token_from(headers, path)
        return given is not None and hmac.compare_digest(given.encode(), self.config.token.encode())

    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        headers = request.headers if request is not None else Headers()
        try:
            if not self._origin_allowed(headers.get("Origin"), headers.get("Host")):
                raise p.ProtocolError(p.CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
            if not self._authorized(connection):
                raise p.ProtocolError(p.CLOSE_UNAUTHORIZED, "missing or wrong token")
            self.check_capacity()
            self.counters.opened += 1
            await _Connection(self, connection).run()
            self.counters.close(p.CLOSE_NORMAL if connection.close_code == p.CLOSE_NORMAL else "gone")
        except p.ProtocolError as e:
            self.counters.close(e.code)
            await _close(connection, e.code, e.reason)
        except ConnectionClosed:
            self.counters.close("gone")
        except Exception:
            log.exception("session failed")
            self.counters.close(p.CLOSE_INTERNAL)
            await _close(connection, p.CLOSE_INTERNAL, "internal error")


def _translation_targets(engine: AsrEngine) -> list[str]:
    """Languages some installed translator can translate into (from some source)."""
    from voicestream.translate.choose import available

    targets = {pair.split("->")[1] for t in available(engine) for pair in t.pairs()}
    return sorted(targets)


async def _close(connection: ServerConnection, code: int, reason: str) -> None:
    """Send the error event and close; frames the client already sent are discarded so the
    close handshake is not stuck behind them (the library stops reading when its queue is full)."""

    async def discard() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await connection.recv()

    drain = asyncio.create_task(discard())
    try:
        with contextlib.suppress(ConnectionClosed):
            await connection.send(p.encode_event(p.ErrorEvent(code, reason)))
        await connection.close(code, reason)
    finally:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain


class _Connection:
    """One accepted connection's reader, pump and sender."""

    def __init__(self, server: VoicestreamServer, ws: ServerConnection) -> None:
        self.server = server
        self.config = server.config
        self.ws = ws
        self.outbox: asyncio.Queue[p.ServerEvent | None] = asyncio.Queue(self.config.outbox_size)
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.revision: asyncio.Task[None] | None = None  # an ended utterance decoded again
        self.stopping = False
        self.export: tuple[str, ...] = ()
        self.start: p.StartMessage | None = None
        self.speaker: Any = None
        self.speech: asyncio.Queue[p.TranslationEvent | None] | None = None
        self.spoken = asyncio.Event()
        self.first_audio: float | None = None

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
        self.start = start
        if start.speak:  # before the session exists: a voice that cannot be had refuses the start
            self.speaker = await asyncio.to_thread(self._speaker, start)
            self.speech = asyncio.Queue(SPEECH_BACKLOG)
        session = self._open(start)
        if self.speaker is not None and session.translation is not None:
            self.speaker.source = session.translation.audio_between  # voices match their speakers' pitch
        try:
            await self.ws.send(
                p.encode_event(p.ReadyEvent(session.id, self.server.engine.name, start.audio.sample_rate))
            )
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._pump(session))
                tasks.create_task(self._send())
                tasks.create_task(self._read(session))
                if self.speaker is not None:
                    tasks.create_task(self._speak(session))
        except* p.ProtocolError as group:
            raise group.exceptions[0] from None
        except* ConnectionClosed:
            pass
        finally:
            self.server.sessions.pop(session.id, None)
            spec = session.stats.speculative
            log.info(
                "session %s closed after %.1f s of audio; drafted %d tokens, accepted %d (%.0f%%) in %d passes",
                session.id,
                session.stats.received_s,
                spec.drafted,
                spec.accepted,
                100 * spec.acceptance_rate,
                spec.verify_passes,
            )

    def _open(self, start: p.StartMessage) -> Session:
        self.server.check_capacity()  # again: others may have opened while this client sent start
        if start.language is not None and start.language not in language_codes():
            raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, f"unknown language {start.language!r}")
        if not self.server.engine.multilingual and (start.task == "translate" or start.language not in (None, "en")):
            raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, f"model {self.server.engine.name} is English-only")
        sid = f"s{next(self.server._ids)}-{secrets.token_hex(4)}"
        if start.diarize and self.server.speakers is None:
            raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, "this server has no speaker labels (start it with --diarize)")
        decode = replace(STREAM_DECODE, language=start.language, task=start.task)
        # a translated or spoken sentence was already sent from the first text: it stays
        revise = self.config.stream.revise and start.revise and start.translate_to is None
        settings = replace(self.config.stream, partials=start.partials, revise=revise)
        translation, choose_translator = self._translation(start)
        speakers = None
        if start.diarize and self.server.speakers is not None:
            from voicestream.diarize.live import LiveDiarizer
            from voicestream.diarize.online import OnlineSettings

            limit = start.num_speakers or start.max_speakers
            online = OnlineSettings(max_speakers=limit) if limit else OnlineSettings()
            speakers = LiveDiarizer(self.server.speakers, online, self.config.max_speaker_audio_s)
        session = Session(
            sid, start.audio, self.server.engine, self.server.vad, decode, settings, self.config.hypothesis_drafts,
            speakers, translation, choose_translator, inline_revisions=False,
        )  # fmt: skip
        self.server.sessions[sid] = session
        return session

    def _translation(self, start: p.StartMessage) -> tuple[Any, Any]:
        """The session's live translator state and engine chooser, checked now where the
        source language is known (4400 for a pair no installed engine offers)."""
        if start.translate_to is None:
            return None, None
        from voicestream.errors import OptionError
        from voicestream.translate.choose import choose
        from voicestream.translate.live import LiveTranslator

        engine = self.server.engine
        target = start.translate_to.lower()
        if target not in language_codes():
            raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, f"unknown translate_to language {target!r}")
        live = LiveTranslator(target)
        if start.language is not None:  # known now: choose once, refuse an impossible pair at once
            try:
                live.bind(choose(start.language, target, None, engine), start.language)
            except OptionError as e:
                raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, str(e)[:120]) from None
        return live, functools.partial(choose, target=target, name=None, engine=engine)

    def _check_control(self, text: str) -> None:
        if len(text.encode()) > self.config.max_control_frame:
            raise p.ProtocolError(p.CLOSE_TOO_BIG, f"control message over {self.config.max_control_frame} bytes")

    async def _read(self, session: Session) -> None:
        started = time.monotonic()
        first_audio: float | None = None
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
                    self.stopping = True
                    self.export = parsed.export
                    self.wake.set()
                    await self._until_gone()
                    return
                if isinstance(parsed, p.ExportMessage):
                    await self.outbox.put(await self._subtitles(session, parsed.format))
                continue
            if len(message) > self.config.max_audio_frame:
                raise p.ProtocolError(p.CLOSE_TOO_BIG, f"audio frame over {self.config.max_audio_frame} bytes")
            samples = p.decode_audio_frame(message, session.audio)
            now = time.monotonic()
            first_audio = first_audio or now
            self.first_audio = first_audio
            session.add_audio(samples)
            if self.config.max_rate > 0:
                allowed = self.config.max_rate * (now - first_audio) + self.config.rate_burst_s
                if session.stats.received_s > allowed:
                    raise p.ProtocolError(p.CLOSE_RATE, f"audio sent faster than {self.config.max_rate:g}x real time")
            self.wake.set()
            while session.inbox_s > self.config.max_inbox_s:  # backpressure: stop reading until processed
                self.drained.clear()
                await self.drained.wait()

    async def _until_gone(self) -> None:
        """After ``stop``: keep reading (and ignoring) until the connection closes, so a client
        that vanishes while its last audio is flushed frees its session at once instead of
        after the flush (the flush is cancelled: nobody is left to read it)."""
        while True:
            await self.ws.recv()

    async def _pump(self, session: Session) -> None:
        try:
            await self._process_loop(session)
        finally:
            if self.revision is not None:
                self.revision.cancel()

    async def _process_loop(self, session: Session) -> None:
        runner = self.server._runner
        assert runner is not None
        while True:
            await self.wake.wait()
            self.wake.clear()
            finishing = self.stopping
            if finishing:
                if self.revision is not None:
                    await self.revision  # its words are applied by the last process() below
                session.add_audio(np.zeros(0, np.float32), last=True)
            try:
                step = functools.partial(session.process, finish=finishing)
                events = await runner.run(self.server.pause.during(step))
            except Exception as e:
                log.error("inference failed in session %s", session.id, exc_info=True)
                raise p.ProtocolError(p.CLOSE_INTERNAL, "inference failed") from e
            self.drained.set()
            await self._queue(events)
            if finishing:
                if self.speech is not None:  # the last sentences' speech goes out before done
                    await self.speech.put(None)
                    await self.spoken.wait()
                updates = await self._second_pass(session)
                for fmt in self.export:
                    await self.outbox.put(await self._subtitles(session, fmt))
                extra = {
                    "session": session.id,
                    "decodes": session.stats.decodes,
                    "revisions": session.stats.revisions,
                    "speculative": session.stats.speculative.as_dict(),
                }
                if session.speakers is not None:
                    extra["speakers"] = sorted({w.speaker for w in session.final_words if w.speaker})
                    extra["speaker_updates"] = updates
                await self.outbox.put(p.DoneEvent(session.policy.stream_end_s, session.policy.finals, extra))
                await self.outbox.put(None)
                return
            if self.revision is None or self.revision.done():
                request = session.take_revision()
                if request is not None:
                    self.revision = asyncio.create_task(self._revise(session, request))
            if session.inbox_s > 0:
                self.wake.set()

    async def _revise(self, session: Session, request: DecodeRequest) -> None:
        """Decode an ended utterance again on a free worker while the session goes on; the
        next process() applies it."""
        runner = self.server._runner
        assert runner is not None
        await runner.run(functools.partial(session.decode_revision, request))
        self.wake.set()

    async def _second_pass(self, session: Session) -> int | None:
        """Re-diarize the whole session and send the corrections; how many finals changed
        (``None`` when the session kept no whole audio, or had no speakers)."""
        if session.speakers is None or self.start is None:
            return None
        from voicestream.diarize.base import SpeakerCount

        runner = self.server._runner
        assert runner is not None
        count = SpeakerCount(
            num=self.start.num_speakers, max=None if self.start.num_speakers else self.start.max_speakers
        )
        try:
            updates = await runner.run(functools.partial(session.correct_speakers, count))
        except Exception as e:
            log.error("speaker second pass failed in session %s", session.id, exc_info=True)
            raise p.ProtocolError(p.CLOSE_INTERNAL, "speaker second pass failed") from e
        for update in updates:
            await self.outbox.put(update)
        return len(updates) if session.speakers.audio.complete else None

    async def _subtitles(self, session: Session, fmt: str) -> p.SubtitlesEvent:
        runner = self.server._runner
        assert runner is not None
        return p.SubtitlesEvent(fmt, await runner.run(functools.partial(session.subtitles, fmt)))

    async def _queue(self, events: list[p.PartialEvent | p.FinalEvent | p.RevisionEvent | p.TranslationEvent]) -> None:
        last_partial = max((i for i, e in enumerate(events) if isinstance(e, p.PartialEvent)), default=-1)
        for i, event in enumerate(events):
            backed_up = self.outbox.qsize() > self.config.outbox_size // 2
            if isinstance(event, p.PartialEvent) and (i != last_partial or backed_up):
                continue  # coalesce: only the newest partial matters, and never for a backed-up client
            await self.outbox.put(event)
            if self.speech is not None and isinstance(event, p.TranslationEvent) and event.text:
                try:
                    self.speech.put_nowait(event)  # spoken by its own task: captions never wait for speech
                except asyncio.QueueFull:
                    await self.outbox.put(p.SpeechSkippedEvent(0, event.segment, event.text, 0.0, "backlog"))

    def _speaker(self, start: p.StartMessage) -> Any:
        """The session's :class:`~voicestream.live_dub.speaker.LiveSpeaker` (worker thread)."""
        from voicestream.live_dub.speaker import LiveSpeaker

        assert start.translate_to is not None
        try:
            synthesizers = self.server.synthesizers()  # first: with the helper, this sets server.stretch
            return LiveSpeaker(synthesizers, start.translate_to, start.speak_voice, stretch=self.server.stretch)
        except VoicestreamError as e:
            raise p.ProtocolError(p.CLOSE_BAD_MESSAGE, str(e)[:120]) from None

    async def _speak(self, session: Session) -> None:
        """Synthesize each translated sentence on the speech worker and queue it for sending."""
        runner = self.server._speech_runner
        assert runner is not None and self.speech is not None and self.speaker is not None

        def clock() -> float:
            """Stream time now: the audio received, or the wall time since the first audio
            frame when that is later (a live source, or after the client's last frame)."""
            wall = time.monotonic() - self.first_audio if self.first_audio is not None else 0.0
            return max(session.policy.stream_end_s, wall)

        while (event := await self.speech.get()) is not None:
            parts = self.speaker.parts(event)
            for part in range(len(parts)):  # each clause is sent when it is ready
                try:
                    result = await runner.run(functools.partial(self.speaker.speak, event, clock, part, parts))
                except Exception:
                    log.error("speech synthesis failed in session %s", session.id, exc_info=True)
                    result = p.SpeechSkippedEvent(0, event.segment, event.text or "", 0.0, "synthesis failed")
                await self.outbox.put(result)
                if isinstance(result, p.SpeechSkippedEvent):
                    break
        self.spoken.set()

    async def _send(self) -> None:
        while (event := await self.outbox.get()) is not None:
            await self.ws.send(p.encode_event(event))
            if isinstance(event, p.SpeechEvent):
                await self.ws.send(event.audio)
        await self.ws.close(p.CLOSE_NORMAL, "done")
