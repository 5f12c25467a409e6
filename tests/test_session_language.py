"""Language of a multilingual live stream without a client-chosen language (fake engine, policy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from voicestream.asr import DecodeOptions
from voicestream.live.policy import DecodeRequest, StreamSettings
from voicestream.live.state import SessionState
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.messages import SpeechRegion
from voicestream.vad import Window


class ScriptedDetector:
    """Answers language detection from a script, behind the AsrEngine protocol."""

    name = "scripted"
    multilingual = True
    speculative = False

    def __init__(self, answers: list[tuple[str, float]]) -> None:
        self.answers = answers

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        return self.answers.pop(0)

    def transcribe(
        self, samples: np.ndarray, offset_s: float, options: Any, hypothesis: Any = None, stats: Any = None
    ) -> list[Any]:
        return []


def session(answers: list[tuple[str, float]]) -> SessionState:
    return SessionState(
        "t",
        16000,
        ScriptedDetector(answers),
        SileroFrameModel(),
        DecodeOptions(),
        StreamSettings(),
    )


def seconds(s: float) -> np.ndarray:
    return np.zeros(int(s * 16000), np.float32)


def test_a_doubtful_guess_is_not_fixed_and_a_confident_one_is() -> None:
    s = session([("ko", 0.4), ("nn", 0.41), ("en", 0.75), ("de", 0.99)])
    assert s._detect_language(seconds(2)) == "ko"
    assert s.policy.language is None
    assert s._detect_language(seconds(1)) == "ko"  # 0.8 vote-seconds of ko beat 0.41 of nn
    assert s._detect_language(seconds(3)) == "en"
    assert s.policy.language == "en"


def test_enough_audio_fixes_the_best_voted_language() -> None:
    s = session([("fr", 0.6), ("es", 0.5), ("fr", 0.55)])
    s._detect_language(seconds(4))
    s._detect_language(seconds(4))
    assert s.policy.language is None
    assert s._detect_language(seconds(4)) == "fr"
    assert s.policy.language == "fr"


def request(s: float, final: bool) -> DecodeRequest:
    return DecodeRequest(seconds(s), Window((SpeechRegion(0.0, s),)), None, final, s)


def test_a_final_on_a_doubtful_guess_does_not_settle_the_language() -> None:
    """A phone call's first "Hello?" (Korean at 0.4 here) is finalised before enough audio has
    voted: its final carries the leading vote, and the next updates still vote and decode in
    the language they hear, until a confident detection settles it (CI once wrote a whole
    English call in Korean when that first final fixed the stream's language)."""
    s = session([("ko", 0.4), ("en", 0.6), ("en", 0.9)])
    s._decode_words(request(1.5, final=True))
    assert s.policy.language == "ko" and not s._language_settled
    s._decode_words(request(2.0, final=False))  # en 1.2 vote-seconds beat ko 0.6
    assert s.policy.language == "en" and not s._language_settled
    s._decode_words(request(4.0, final=False))
    assert s.policy.language == "en" and s._language_settled
    s._decode_words(request(1.0, final=True))  # settled: no detection (the script is empty)
    assert s.policy.language == "en"
