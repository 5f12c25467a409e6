"""Wire protocol v1: parsing client messages, decoding audio frames, encoding events."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voicestream.live import events as ev
from voicestream.live.options import SessionOptions
from voicestream.messages import Word
from voicestream.server import protocol as p


def start(**fields: object) -> str:
    return json.dumps({"type": "start", "sample_rate": 16000, **fields})


def test_start_defaults() -> None:
    """A minimal start gives mono PCM16, auto language, transcription, partials on."""
    msg = p.parse_client_message(start())
    assert msg == p.StartMessage(p.AudioFormat(16000, "pcm_s16le", 1), SessionOptions(None, "transcribe", True))


def test_start_full() -> None:
    """Every documented field is read."""
    msg = p.parse_client_message(
        start(encoding="f32le", channels=2, language="de", task="translate", options={"partials": False}, protocol=1)
    )
    assert msg == p.StartMessage(p.AudioFormat(16000, "f32le", 2), SessionOptions("de", "translate", False))


def test_keepalive_and_stop() -> None:
    """The two control messages."""
    assert isinstance(p.parse_client_message('{"type": "keepalive"}'), p.KeepaliveMessage)
    assert isinstance(p.parse_client_message('{"type": "stop"}'), p.StopMessage)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", p.CLOSE_BAD_MESSAGE),
        ("[1, 2]", p.CLOSE_BAD_MESSAGE),
        ('{"type": "dance"}', p.CLOSE_BAD_MESSAGE),
        ("[" * 100000, p.CLOSE_BAD_MESSAGE),
        (start(extra=1), p.CLOSE_BAD_MESSAGE),
        (start(protocol=2), p.CLOSE_BAD_MESSAGE),
        (start(options={"beam": 5}), p.CLOSE_BAD_MESSAGE),
        (start(options=[]), p.CLOSE_BAD_MESSAGE),
        (start(task="sing"), p.CLOSE_BAD_MESSAGE),
        (start(language=7), p.CLOSE_BAD_MESSAGE),
        (json.dumps({"type": "start"}), p.CLOSE_BAD_AUDIO),
        (start(sample_rate=4000), p.CLOSE_BAD_AUDIO),
        (start(sample_rate=10**12), p.CLOSE_BAD_AUDIO),
        (start(sample_rate=16000.5), p.CLOSE_BAD_AUDIO),
        (start(sample_rate=True), p.CLOSE_BAD_AUDIO),
        (start(encoding="mp3"), p.CLOSE_BAD_AUDIO),
        (start(channels=0), p.CLOSE_BAD_AUDIO),
        (start(channels=64), p.CLOSE_BAD_AUDIO),
    ],
)
def test_bad_messages_have_close_codes(text: str, code: int) -> None:
    """Each malformed message maps to its documented close code with a short reason."""
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_message(text)
    assert info.value.code == code
    assert 0 < len(info.value.reason.encode()) <= 123


def test_decode_s16_stereo_downmix() -> None:
    """Interleaved 16-bit stereo becomes the mean of both channels in [-1, 1)."""
    fmt = p.AudioFormat(16000, "pcm_s16le", 2)
    frame = np.array([16384, 0, -32768, -32768], dtype="<i2").tobytes()
    assert p.decode_audio_frame(frame, fmt).tolist() == [0.25, -1.0]


def test_decode_f32() -> None:
    """Float frames pass through, clipped to [-1, 1]."""
    fmt = p.AudioFormat(48000, "f32le", 1)
    out = p.decode_audio_frame(np.array([0.5, 2.0], dtype="<f4").tobytes(), fmt)
    assert out.tolist() == [0.5, 1.0]


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        (p.AudioFormat(16000, "pcm_s16le", 1), b"\x00\x01\x02"),
        (p.AudioFormat(16000, "pcm_s16le", 2), b"\x00\x01"),
        (p.AudioFormat(16000, "f32le", 1), np.array([np.nan], dtype="<f4").tobytes()),
        (p.AudioFormat(16000, "f32le", 1), np.array([np.inf, 0.0], dtype="<f4").tobytes()),
    ],
)
def test_bad_frames_rejected(fmt: p.AudioFormat, data: bytes) -> None:
    """Odd byte counts and NaN/Inf samples are 4415."""
    with pytest.raises(p.ProtocolError) as info:
        p.decode_audio_frame(data, fmt)
    assert info.value.code == p.CLOSE_BAD_AUDIO


def test_events_encode_words_and_times() -> None:
    """Final events carry text, start/end and words with absolute seconds."""
    words = (Word(1.0, 1.4, " Hello", 0.91), Word(1.5, 1.9, " there.", 0.8))
    doc = json.loads(p.encode_event(ev.FinalEvent(3, words, "en", id=5)))
    assert doc == {
        "type": "final", "id": 5, "segment": 3, "text": "Hello there.", "start": 1.0, "end": 1.9, "language": "en",
        "words": [{"word": " Hello", "start": 1.0, "end": 1.4, "probability": 0.91},
                  {"word": " there.", "start": 1.5, "end": 1.9, "probability": 0.8}],
    }  # fmt: skip
    partial = json.loads(p.encode_event(ev.PartialEvent(3, 2, words[:1], None)))
    assert partial["type"] == "partial" and partial["revision"] == 2 and partial["text"] == "Hello"
