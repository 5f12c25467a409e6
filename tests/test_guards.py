"""Hallucination guards."""

from __future__ import annotations

from voicestream.asr import AsrSegment
from voicestream.asr.guards import apply_guards, collapse_repeats, drop_collapsed_runs, drop_trailing_echo
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
    assert apply_guards([_segment("so so so so so so", ratio=3.5, logprob=-0.1)]) == []
    loop = "ask what you can do for your country. ask what you can do for your country. ask what you"
    assert apply_guards([_segment(loop, ratio=2.9, logprob=-0.9)]) == []  # not confident: dropped


def test_confident_phrase_loop_keeps_its_first_occurrence() -> None:
    """A whole phrase looped by a confident decode (a 3 s window read as 3.5 repeats) keeps
    the phrase once instead of losing the words."""
    loop = "ask what you can do for your country. ask what you can do for your country. ask what you"
    out = apply_guards([_segment(loop, ratio=2.9, logprob=-0.1)])
    assert [join_words(s.words) for s in out] == ["ask what you can do for your country."]


def test_confident_speech_kept() -> None:
    """Confident speech survives even with some no-speech probability."""
    seg = _segment("Hello there.", no_speech=0.7, logprob=-0.3)
    assert apply_guards([seg]) == [seg]


def test_collapsed_run_dropped() -> None:
    """Words squeezed into no time (an invented repeat at a window's end) are dropped; real words stay."""
    real = _words("the two stray kittens")
    squeezed = tuple(Word(5.0, 5.0, " " + t, 0.5) for t in ["the", "two", "stray", "kittens"])
    assert drop_collapsed_runs(real + squeezed, 0.04, 3) == real


def test_isolated_short_word_kept() -> None:
    """One or two very short words (a quick 'a', 'I') are not a collapsed run."""
    words = (Word(0.0, 0.3, " I", 0.9), Word(0.3, 0.32, " a", 0.9), Word(0.32, 0.6, " cat", 0.9))
    assert drop_collapsed_runs(words, 0.04, 3) == words


def test_trailing_echo_after_full_stop_dropped() -> None:
    """'... is delightful. delightful.' at a window's end loses the echo."""
    words = list(_words("the scenery is delightful. delightful."))
    assert join_words(drop_trailing_echo(words)) == "the scenery is delightful."


def test_repeat_without_sentence_end_kept() -> None:
    """'very very' mid-sentence is not an echo."""
    words = list(_words("it was very very"))
    assert drop_trailing_echo(words) == words


def _timed(*words: tuple[str, float, float, float]) -> tuple[Word, ...]:
    return tuple(Word(a, b, " " + text, p) for text, a, b, p in words)


def _seg(words: tuple[Word, ...]) -> AsrSegment:
    return AsrSegment(words[0].start_s, words[-1].end_s, join_words(words), words, -0.2, 0.1, 1.2)


def test_a_squeezed_echo_is_dropped_and_a_repeat_said_aloud_stays() -> None:
    """Timings measured on v2_dev with base and fitted windows: "which which" (the second
    80 ms, p 0.11), "next year next year" (0.26 s, segment end), a lone "No." of 80 ms after
    "No." in the previous segment; and real repeats of the older sets that must stay."""
    which = _timed(("tell", 6.18, 6.64, 1.0), ("which", 6.64, 6.92, 0.93), ("which", 6.92, 7.0, 0.11),
                   ("is", 7.0, 7.08, 0.92))  # fmt: skip
    year = _timed(("that", 20.48, 20.86, 0.97), ("next", 20.86, 21.9, 0.95), ("year", 21.9, 22.72, 0.99),
                  ("next", 22.72, 22.98, 0.24), ("year", 22.98, 22.98, 0.99))  # fmt: skip
    no = [_seg(_timed(("No.", 0.86, 1.62, 0.54))), _seg(_timed(("No.", 1.62, 1.70, 0.76)))]
    you = _timed(("tell", 4.08, 4.34, 1.0), ("you", 4.34, 4.68, 1.0), ("you", 4.68, 5.22, 0.72),
                 ("have", 5.22, 5.44, 1.0))  # fmt: skip
    fast_sure = _timed(("no", 1.0, 1.12, 0.9), ("no", 1.12, 1.2, 0.9), ("stop", 1.2, 1.6, 0.9))
    hello = [_seg(_timed(("Hello.", 6.58, 6.94, 0.69))), _seg(_timed(("Hello.", 7.42, 7.86, 0.83)))]
    assert join_words(apply_guards([_seg(which)])[0].words) == "tell which is"
    assert join_words(apply_guards([_seg(year)])[0].words) == "that next year"
    assert [join_words(s.words) for s in apply_guards(no)] == ["No."]
    assert join_words(apply_guards([_seg(you)])[0].words) == "tell you you have"
    assert join_words(apply_guards([_seg(fast_sure)])[0].words) == "no no stop"  # sure, and not at the end
    assert [join_words(s.words) for s in apply_guards(hello)] == ["Hello.", "Hello."]
    later = [no[0], _seg(_timed(("No.", 6.0, 6.08, 0.76)))]  # the same word said again later
    assert [join_words(s.words) for s in apply_guards(later)] == ["No.", "No."]
