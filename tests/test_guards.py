"""Hallucination guards."""

from __future__ import annotations

from voicestream.asr import AsrSegment
from voicestream.guards import apply_guards, collapse_repeats
from voicestream.messages import Word, join_words


def _words(text: str) -> tuple[Word, ...]:
    return tuple(Word(i * 0.2, i * 0.2 + 0.1, " " + t, 0.9) for i, t in enumerate(text.split()))


def _segment(text: str, no_speech: float = 0.1, logprob: float = -0.2, ratio: float = 1.2) -> AsrSegment:
    words = _words(text)
    return AsrSegment(words[0].start_s, words[-1].end_s, text, words, logprob, no_speech, ratio)


def test_repeated_ngram_loop_is_cut_back() -> None:
    """'thank you' looping is cut back to two occurrences."""
    out = collapse_repeats(_words("thank you thank you thank you thank you for coming"), 4, 2)
    assert join_words(out) == "thank you thank you for coming"


def test_single_word_stutter_kept_up_to_limit() -> None:
    """A word repeated back to back is kept at most twice."""
    assert join_words(collapse_repeats(_words("no no no no way"), 4, 2)) == "no no way"


def test_normal_speech_untouched() -> None:
    """Ordinary sentences pass through unchanged."""
    words = _words("ask not what your country can do for you ask what you can do")
    assert collapse_repeats(words, 4, 2) == words


def test_silence_hallucination_dropped() -> None:
    """High no-speech probability with low confidence means silence: dropped."""
    assert apply_guards([_segment("Thank you for watching.", no_speech=0.9, logprob=-1.4)]) == []


def test_repetitive_segment_dropped() -> None:
    """A segment whose text compresses too well is a decoding loop: dropped."""
    assert apply_guards([_segment("la la la la", ratio=3.1)]) == []


def test_confident_speech_kept() -> None:
    """Confident speech survives even with some no-speech probability."""
    seg = _segment("Hello there.", no_speech=0.7, logprob=-0.3)
    assert apply_guards([seg]) == [seg]
