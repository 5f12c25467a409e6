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


def break_cost(before: Word, after: Word, pause_s: float = 0.3) -> float:
    """Cost of breaking between ``before`` and ``after``.

    :data:`GLUED` inside a written word, 0 after a sentence end, 1 after clause punctuation, 2 before a conjunction or
    preposition, 4 elsewhere, 6 after an article/possessive; a pause of at least
    ``pause_s`` between the words lowers the cost by one.
    """
    if before.text[:1].isspace() and not after.text[:1].isspace():
        return GLUED  # "ill" + "-disposed", "don" + "'t": one written word
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
    if after.start_s - before.end_s >= pause_s:
        cost = max(0.0, cost - 1.0)
    return cost
