"""Word-level speaker attribution: each word goes to the speaker it overlaps most. Sans-I/O."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from voicestream.messages import SpeakerTurn, Word
from voicestream.sentences import ends_sentence

NEAREST_TURN_S = 1.0
"""A word outside every turn takes the speaker of a turn at most this far away (s)."""
SNAP_WORDS = 3
"""A speaker change this many words or fewer from a sentence end moves to it."""
SNAP_S = 1.2
"""... if the words it moves last at most this long (s)."""


def attribute_words(
    words: Sequence[Word], turns: Sequence[SpeakerTurn], nearest_s: float = NEAREST_TURN_S
) -> list[Word]:
    """``words`` with ``speaker`` set from ``turns`` (use the exclusive turns, so words at a turn
    boundary go to the one speaker talking there rather than to whoever overlaps longest).

    A word overlapping no turn takes the nearest turn's speaker within ``nearest_s`` seconds,
    else the previous word's speaker (the next word's for leading words).
    """
    ordered = sorted(turns, key=lambda t: t.start_s)
    starts = [t.start_s for t in ordered]
    max_end = np.maximum.accumulate([t.end_s for t in ordered]) if ordered else np.zeros(0)
    labels: list[str | None] = []
    for word in words:
        overlap: dict[str, float] = {}
        j = bisect.bisect_left(starts, word.end_s) - 1
        while j >= 0 and max_end[j] > word.start_s:
            turn = ordered[j]
            shared = min(turn.end_s, word.end_s) - max(turn.start_s, word.start_s)
            if shared > 0 or (word.end_s <= word.start_s and turn.start_s <= word.start_s < turn.end_s):
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + max(shared, 0.0)
            j -= 1
        if overlap:
            labels.append(max(overlap, key=lambda k: overlap[k]))
        else:
            labels.append(_nearest(ordered, starts, word, nearest_s))
    filled = _fill(labels)
    return [w if w.speaker == s else replace(w, speaker=s) for w, s in zip(words, filled, strict=True)]


def _nearest(ordered: list[SpeakerTurn], starts: list[float], word: Word, limit_s: float) -> str | None:
    k = bisect.bisect_left(starts, word.start_s)
    best: tuple[float, str] | None = None
    for turn in ordered[max(0, k - 3) : k + 1]:
        gap = max(turn.start_s - word.end_s, word.start_s - turn.end_s, 0.0)
        if gap <= limit_s and (best is None or gap < best[0]):
            best = (gap, turn.speaker)
    return best[1] if best else None


def _fill(labels: list[str | None]) -> list[str | None]:
    """Unlabelled words take the previous word's speaker; leading ones the first label."""
    out: list[str | None] = []
    last: str | None = next((x for x in labels if x is not None), None)
    for label in labels:
        last = label if label is not None else last
        out.append(last)
    return out


def snap_to_sentences(words: Sequence[Word], max_words: int = SNAP_WORDS, max_s: float = SNAP_S) -> list[Word]:
    """Move speaker changes that fall just inside a sentence to its nearest end.

    Whisper's word times are often a few hundred ms off, so the words either side of a
    turn change ("Neither did | I.") land on the wrong speaker; the punctuation tells
    where the turn really ended. A change moves to the closest sentence end at most
    ``max_words`` words and ``max_s`` seconds away; changes with no sentence end near
    (unpunctuated speech) stay where the timing put them.
    """
    out = list(words)
    for i in range(1, len(out)):
        if out[i].speaker == out[i - 1].speaker or ends_sentence(out[i - 1], out[i]):
            continue
        target = _nearest_sentence_end(out, i, max_words, max_s)
        if target is None:
            continue
        if target > i:  # the change comes later: words i..target-1 belong to the earlier speaker
            out[i:target] = [replace(w, speaker=out[i - 1].speaker) for w in out[i:target]]
        else:  # it came earlier: words target..i-1 belong to the later speaker
            out[target:i] = [replace(w, speaker=out[i].speaker) for w in out[target:i]]
    return out


def _nearest_sentence_end(words: list[Word], i: int, max_words: int, max_s: float) -> int | None:
    """Index of the first word after the sentence end nearest to a change before ``words[i]``."""
    for distance in range(1, max_words + 1):
        for target in (i + distance, i - distance):
            if not 0 < target <= len(words):
                continue
            if not ends_sentence(words[target - 1], words[target] if target < len(words) else None):
                continue
            lo, hi = min(i, target), max(i, target)
            if words[hi - 1].end_s - words[lo].start_s <= max_s and _one_speaker(words, lo, hi):
                return target
    return None


def _one_speaker(words: list[Word], lo: int, hi: int) -> bool:
    return len({w.speaker for w in words[lo:hi]}) == 1
