"""Caption rooms: one publishing session read by many viewers. Sans-I/O: no sockets,
tasks or clocks; the server wakes each viewer's sender when :meth:`Viewer.notify` is called.

A room's events are encoded once and put in every viewer's :class:`Outbox`; a viewer that
reads slowly loses partials (the oldest first), never finals, and a viewer so far behind
that its outbox is full of finals is dropped (close 4420) rather than allowed to hold
memory or slow the publisher. Joining viewers get the room's recent finals (revisions and
speaker corrections applied) and, in their language, its recent translations.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicestream.live.events import FinalEvent, PartialEvent, RevisionEvent, SpeakerUpdateEvent, TranslationEvent
from voicestream.server import protocol as p

RoomEvent = PartialEvent | FinalEvent | RevisionEvent | SpeakerUpdateEvent


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """Limits of the rooms of one server.

    Attributes:
        max_rooms: Rooms with a publisher at once; one more is refused (1013).
        max_waiting: Rooms whose viewers wait for a publisher (they cost no decoding, but
            bound what viewers can hold); one more is refused (1013).
        max_viewers: Viewers of one room; one more is refused (1013).
        history: Finals (and translations per language) a joining viewer gets.
        outbox: Messages waiting for one viewer; past it partials are dropped, and a
            viewer whose outbox is full of finals is closed (4420).
    """

    max_rooms: int = 16
    max_waiting: int = 64
    max_viewers: int = 200
    history: int = 50
    outbox: int = 256


class RoomError(Exception):
    """A room cannot be joined or published to: ``code`` and ``reason`` close the socket."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def check_room_name(name: object) -> str:
    """``name`` if it is a valid room name, else :class:`RoomError` (4400)."""
    if not isinstance(name, str) or not p.ROOM_NAME.fullmatch(name):
        raise RoomError(p.CLOSE_BAD_MESSAGE, "room must be 1-64 letters, digits, '.', '_' or '-'")
    return name


@dataclass(slots=True)
class Outbox:
    """One viewer's pending messages: ``(text, droppable)``, at most ``size``."""

    size: int
    items: deque[tuple[str, bool]] = field(default_factory=deque)
    dropped: int = 0
    """Partials dropped because the viewer read too slowly."""

    def put(self, text: str, droppable: bool) -> bool:
        """Queue ``text``; when full, the oldest droppable message makes room. Returns
        ``False`` when nothing can be dropped (the viewer is too far behind)."""
        if len(self.items) >= self.size:
            for k, (_, can_drop) in enumerate(self.items):
                if can_drop:
                    del self.items[k]
                    self.dropped += 1
                    break
            else:
                if droppable:
                    self.dropped += 1
                    return True
                return False
        self.items.append((text, droppable))
        return True

    def take(self) -> list[str]:
        """Everything queued, oldest first."""
        out = [text for text, _ in self.items]
        self.items.clear()
        return out


@dataclass(slots=True)
class Viewer:
    """One reader of a room: its outbox, its language, and how it is woken."""

    id: int
    outbox: Outbox
    notify: Callable[[], None]
    translate_to: str | None = None
    closing: tuple[int, str] | None = None
    """Set when the viewer must be closed after its outbox is sent: ``(code, reason)``."""

    def send(self, text: str, droppable: bool = False) -> None:
        """Queue ``text`` and wake the sender; a viewer too far behind is marked for closing."""
        if self.closing is not None:
            return
        if not self.outbox.put(text, droppable):
            self.outbox.items.clear()
            self.closing = (p.CLOSE_TOO_SLOW, "viewer too slow: finals were not read")
        self.notify()

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued."""
        if self.closing is None:
            self.closing = (code, reason)
        self.notify()


class Room:
    """One room: its publisher (a session id, or ``None`` while viewers wait), its viewers,
    and the recent history a joining viewer gets."""

    def __init__(self, name: str, limits: RoomLimits) -> None:
        self.name = name
        self.limits = limits
        self.publisher: str | None = None
        self.viewers: dict[int, Viewer] = {}
        self._finals: list[dict[str, Any]] = []
        self._translations: dict[str, deque[str]] = {}

    def languages(self) -> set[str]:
        """The languages at least one viewer wants (each translated once)."""
        return {v.translate_to for v in self.viewers.values() if v.translate_to is not None}

    def joined(self, viewer: Viewer) -> str:
        """The ``joined`` message for ``viewer``: the room, whether it is live, how many
        watch, the recent finals and translations into the viewer's language."""
        history = list(self._finals)
        translations = list(self._translations.get(viewer.translate_to or "", ()))
        doc = {
            "type": "joined", "room": self.name, "live": self.publisher is not None, "viewers": len(self.viewers),
            "history": history, "translations": [json.loads(t) for t in translations],
        }  # fmt: skip
        return json.dumps(doc)

    def publish(self, event: RoomEvent) -> None:
        """Send the publisher's ``event`` to every viewer (encoded once) and keep the history."""
        text = p.encode_event(event)
        if isinstance(event, FinalEvent):
            self._finals.append(json.loads(text))
        elif isinstance(event, RevisionEvent):
            self._revise(event)
        elif isinstance(event, SpeakerUpdateEvent):
            for final in self._finals:
                if final["id"] == event.final:
                    _relabel(final, event)
        del self._finals[: -self.limits.history]
        droppable = isinstance(event, PartialEvent)
        for viewer in list(self.viewers.values()):
            viewer.send(text, droppable)

    def translated(self, event: TranslationEvent) -> None:
        """A finished sentence in ``event.language``: to the viewers who want it, and kept."""
        text = p.encode_event(event)
        kept = self._translations.setdefault(event.language, deque(maxlen=self.limits.history))
        kept.append(text)
        for viewer in list(self.viewers.values()):
            if viewer.translate_to == event.language:
                viewer.send(text)

    def end(self, done: str) -> None:
        """The publisher finished: every viewer gets ``done`` (the publisher's) and is closed."""
        self.publisher = None
        for viewer in list(self.viewers.values()):
            viewer.send(done)
            viewer.close(p.CLOSE_NORMAL, "done")

    def _revise(self, revision: RevisionEvent) -> None:
        """Put the revised finals where the ones they replace were (as clients apply it)."""
        replaced = set(revision.replaces)
        at = next((k for k, f in enumerate(self._finals) if f["id"] in replaced), len(self._finals))
        kept = [f for f in self._finals if f["id"] not in replaced]
        at -= sum(1 for f in self._finals[:at] if f["id"] in replaced)
        kept[at:at] = [json.loads(p.encode_event(f)) for f in revision.finals]
        self._finals = kept

    def reset(self) -> None:
        """Forget the history (a new publisher starts the room again)."""
        self._finals = []
        self._translations = {}


def _relabel(final: dict[str, Any], update: SpeakerUpdateEvent) -> None:
    """Apply ``update``'s speaker labels to the kept ``final`` (its JSON document), in place."""
    speakers = list(update.speakers)
    for word, speaker in zip(final.get("words", []), speakers, strict=False):
        word["speaker"] = speaker
    if speakers:
        final["speaker"] = max(set(speakers), key=speakers.count)


class Rooms:
    """The rooms of one server, with its :class:`RoomLimits`."""

    def __init__(self, limits: RoomLimits) -> None:
        self.limits = limits
        self.rooms: dict[str, Room] = {}
        self._ids = 0

    def _room(self, name: str, publishing: bool) -> Room:
        room = self.rooms.get(name)
        live = sum(1 for r in self.rooms.values() if r.publisher is not None)
        if publishing and (room is None or room.publisher is None) and live >= self.limits.max_rooms:
            raise RoomError(p.CLOSE_TRY_LATER, f"too many rooms ({self.limits.max_rooms})")
        if room is None:
            if not publishing and len(self.rooms) - live >= self.limits.max_waiting:
                raise RoomError(
                    p.CLOSE_TRY_LATER, f"too many rooms waiting for a publisher ({self.limits.max_waiting})"
                )
            room = self.rooms[name] = Room(name, self.limits)
        return room

    def publish_to(self, name: str, session: str) -> Room:
        """Make ``session`` the publisher of room ``name`` (made if needed).

        Raises:
            RoomError: 4423 when the room already has a publisher, 1013 when there are
                ``max_rooms`` rooms.
        """
        room = self.rooms.get(name)
        if room is not None and room.publisher is not None:
            raise RoomError(p.CLOSE_ROOM_TAKEN, f"room {name!r} already has a publisher")
        room = self._room(name, publishing=True)
        room.publisher = session
        room.reset()
        return room

    def join(self, name: str, notify: Callable[[], None], translate_to: str | None) -> tuple[Room, Viewer]:
        """A new viewer of room ``name`` (made, waiting for its publisher, if needed).

        Raises:
            RoomError: 1013 when the room has ``max_viewers`` or ``max_waiting`` rooms wait.
        """
        room = self._room(name, publishing=False)
        if len(room.viewers) >= self.limits.max_viewers:
            raise RoomError(p.CLOSE_TRY_LATER, f"room full ({self.limits.max_viewers} viewers)")
        self._ids += 1
        viewer = Viewer(self._ids, Outbox(self.limits.outbox), notify, translate_to)
        room.viewers[viewer.id] = viewer
        return room, viewer

    def leave(self, room: Room, viewer: Viewer | None = None, publisher: bool = False) -> None:
        """``viewer`` (or the publisher) left ``room``; an empty room is forgotten."""
        if viewer is not None:
            room.viewers.pop(viewer.id, None)
        if publisher:
            room.publisher = None
        if room.publisher is None and not room.viewers and self.rooms.get(room.name) is room:
            del self.rooms[room.name]


def viewers_message(room: Room) -> str:
    """The publisher's ``{"type": "viewers", "room", "count"}`` message."""
    return json.dumps({"type": "viewers", "room": room.name, "count": len(room.viewers)})
