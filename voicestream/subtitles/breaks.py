"""How good a place between two words is for a line or cue break (lower is better)."""

from __future__ import annotations

from voicestream.function_words import LEANING, OPENERS, PREPOSITIONS, bare
from voicestream.messages import Word
from voicestream.sentences import ends_sentence

_PHRASE_STARTS = OPENERS["en"] | PREPOSITIONS["en"]
"""Words a new line or cue may start with without splitting a phrase (English)."""
_BINDS_FORWARD = LEANING["en"] | {"to"}
"""Words that must stay with what follows (articles, possessives, pronouns, negation)."""
GLUED = 20.0
"""Cost of a break inside a written word (the second piece has no leading space)."""
_CLAUSE_PUNCT = (",", ";", ":", "—", "–", "-", "、", "，", "；", "：")


def gap_s(before: Word, after: Word) -> float:
    """The pause (s) between two words, to the millisecond: word times come in 20 ms steps,
    so pauses of exactly a threshold are common, and the same words read back from a
    client's copy (times rounded to ms on the wire) must fall on the same side of it."""
    return round(after.start_s - before.end_s, 3)


def glued(before: Word, after: Word) -> bool:
    """Whether ``after`` continues ``before``'s written word ("ill" + "-disposed", "don" + "'t")."""
    return before.text[:1].isspace() and not after.text[:1].isspace()


def break_cost(before: Word, after: Word, pause_s: float = 0.3) -> float:
    """Cost of breaking between ``before`` and ``after``.

    :data:`GLUED` inside a written word, 0 after a sentence end, 1 after clause punctuation, 2 before a conjunction or
    preposition, 4 elsewhere, 6 after an article/possessive; a pause of at least
    ``pause_s`` between the words lowers the cost by one.
    """
    if glued(before, after):
        return GLUED
    if ends_sentence(before, after):
        cost = 0.0
    elif before.text.rstrip().endswith(_CLAUSE_PUNCT):
        cost = 1.0
    elif bare(after.text) in _PHRASE_STARTS:
        cost = 2.0
    elif bare(before.text) in _BINDS_FORWARD:
        cost = 6.0
    else:
        cost = 4.0
    if gap_s(before, after) >= pause_s:
        cost = max(0.0, cost - 1.0)
    return cost
