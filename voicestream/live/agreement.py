"""LocalAgreement: commit the prefix two consecutive hypotheses agree on."""

from __future__ import annotations

from voicestream.messages import Word


def word_key(word: Word) -> str:
    """Comparison key of a word: lower-case letters and digits only."""
    return "".join(ch for ch in word.text.lower() if ch.isalnum())


def agreed_prefix(previous: list[Word], current: list[Word]) -> int:
    """Number of leading words of ``current`` that match ``previous`` word for word."""
    n = 0
    for a, b in zip(previous, current, strict=False):
        if word_key(a) != word_key(b):
            break
        n += 1
    return n


def drop_overlap(committed_tail: list[Word], new: list[Word], max_ngram: int = 20) -> list[Word]:
    """``new`` without a leading n-gram that repeats the end of ``committed_tail``.

    Re-decoding audio that overlaps already committed words can emit them again;
    the longest such repeat (up to ``max_ngram`` words) is removed.
    """
    tail = [word_key(w) for w in committed_tail[-max_ngram:]]
    head = [word_key(w) for w in new[:max_ngram]]
    for n in range(min(len(tail), len(head)), 0, -1):
        if tail[-n:] == head[:n]:
            return new[n:]
    return new
