"""Wire protocol v1 (documented in docs/protocol.md): client messages in, server events out.

This module is the only place that knows the JSON shapes. Parsing raises
:class:`ProtocolError` carrying the close code and reason the server sends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.asr.vocabulary import vocabulary_text
from voicestream.errors import OptionError
from voicestream.live.events import (
    DoneEvent,
    FinalEvent,
    LiveEvent,
    PartialEvent,
    RevisionEvent,
    SpeakerUpdateEvent,
    SpeechEvent,
    SpeechSkippedEvent,
    SubtitlesEvent,
    TranslationEvent,
)
from voicestream.live.options import EXPORT_FORMATS, ExportFormat, SessionOptions
from voicestream.messages import Word

ROOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A caption room's name: 1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""
PROTOCOL_VERSION = 1
SUBPROTOCOL = "voicestream.v1"
"""WebSocket subprotocol name; a browser may add ``bearer.<token>`` beside it to authenticate."""

# Close codes (RFC 6455 private range 4000-4999 unless standard).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the server is stopping
CLOSE_TOO_BIG = 1009  # frame over the size limit
CLOSE_INTERNAL = 1011  # inference failed for this session
CLOSE_TRY_LATER = 1013  # server full
CLOSE_BAD_MESSAGE = 4400  # malformed JSON, unknown type, wrong field
CLOSE_UNAUTHORIZED = 4401  # missing or wrong token
CLOSE_FORBIDDEN_ORIGIN = 4403  # Origin not allowed
CLOSE_IDLE = 4408  # nothing received for too long
CLOSE_STATE = 4409  # message not valid now (audio before start, start twice)
CLOSE_SESSION_TOO_LONG = 4410  # session longer than the server allows
CLOSE_BAD_AUDIO = 4415  # unsupported format, odd byte count, NaN/Inf samples
CLOSE_RATE = 4429  # audio sent faster than the allowed rate
CLOSE_TOO_SLOW = 4420  # a viewer did not read the room's finals
CLOSE_ROOM_TAKEN = 4423  # the room already has a publisher

ENCODINGS: dict[str, np.dtype[Any]] = {"pcm_s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}
MIN_RATE, MAX_RATE = 8_000, 48_000
MAX_CHANNELS = 8
_START_KEYS = {
    "type", "protocol", "sample_rate", "encoding", "channels", "language", "task", "options", "translate_to", "speak",
    "vocabulary", "room",
}  # fmt: skip
_SPEAK_KEYS = {"to", "voice"}
_OPTION_KEYS = {"partials", "revise", "diarize", "num_speakers", "max_speakers"}
MAX_SPEAKERS = 16


class ProtocolError(Exception):
    """A client mistake that ends its session with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]  # close reasons must fit in a control frame (123 bytes)


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """Format of the client's binary audio frames.

    Attributes:
        sample_rate: Hz, 8000 to 48000.
        encoding: ``pcm_s16le`` or ``f32le`` (interleaved when several channels).
        channels: Interleaved channel count; downmixed to mono.
    """

    sample_rate: int
    encoding: str
    channels: int

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample across all channels."""
        return int(ENCODINGS[self.encoding].itemsize) * self.channels


@dataclass(frozen=True, slots=True)
class StartMessage:
    """``{"type": "start", ...}``: opens a session: the client's audio frame format and
    what it asks of the session."""

    audio: AudioFormat
    options: SessionOptions = field(default_factory=SessionOptions)
    room: str | None = None
    """The caption room the session publishes to (``None``: the server's default room, if any)."""


@dataclass(frozen=True, slots=True)
class KeepaliveMessage:
    """``{"type": "keepalive"}``: resets the idle timer."""


@dataclass(frozen=True, slots=True)
class StopMessage:
    """``{"type": "stop", "export": ["srt", "vtt"]}``: flush everything, send the
    subtitles asked for (``export`` is optional), then ``done``, and close."""

    export: tuple[ExportFormat, ...] = ()


@dataclass(frozen=True, slots=True)
class ExportMessage:
    """``{"type": "export", "format": "srt"}``: the session's finals so far as subtitles."""

    format: ExportFormat


ClientMessage = StartMessage | KeepaliveMessage | StopMessage | ExportMessage


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise ProtocolError(CLOSE_BAD_MESSAGE, reason)


def _export_format(name: object) -> ExportFormat:
    """A checked export format name as its typed value."""
    return next(f for f in EXPORT_FORMATS if f == name)


def parse_client_message(text: str) -> ClientMessage:
    """Parse one text frame.

    Raises:
        ProtocolError: malformed JSON (4400), unknown type or fields (4400), or an
            unsupported audio format (4415).
    """
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError(CLOSE_BAD_MESSAGE, "malformed JSON") from None
    _require(isinstance(doc, dict), "a message must be a JSON object")
    kind = doc.get("type")
    if kind == "keepalive":
        return KeepaliveMessage()
    if kind == "stop":
        _require(set(doc) <= {"type", "export"}, "stop takes only export")
        export = doc.get("export", [])
        _require(
            isinstance(export, list)
            and len(export) <= len(EXPORT_FORMATS)
            and all(f in EXPORT_FORMATS for f in export),
            "stop.export must be a list of srt, vtt",
        )
        return StopMessage(tuple(dict.fromkeys(_export_format(f) for f in export)))
    if kind == "export":
        _require(set(doc) <= {"type", "format"}, "export takes only format")
        _require(doc.get("format") in EXPORT_FORMATS, "export.format must be srt or vtt")
        return ExportMessage(_export_format(doc["format"]))
    _require(kind == "start", f"unknown message type {str(kind)[:40]!r}")
    unknown = sorted(set(doc) - _START_KEYS)
    _require(not unknown, f"unknown field {unknown[:1]} in start"[:80])
    _require(doc.get("protocol", PROTOCOL_VERSION) == PROTOCOL_VERSION, f"protocol must be {PROTOCOL_VERSION}")
    rate = doc.get("sample_rate")
    encoding = doc.get("encoding", "pcm_s16le")
    channels = doc.get("channels", 1)
    if not (isinstance(rate, int) and not isinstance(rate, bool) and MIN_RATE <= rate <= MAX_RATE):
        raise ProtocolError(CLOSE_BAD_AUDIO, f"sample_rate must be an integer from {MIN_RATE} to {MAX_RATE} Hz")
    if encoding not in ENCODINGS:
        raise ProtocolError(CLOSE_BAD_AUDIO, "encoding must be pcm_s16le or f32le")
    if not (isinstance(channels, int) and not isinstance(channels, bool) and 1 <= channels <= MAX_CHANNELS):
        raise ProtocolError(CLOSE_BAD_AUDIO, f"channels must be an integer from 1 to {MAX_CHANNELS}")
    language = doc.get("language", "auto")
    _require(isinstance(language, str) and 0 < len(language) <= 8, "language must be a code or auto")
    task = doc.get("task", "transcribe")
    _require(task in ("transcribe", "translate"), "task must be transcribe or translate")
    asked = doc.get("options", {})
    _require(isinstance(asked, dict), "options must be an object")
    unknown = sorted(set(asked) - _OPTION_KEYS)
    _require(not unknown, f"unknown option {unknown[:1]}"[:80])
    partials = asked.get("partials", True)
    _require(isinstance(partials, bool), "options.partials must be true or false")
    revise = asked.get("revise", True)
    _require(isinstance(revise, bool), "options.revise must be true or false")
    diarize = asked.get("diarize", False)
    _require(isinstance(diarize, bool), "options.diarize must be true or false")
    counts = {}
    for key in ("num_speakers", "max_speakers"):
        value = asked.get(key)
        _require(
            value is None or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SPEAKERS),
            f"options.{key} must be an integer from 1 to {MAX_SPEAKERS}",
        )
        counts[key] = value
    _require(diarize or not any(counts.values()), "speaker counts need options.diarize")
    translate_to = doc.get("translate_to")
    _require(
        translate_to is None or (isinstance(translate_to, str) and 0 < len(translate_to) <= 8),
        "translate_to must be a language code",
    )
    speak = doc.get("speak")
    _require(speak is None or isinstance(speak, dict), "speak must be an object")
    voice = None
    if speak is not None:
        _require(not sorted(set(speak) - _SPEAK_KEYS), "speak takes to and voice")
        to = speak.get("to")
        _require(isinstance(to, str) and 0 < len(to) <= 8, "speak.to must be a language code")
        _require(translate_to in (None, to), "speak.to and translate_to differ")
        translate_to = to
        voice = speak.get("voice")
        _require(voice is None or (isinstance(voice, str) and 0 < len(voice) <= 80), "speak.voice must be a voice id")
    terms = doc.get("vocabulary", [])
    _require(isinstance(terms, list) and all(isinstance(t, str) for t in terms), "vocabulary must be a list of text")
    try:
        vocabulary = vocabulary_text(terms)
    except OptionError as e:
        raise ProtocolError(CLOSE_BAD_MESSAGE, str(e)[:120]) from None
    options = SessionOptions(
        language=None if language == "auto" else language,
        task=task,
        partials=partials,
        revise=revise,
        diarize=diarize,
        num_speakers=counts["num_speakers"],
        max_speakers=counts["max_speakers"],
        translate_to=translate_to,
        speak=speak is not None,
        speak_voice=voice,
        vocabulary=vocabulary,
    )
    room = doc.get("room")
    _require(room is None or (isinstance(room, str) and ROOM_NAME.fullmatch(room) is not None),
             "room must be 1-64 letters, digits, '.', '_' or '-'")  # fmt: skip
    return StartMessage(AudioFormat(rate, encoding, channels), options, room)


def decode_audio_frame(data: bytes, fmt: AudioFormat) -> npt.NDArray[np.float32]:
    """One binary frame as mono float32 at the client's rate, shape ``(n,)``.

    Raises:
        ProtocolError: 4415 for a byte count that is not whole samples, or NaN/Inf samples.
    """
    if len(data) % fmt.frame_bytes:
        raise ProtocolError(
            CLOSE_BAD_AUDIO, f"frame of {len(data)} bytes is not a whole number of {fmt.frame_bytes}-byte samples"
        )
    raw = np.frombuffer(data, dtype=ENCODINGS[fmt.encoding])
    if fmt.encoding == "pcm_s16le":
        samples = raw.astype(np.float32) / 32768.0
    else:
        if not np.isfinite(raw).all():
            raise ProtocolError(CLOSE_BAD_AUDIO, "audio contains NaN or infinite samples")
        samples = np.clip(raw.astype(np.float32), -1.0, 1.0)
    if fmt.channels > 1:
        samples = samples.reshape(-1, fmt.channels).mean(axis=1, dtype=np.float32)
    return np.asarray(samples, dtype=np.float32)


def _words(words: tuple[Word, ...] | list[Word]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for w in words:
        doc: dict[str, Any] = {"word": w.text, "start": round(w.start_s, 3), "end": round(w.end_s, 3)}
        doc["probability"] = round(w.probability, 3)
        if w.speaker is not None:
            doc["speaker"] = w.speaker
        out.append(doc)
    return out


def _final(event: FinalEvent) -> dict[str, Any]:
    doc = {"type": "final", "id": event.id, "segment": event.segment,
           "text": "".join(w.text for w in event.words).strip(),
           "start": round(event.words[0].start_s, 3) if event.words else None,
           "end": round(event.words[-1].end_s, 3) if event.words else None,
           "words": _words(event.words), "language": event.language}  # fmt: skip
    if event.speaker is not None:
        doc["speaker"] = event.speaker
    return doc


@dataclass(frozen=True, slots=True)
class ReadyEvent:
    """Sent once after a valid ``start``."""

    session: str
    model: str
    sample_rate: int


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """Why the server is about to close the session."""

    code: int
    reason: str


ServerEvent = ReadyEvent | ErrorEvent | LiveEvent
"""Everything the server sends as JSON."""


def encode_event(event: ServerEvent) -> str:
    """JSON text of a server event."""
    doc: dict[str, Any]
    if isinstance(event, ReadyEvent):
        doc = {"type": "ready", "protocol": PROTOCOL_VERSION, "session": event.session, "model": event.model,
               "sample_rate": event.sample_rate}  # fmt: skip
    elif isinstance(event, PartialEvent):
        doc = {"type": "partial", "segment": event.segment, "revision": event.revision,
               "text": "".join(w.text for w in event.words).strip(), "words": _words(event.words),
               "language": event.language}  # fmt: skip
    elif isinstance(event, FinalEvent):
        doc = _final(event)
    elif isinstance(event, RevisionEvent):
        doc = {"type": "revision", "replaces": list(event.replaces), "finals": [_final(f) for f in event.finals]}
    elif isinstance(event, SpeakerUpdateEvent):
        speaker = max(set(event.speakers), key=event.speakers.count) if event.speakers else None
        doc = {"type": "speaker_update", "final": event.final, "speaker": speaker, "speakers": list(event.speakers)}
    elif isinstance(event, TranslationEvent):
        doc = {"type": "translation", "segment": event.segment, "start": round(event.start_s, 3),
               "end": round(event.end_s, 3), "source_text": event.source_text, "text": event.text,
               "language": event.language, "source_language": event.source_language}  # fmt: skip
        if event.speaker is not None:
            doc["speaker"] = event.speaker
        if event.error is not None:
            doc["error"] = event.error
    elif isinstance(event, SpeechEvent):
        doc = {"type": "speech", "id": event.id, "segment": event.segment, "text": event.text,
               "language": event.language, "voice": event.voice, "start": round(event.start_s, 3),
               "duration": round(event.duration_s, 3), "source_start": round(event.source_start_s, 3),
               "source_end": round(event.source_end_s, 3), "speed": round(event.speed, 3),
               "tempo": round(event.tempo, 3), "sample_rate": event.sample_rate, "encoding": "pcm_s16le",
               "bytes": len(event.audio), "part": event.part, "parts": event.parts}  # fmt: skip
        if event.speaker is not None:
            doc["speaker"] = event.speaker
    elif isinstance(event, SpeechSkippedEvent):
        doc = {"type": "speech_skipped", "id": event.id, "segment": event.segment, "text": event.text,
               "delay": round(event.delay_s, 3), "reason": event.reason}  # fmt: skip
    elif isinstance(event, SubtitlesEvent):
        doc = {"type": "subtitles", "format": event.format, "text": event.text}
    elif isinstance(event, DoneEvent):
        doc = {"type": "done", "duration": round(event.duration_s, 3), "finals": event.finals,
               "session": event.session, "decodes": event.decodes, "revisions": event.revisions,
               "revisions_skipped": event.revisions_skipped, "speculative": event.speculative.as_dict()}  # fmt: skip
        if event.speakers is not None:
            doc |= {"speakers": list(event.speakers), "speaker_updates": event.speaker_updates}
    else:
        doc = {"type": "error", "code": event.code, "reason": event.reason}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False)
