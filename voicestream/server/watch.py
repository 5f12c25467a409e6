"""Viewers of caption rooms (``/watch?room=NAME[&translate_to=LANG]``), and each room's
translation, computed once per language that at least one viewer wants.

A viewer's connection runs two tasks: the reader (keepalives and language changes; the
server's idle timeout applies) and the sender, which writes the viewer's
:class:`~voicestream.server.rooms.Outbox` whenever the room wakes it. Viewers send no audio
and hold no session: they cost a socket and an outbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Callable

from voicestream.errors import OptionError
from voicestream.live.events import FinalEvent, TranslationEvent
from voicestream.live.runner import InferenceRunner
from voicestream.live.translation import FinishedSentence, LiveTranslator
from voicestream.server import protocol as p
from voicestream.server.rooms import Room, RoomError, Rooms, Viewer, check_room_name
from voicestream.server.transport import Socket, SocketClosedError
from voicestream.translate.base import Translator

log = logging.getLogger("voicestream.server")

MAX_VIEWER_MESSAGE = 512
"""Largest text frame a viewer may send (bytes)."""
MAX_PENDING_FINALS = 4096
"""Finals waiting for a room's translation; past it the oldest are not translated."""


def viewer_request(path: str, targets: list[str]) -> tuple[str, str | None]:
    """The room and language a viewer's ``path`` (``/watch?room=...&translate_to=...``) asks for.

    Raises:
        RoomError: 4400 for a missing or malformed room or a language no translator offers.
    """
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    room = check_room_name(query["room"][0] if query.get("room") else None)
    return room, _language(query["translate_to"][0] if query.get("translate_to") else None, targets)


def _language(value: object, targets: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.lower() not in targets:
        raise RoomError(p.CLOSE_BAD_MESSAGE, f"translate_to must be one of: {', '.join(targets) or 'none installed'}")
    return value.lower()


def parse_viewer_message(text: str, targets: list[str]) -> str | bool | None:
    """A viewer's message: ``keepalive`` (returns ``False``) or ``{"type": "watch",
    "translate_to": LANG|null}`` (returns the language, ``None`` for none).

    Raises:
        RoomError: 4400 for anything else.
    """
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise RoomError(p.CLOSE_BAD_MESSAGE, "malformed JSON") from None
    if not isinstance(doc, dict) or doc.get("type") not in ("keepalive", "watch"):
        raise RoomError(p.CLOSE_BAD_MESSAGE, "a viewer sends only keepalive and watch messages")
    if doc["type"] == "keepalive":
        return False
    if set(doc) - {"type", "translate_to"}:
        raise RoomError(p.CLOSE_BAD_MESSAGE, "watch takes only translate_to")
    return _language(doc.get("translate_to"), targets)


class ViewerConnection:
    """One viewer's websocket, from ``joined`` to the room's end (or the viewer leaving)."""

    def __init__(self, socket: Socket, rooms: Rooms, idle_timeout_s: float, targets: list[str]) -> None:
        self.socket = socket
        self.rooms = rooms
        self.idle_timeout_s = idle_timeout_s
        self.targets = targets
        self.wake = asyncio.Event()

    async def run(self) -> None:
        """Join, then read and send until either side ends.

        Raises:
            RoomError: a malformed request, a full room, too many rooms, a bad message.
        """
        name, language = viewer_request(self.socket.path, self.targets)
        room, viewer = self.rooms.join(name, self.wake.set, language)
        try:
            viewer.send(room.joined(viewer))
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._read(viewer))
                tasks.create_task(self._send(viewer))
        except* SocketClosedError:
            pass
        except* RoomError as group:
            raise group.exceptions[0] from None
        finally:
            self.rooms.leave(room, viewer)

    async def _read(self, viewer: Viewer) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout_s):
                    message = await self.socket.recv()
            except TimeoutError:
                raise RoomError(p.CLOSE_IDLE, f"idle for {self.idle_timeout_s:g} s") from None
            if isinstance(message, bytes) or len(message.encode()) > MAX_VIEWER_MESSAGE:
                raise RoomError(p.CLOSE_BAD_MESSAGE, "a viewer sends only small JSON messages")
            choice = parse_viewer_message(message, self.targets)
            if choice is not False:
                viewer.translate_to = choice if isinstance(choice, str) else None

    async def _send(self, viewer: Viewer) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            for text in viewer.outbox.take():
                await self.socket.send(text)
            if viewer.closing is not None and not viewer.outbox.items:
                code, reason = viewer.closing
                if code != p.CLOSE_NORMAL:  # as every refusal: the error event, then the close
                    await self.socket.send(p.encode_event(p.ErrorEvent(code, reason)))
                await self.socket.close(code, reason)
                raise SocketClosedError(reason)


class RoomTranslation:
    """A room's finals gathered into sentences and translated once per language that some
    viewer wants (from the moment one does), on the inference workers; text translators only
    (the installed Apertium pairs): the room keeps no audio."""

    def __init__(
        self, room: Room, runner: InferenceRunner, choose: Callable[[str, str], Translator] | None = None
    ) -> None:
        from voicestream.translate.choose import choose as choose_any

        self.room = room
        self.runner = runner
        self.choose = choose or (lambda source, target: choose_any(source, target, None, None))
        self.calls = 0
        """Translator calls made (one per finished sentence and language)."""
        self._queue: asyncio.Queue[FinalEvent | None] = asyncio.Queue(MAX_PENDING_FINALS)
        self._translators: dict[str, LiveTranslator | None] = {}

    def add(self, final: FinalEvent) -> None:
        """A final of the publisher (dropped, with a warning, past :data:`MAX_PENDING_FINALS`)."""
        try:
            self._queue.put_nowait(final)
        except asyncio.QueueFull:
            log.warning("room %s: translation %d finals behind; a final is not translated", self.room.name,
                        MAX_PENDING_FINALS)  # fmt: skip

    async def finish(self) -> None:
        """Translate what is unfinished at the end of the stream; :meth:`run` returns after it."""
        await self._queue.put(None)

    async def run(self) -> None:
        """Translate finals as they come, until :meth:`finish` (a failure is logged, never
        passed on: it must not end the publisher's captions)."""
        while (final := await self._queue.get()) is not None:
            if final.language is None:
                continue
            for language in sorted(self.room.languages()):
                try:
                    live = self._translator(language, final.language)
                    if live is not None:
                        await self._translate(live, live.collector.add(final.segment, final.words))
                except Exception:
                    log.exception("room %s: translation into %s failed", self.room.name, language)
        for live in list(self._translators.values()):
            if live is not None:
                await self._translate(live, live.collector.flush())

    def _translator(self, target: str, source: str) -> LiveTranslator | None:
        if target not in self._translators:
            try:
                live = LiveTranslator(target)
                live.bind(self.choose(source, target), source)
                self._translators[target] = live
            except OptionError as e:
                self._translators[target] = None
                self.room.translated(TranslationEvent(0, 0.0, 0.0, "", None, target, source, error=str(e)))
        return self._translators[target]

    async def _translate(self, live: LiveTranslator, sentences: list[FinishedSentence]) -> None:
        if not sentences:
            return
        self.calls += 1
        try:
            events = await self.runner.run(lambda: live.translate(sentences))
        except Exception:  # one failed sentence must not end the room's captions
            log.exception("room %s: translation into %s failed", self.room.name, live.target)
            return
        for event in events:
            self.room.translated(event)


def room_targets() -> list[str]:
    """Languages a room can translate into: those of the text translators (a room keeps no
    audio for Whisper's speech translation)."""
    from voicestream.translate.choose import available

    return sorted({pair.split("->")[1] for t in available(None) for pair in t.pairs()})


def translation_routes() -> list[dict[str, object]]:
    """The text translators' routes (``/info``): ``{"from", "to", "route", "chrf"}`` each,
    ``route`` as ``apertium:en-es-pt`` and ``chrf`` as measured (``None``: not measured)."""
    from voicestream.translate.apertium import ApertiumTranslator

    routes = sorted(ApertiumTranslator().routes.values(), key=lambda r: r.languages)
    return [{"from": r.languages[0], "to": r.languages[-1], "route": r.label, "chrf": r.chrf} for r in routes]
