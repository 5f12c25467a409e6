"""Custom vocabulary (``--hotwords``, the live ``vocabulary``): bounded, heard when spoken,
never written when not."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from tests.servers import RunningServer
from tests.test_wer import wer
from voicestream import media
from voicestream.asr import DecodeOptions, FasterWhisperEngine
from voicestream.asr.base import AsrSegment
from voicestream.asr.vocabulary import MAX_CHARS, MAX_TERMS, heard_speech, only_vocabulary, split_terms, vocabulary_text
from voicestream.client import current_finals, stream_samples
from voicestream.errors import OptionError
from voicestream.server import protocol as p

UNRELATED = "Kowloon, Qiao, EBITDA"
NAMES = {  # LibriSpeech test-other utterances (v2_dev) and a name in each that tiny.en misses without help
    "2033-164914-0005.flac": "Zau al Makan",
    "2033-164914-0008.flac": "Nuzhat al Zaman",
    "1688-142285-0005.flac": "Helstone",
}


def test_vocabulary_is_bounded_and_clean() -> None:
    """Terms are split on commas and new lines, spaces folded, duplicates (any case) dropped;
    too many, too long, or control characters are refused with the limit in the message."""
    assert split_terms(" Kowloon,Qiao\n, EBITDA ,, ") == ["Kowloon", "Qiao", "EBITDA"]
    assert vocabulary_text(["Kowloon", " kowloon ", "Qiao  Lin"]) == "Kowloon, Qiao Lin"
    assert vocabulary_text([]) is None and vocabulary_text(["", "  "]) is None
    with pytest.raises(OptionError, match=f"at most {MAX_TERMS}"):
        vocabulary_text([f"term{i}" for i in range(MAX_TERMS + 1)])
    with pytest.raises(OptionError, match=f"at most {MAX_CHARS}"):
        vocabulary_text(["x" * 40 + str(i) for i in range(12)])
    with pytest.raises(OptionError, match="over 48 characters or not text"):
        vocabulary_text(["a" * 49])
    with pytest.raises(OptionError, match="not text"):
        vocabulary_text(["bell\x07"])
    assert only_vocabulary("Kowloon.", UNRELATED) and only_vocabulary("EBITDA, Qiao!", UNRELATED)
    assert not only_vocabulary("Kowloon is far", UNRELATED) and not only_vocabulary("", UNRELATED)
    assert not only_vocabulary("Kowloon", None)


def _segment(text: str, no_speech_prob: float) -> AsrSegment:
    return AsrSegment(0.0, 1.0, text, (), -0.5, no_speech_prob, 1.0)


def test_only_words_the_model_takes_for_speech_let_a_vocabulary_echo_stand() -> None:
    """The plain decode that lets a vocabulary-only text stand must hold a word said as speech:
    CI once saw beam 5 write "Kowloon" over noise because the plain decode's sampled fallback
    wrote ". . ." (no-speech probability 0.98)."""
    assert not heard_speech([_segment(". .", 0.978), _segment(".", 0.978)], 0.6)
    assert not heard_speech([_segment("you", 0.93)], 0.6) and not heard_speech([], 0.6)
    assert heard_speech([_segment("Kowloon is far.", float("nan"))], 0.6)
    assert heard_speech([_segment("you", 0.93)], None) and heard_speech([_segment("Go", 0.2)], 0.6)


def test_the_live_start_message_takes_a_vocabulary() -> None:
    """``vocabulary`` in ``start`` is a list of terms, bounded as on the command line: 4400 otherwise."""
    start = {"type": "start", "sample_rate": 16000, "vocabulary": ["Kowloon", "Qiao"]}
    parsed = p.parse_client_message(json.dumps(start))
    assert isinstance(parsed, p.StartMessage) and parsed.options.vocabulary == "Kowloon, Qiao"
    for bad in ("Kowloon", [1, 2], [f"t{i}" for i in range(MAX_TERMS + 1)]):
        with pytest.raises(p.ProtocolError) as refused:
            p.parse_client_message(json.dumps({**start, "vocabulary": bad}))
        assert refused.value.code == p.CLOSE_BAD_MESSAGE


@pytest.mark.models
@pytest.mark.parametrize("beam", [1, 5])
def test_vocabulary_never_leaks_into_noise_silence_or_unrelated_speech(
    tiny_engine: FasterWhisperEngine, data: Path, beam: int
) -> None:
    """Noise and silence with a vocabulary give no words (beam 5 wrote "Kowloon" over noise
    until the echo check), and JFK's speech gives none of the terms and the same WER."""
    rng = np.random.default_rng(0)
    quiet = [rng.normal(0, 0.003, 16000 * 8), rng.normal(0, 0.01, 16000 * 5), np.zeros(16000 * 4)]
    for samples in quiet:
        segments = tiny_engine.transcribe(samples.astype(np.float32), 0.0, DecodeOptions(beam_size=beam,
                                          hotwords=UNRELATED))  # fmt: skip
        assert not segments, [s.text for s in segments]
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    reference = (data / "jfk_public_domain" / "jfk.txt").read_text()
    plain = " ".join(s.text for s in tiny_engine.transcribe(jfk, 0.0, DecodeOptions(beam_size=beam)))
    told = " ".join(s.text for s in tiny_engine.transcribe(jfk, 0.0, DecodeOptions(beam_size=beam,
                                                                                   hotwords=UNRELATED)))  # fmt: skip
    assert not any(term.lower() in told.lower() for term in split_terms(UNRELATED)), told
    assert wer([reference], [told]) <= wer([reference], [plain]) + 0.02


@pytest.mark.models
def test_names_in_the_vocabulary_are_heard(tiny_engine: FasterWhisperEngine, data: Path) -> None:
    """Three LibriSpeech utterances with names tiny.en misspells alone ("what's out of my car"
    for Zau al Makan, "Halston" for Helstone): with the names as vocabulary each is written as
    listed, with the file path (beam 5) and the live one (greedy)."""
    folder = data / "v2_dev" / "asr_en" / "librispeech_test-other"
    for name, term in NAMES.items():
        samples = media.decode(next(folder.rglob(name)))
        for beam in (1, 5):
            alone = " ".join(s.text for s in tiny_engine.transcribe(samples, 0.0, DecodeOptions(beam_size=beam)))
            helped = " ".join(
                s.text for s in tiny_engine.transcribe(samples, 0.0, DecodeOptions(beam_size=beam, hotwords=term))
            )
            assert term.lower() not in alone.lower() and term.lower() in helped.lower(), (alone, helped)


@pytest.mark.models
def test_a_live_session_with_a_vocabulary(tiny_engine: FasterWhisperEngine, data: Path) -> None:
    """The live ``vocabulary`` reaches the session's decodes: the name is written in the finals."""
    folder = data / "v2_dev" / "asr_en" / "librispeech_test-other"
    samples = media.decode(next(folder.rglob("1688-142285-0005.flac")))
    server = RunningServer(tiny_engine, max_rate=0)
    try:
        events = asyncio.run(stream_samples(server.url, samples, speed=0, language="en", vocabulary=("Helstone",)))
    finally:
        server.close()
    text = " ".join(f["text"] for f in current_finals(events))
    assert "helstone" in text.lower(), text
