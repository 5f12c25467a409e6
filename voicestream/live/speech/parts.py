"""Where a translated sentence is cut for synthesis (sans-I/O, text only): its first part is
short, so it sounds soon, and each later part is synthesized while the one before it plays.
Cuts fall after clause punctuation and, in a long clause, before a word that opens a clause or
phrase (see :mod:`~voicestream.function_words`)."""

from __future__ import annotations

import math
import re

from voicestream.function_words import LEANING, OPENERS, PREPOSITIONS, bare
from voicestream.sentences import has_end_mark, sentence_end

MIN_WORDS = 4
"""Shortest part (words; characters / 3 for text without spaces): shorter clauses join the next."""
FIRST_WORDS = 5
"""Longest first part (words) before a clause is cut between words: nothing of a sentence
sounds until its first part is synthesized (Kokoro: about 0.3 s per second of speech on 2 cores)."""
GROWTH = 2.0
"""A later part may have this many times the words of the part before it, which plays while it
is synthesized."""
_CUT = re.compile(r"(?<=[,;:.!?，、。；：！？])\s+|(?<=[，、。；：！？])")


def split_parts(text: str, language: str = "", min_words: int = MIN_WORDS, first_words: int = FIRST_WORDS) -> list[str]:
    """``text`` cut into parts to synthesize one at a time: after clause punctuation into parts
    of at least ``min_words`` words (a short last part joins the one before it), then a clause
    longer than the part's budget (``first_words`` for the first, :data:`GROWTH` times the
    previous part's words after it) between two words, preferring the word before a clause or
    phrase opener of ``language``. The parts joined by spaces (none in text without spaces,
    which is cut at punctuation only) give ``text`` back, whitespace aside. One part when
    there is nowhere to cut."""
    clauses = _clauses(text, min_words)
    if " " not in text.strip():
        return clauses
    words_of = _Words(language)
    parts: list[str] = []
    budget = float(first_words)
    for clause in clauses:
        words = clause.split()
        while (cut := words_of.cut(words, budget, min_words)) is not None:
            parts.append(" ".join(words[:cut]))
            budget = max(budget, cut * GROWTH)
            words = words[cut:]
        parts.append(" ".join(words))
        budget = max(budget, len(words) * GROWTH)
    return parts


class _Words:
    """One language's word classes, for choosing a cut."""

    def __init__(self, language: str) -> None:
        base = language.split("-")[0].split("_")[0].lower()
        self.openers = OPENERS.get(base, frozenset())
        self.prepositions = PREPOSITIONS.get(base, frozenset())
        self.leaning = self.openers | self.prepositions | LEANING.get(base, frozenset())

    def cut(self, words: list[str], budget: float, min_words: int) -> int | None:
        """Where to cut ``words`` (the count before the cut): both pieces at least ``min_words``
        long, the first near ``budget`` words, before a clause opener, else before a
        preposition, else anywhere, but never after a word that leans on the next (an article,
        a pronoun, a preposition). The first piece may have from half of ``budget`` to one
        more; with no such place there, up to twice ``budget``; a clause longer than three
        budgets with no such place at all is cut at ``budget``. ``None``: it fits, or a shorter
        clause has no good place."""
        n = len(words)
        if n <= budget or n < 2 * min_words:
            return None
        lo, last = max(min_words, math.ceil(budget / 2)), n - min_words
        before = [bare(w) for w in words]
        for hi in (int(budget) + 1, int(2 * budget)):
            free = [i for i in range(lo, min(last, hi) + 1) if before[i - 1] not in self.leaning]
            for good in (
                [i for i in free if before[i] in self.openers],
                [i for i in free if before[i] in self.prepositions],
                free,
            ):
                if good:
                    return min(good, key=lambda i: abs(i - budget))
        return min(max(int(budget), lo), last) if n > 3 * budget else None


def _clauses(text: str, min_words: int) -> list[str]:
    """``text`` cut after clause punctuation into parts of at least ``min_words`` words."""
    pieces: list[str] = []
    for piece in (p.strip() for p in _CUT.split(text.strip())):
        if not piece:
            continue
        if pieces and has_end_mark(pieces[-1]) and not sentence_end(pieces[-1].split()[-1], piece.split()[0]):
            pieces[-1] = f"{pieces[-1]} {piece}"  # "Sr." goes with the name after it
        else:
            pieces.append(piece)
    space = " " if " " in text.strip() else ""
    parts: list[str] = []
    current = ""
    for piece in pieces:
        current = f"{current}{space}{piece}" if current else piece
        if _size(current) >= min_words:
            parts.append(current)
            current = ""
    if current:
        if parts and _size(current) < min_words:
            parts[-1] = f"{parts[-1]}{space}{current}"
        else:
            parts.append(current)
    return parts or [text.strip()]


def _size(text: str) -> int:
    """Words in ``text``; for text without spaces (Chinese, Japanese) a third of its characters."""
    words = len(text.split())
    return words if words > 1 else len(text) // 3
