"""Revisions of ended utterances: which audio is decoded again, and which of the words it
gives replace the utterance's finals. Sans-I/O."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from voicestream.live.events import FinalEvent
from voicestream.messages import Word, join_words, monotonic_words
from voicestream.sentences import attach_punctuation, is_mark

REVISE_MAX_S = 28.0
"""An utterance whose finals span this long (s) is revised at its last confirmed word
(Whisper decodes at most 30 s at once)."""
WHISPER_WINDOW_S = 30.0
"""The most audio (s) Whisper decodes at once."""
REVISE_PAD_S = (0.3, 0.15)
"""Audio (s) decoded before the utterance's first word and after its last."""
REVISE_LENGTH = (0.6, 1.5)
"""A revision is used only when its text is between these shares of the replaced text's
length (characters): shorter is a dropped stretch, longer a decoder loop."""
KEEP_BEFORE_S = REVISE_PAD_S[0]
"""Audio (s) kept before an utterance's first word for its revision. No speech before it is
decoded as acoustic context (the words before are its prompt): with 5 s of it (when the
words before ended at most 2 s earlier), base replayed at one update per second read the
87 s long-form file at 2.86% revised WER against 2.04% without, v2_dev's recordings joined
into 8 sessions 12.72% against 12.38%, and the revisions cost 17-25% more CPU (the encoder's
cost grows faster than its window)."""


@dataclass(frozen=True, slots=True)
class Revision:
    """The finals confirmed since the previous revision were decoded again as one utterance:
    ``finals`` replace them all, or ``None`` when the first text stands."""

    finals: tuple[FinalEvent, ...] | None


def revision_span(
    first_s: float, last_s: float, kept_from_s: float, stream_end_s: float, next_s: float | None = None
) -> tuple[float, float]:
    """The stream span (s) to decode for an utterance whose words run from ``first_s`` to
    ``last_s``: padded, inside the audio kept (from ``kept_from_s``) and received (to
    ``stream_end_s``), never past the start of the next word heard (``next_s``: an
    utterance revised in unbroken speech must not read the next one's first syllable), and
    at most 30 s: an utterance too long gets an empty span (it keeps its text)."""
    start = max(kept_from_s, first_s - REVISE_PAD_S[0])
    end = min(stream_end_s, last_s + REVISE_PAD_S[1])
    if next_s is not None:
        end = min(end, max(next_s, last_s))
    if end - start > WHISPER_WINDOW_S:
        start = end
    return start, end


def utterance_words(
    words: list[Word], old: list[Word], before: list[Word], after_s: float | None = None
) -> list[Word] | None:
    """The words of a revision decode (stream s) that replace the utterance ``old`` (its
    first text; ``before``: the confirmed words before it; ``after_s``: where the first word
    confirmed after it starts, if any), or ``None`` when the first text stands: the same
    text, or a share of its length outside :data:`REVISE_LENGTH`.

    A word belongs to the utterance if it starts before the utterance's end and before the
    next word, and its middle lies after the gap that separates the utterance from the words
    before. Its end is cut at the next word's start, so the finals stay in order.
    """
    lo = (before[-1].end_s + old[0].start_s) / 2 if before else old[0].start_s - REVISE_PAD_S[0]
    hi = math.inf if after_s is None else after_s
    new = [
        replace(w, end_s=min(w.end_s, hi))
        for w in words
        if (w.start_s + w.end_s) / 2 >= lo and w.start_s <= old[-1].end_s + 0.1 and w.start_s < hi
    ]
    new = attach_punctuation(list(itertools.dropwhile(lambda w: is_mark(w.text), new)))
    new = monotonic_words(new, before[-1].end_s if before else 0.0)
    share = len(join_words(new)) / max(1, len(join_words(old)))
    if not REVISE_LENGTH[0] <= share <= REVISE_LENGTH[1] or join_words(new) == join_words(old):
        return None
    return new
