"""Hallucination guards applied to decoded segments before they become subtitles."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

from voicestream.asr import AsrSegment
from voicestream.messages import Word
from voicestream.sentences import ends_sentence


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Thresholds for dropping or trimming decoded text.

    Attributes:
        no_speech_prob: With ``avg_logprob`` below ``silence_logprob``, a segment whose
            no-speech probability exceeds this is silence misread as words.
        silence_logprob: See ``no_speech_prob``.
        max_compression_ratio: Segments still more repetitive than this after the
            temperature fallback are dropped.
        max_ngram: Longest word n-gram checked for loops.
        max_repeats: An n-gram repeated back to back more often than this is cut back
            to this many occurrences ("thank you thank you thank you ...").
        collapsed_word_s: Words shorter than this (s) are "collapsed": no audio behind them.
        collapsed_run: This many collapsed words in a row are text Whisper invented
            (typically a repeat of the window's transcript squeezed at its end): dropped.
        salvage_ngram: A segment over ``max_compression_ratio`` decoded with a mean
            log-probability of at least ``salvage_logprob`` is kept when cutting back-to-back
            repeats of up to this many words to one brings its ratio under the limit and
            leaves at least four distinct words.
        squeezed_word_s: A repeat of the words just before it ("which which", "next year
            next year"), starting less than this (s) after them, lasting under this per
            word and under ``squeezed_share`` of the first saying, is an echo when it is
            unsure (a word under ``squeezed_probability``) or ends its segment: dropped
            (see :func:`drop_squeezed_repeats`).
        squeezed_share: See ``squeezed_word_s``.
        squeezed_probability: See ``squeezed_word_s``.
    """

    no_speech_prob: float = 0.6
    silence_logprob: float = -1.0
    max_compression_ratio: float = 2.4
    max_ngram: int = 4
    max_repeats: int = 2
    collapsed_word_s: float = 0.04
    collapsed_run: int = 3
    salvage_ngram: int = 12
    salvage_logprob: float = -0.5
    squeezed_word_s: float = 0.15
    squeezed_share: float = 0.5
    squeezed_probability: float = 0.5


def compression_ratio(words: tuple[Word, ...]) -> float:
    """Whisper's repetitiveness measure: UTF-8 length of the text over its zlib-compressed length."""
    text = "".join(w.text for w in words).strip().encode("utf-8")
    return len(text) / len(zlib.compress(text)) if text else 0.0


def _norm(word: Word) -> str:
    return "".join(ch for ch in word.text.lower() if ch.isalnum())


def collapse_repeats(words: tuple[Word, ...], max_ngram: int, max_repeats: int) -> tuple[Word, ...]:
    """Drop back-to-back repetitions of any 1..``max_ngram``-word n-gram beyond ``max_repeats``."""
    out: list[Word] = []
    keys: list[str] = []
    for word in words:
        out.append(word)
        keys.append(_norm(word))
        for n in range(1, max_ngram + 1):
            span = n * (max_repeats + 1)
            if len(keys) < span:
                break
            tail = keys[-span:]
            gram = tail[-n:]
            if all(tail[i : i + n] == gram for i in range(0, span, n)) and any(gram):
                del out[-n:]
                del keys[-n:]
                break
    return tuple(out)


def drop_collapsed_runs(words: tuple[Word, ...], max_word_s: float, min_run: int) -> tuple[Word, ...]:
    """Remove runs of at least ``min_run`` consecutive words each shorter than ``max_word_s`` (s)."""
    keep = [True] * len(words)
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and words[j].end_s - words[j].start_s < max_word_s:
            j += 1
        if j - i >= min_run:
            keep[i:j] = [False] * (j - i)
        i = max(j, i + 1)
    return tuple(w for w, k in zip(words, keep, strict=True) if k)


def drop_trailing_echo(words: list[Word], max_ngram: int = 4) -> list[Word]:
    """Drop a window's last n-gram when it repeats the n-gram before it across a sentence end.

    Whisper often ends a window by echoing its last words ("... is delightful.
    delightful."); a real repeat after a full stop at the very end of a window is rare.
    """

    keys = [_norm(w) for w in words]
    for n in range(min(max_ngram, len(words) // 2), 0, -1):
        first, second = keys[-2 * n : -n], keys[-n:]
        if first == second and any(second) and ends_sentence(words[-n - 1]):
            return words[:-n]
    return words


def drop_squeezed_repeats(
    words: tuple[Word, ...], before: tuple[Word, ...], settings: GuardSettings, max_ngram: int = 3
) -> tuple[Word, ...]:
    """``words`` without the n-grams (up to ``max_ngram`` words) that repeat the n-gram just
    before them (in ``words``, or at the end of ``before``: the previous segment) in a
    squeeze: starting under ``squeezed_word_s`` after it, lasting under ``squeezed_word_s``
    per word and under ``squeezed_share`` of the first saying's time, and either unsure (a
    word under ``squeezed_probability``) or the segment's last words.

    Whisper given a window fitted tight to the audio sometimes says the last words again
    with no time left to say them ("tell which[6.64-6.92] which[6.92-7.00 p0.11]",
    "No.[0.86-1.62]" then "No.[1.62-1.70]"); a repeat said aloud takes time ("tell you[4.34-4.68]
    you[4.68-5.22]", "Hello. Hello.") and stays.
    """
    s = settings
    out = list(before)
    first = len(out)
    for k, word in enumerate(words):
        out.append(word)
        for n in range(1, max_ngram + 1):
            if len(out) - first < n or len(out) < 2 * n:
                break
            again, said = out[-n:], out[-2 * n : -n]
            if [_norm(w) for w in again] != [_norm(w) for w in said] or not any(_norm(w) for w in again):
                continue
            # to the ms: times come in 20 ms steps, and the limits fall on them
            took, span = round(again[-1].end_s - again[0].start_s, 3), round(said[-1].end_s - said[0].start_s, 3)
            echo = round(again[0].start_s - said[-1].end_s, 3) < s.squeezed_word_s  # right after the first saying
            unsure = min(w.probability for w in again) < s.squeezed_probability or k == len(words) - 1
            short = took < round(s.squeezed_word_s * n, 3) and took < round(s.squeezed_share * span, 3)
            if short and unsure and echo:
                del out[-n:]
                break
    return tuple(out[first:])


def _drop_restart(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Cut a tail that restarts the sentence before it ("... your country. ask what you")."""

    keys = [_norm(w) for w in words]
    for i in range(len(words) - 1, 0, -1):
        if ends_sentence(words[i - 1]):  # not told the next word: a loop restarts in lower case
            start = max((j + 1 for j in range(i - 1) if ends_sentence(words[j])), default=0)
            tail = keys[i:]
            if tail and keys[start : start + len(tail)] == tail:
                return words[:i]
            break
    return words


def apply_guards(segments: list[AsrSegment], settings: GuardSettings | None = None) -> list[AsrSegment]:
    """Segments with silence hallucinations dropped and repetition loops cut back."""
    s = settings or GuardSettings()
    kept: list[AsrSegment] = []
    for seg in segments:
        if seg.no_speech_prob > s.no_speech_prob and seg.avg_logprob < s.silence_logprob:
            continue
        words = drop_collapsed_runs(seg.words, s.collapsed_word_s, s.collapsed_run)
        words = collapse_repeats(words, s.max_ngram, s.max_repeats)
        words = drop_squeezed_repeats(words, kept[-1].words if kept else (), s)
        if seg.compression_ratio > s.max_compression_ratio:
            # A confident loop of a whole phrase ("ask what you can do for your country." x3
            # in a 3 s window) keeps its first occurrence; anything else this repetitive goes.
            words = _drop_restart(collapse_repeats(words, s.salvage_ngram, 1))
            distinct = len({_norm(w) for w in words})
            ratio = compression_ratio(words)
            if seg.avg_logprob < s.salvage_logprob or distinct < 4 or ratio > s.max_compression_ratio:
                continue
        if not words:
            continue
        if words != seg.words:
            seg = replace(seg, words=words, start_s=words[0].start_s, end_s=words[-1].end_s)
        kept.append(seg)
    return kept
