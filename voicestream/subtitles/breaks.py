"""How good a place between two words is for a line or cue break (lower is better)."""

from __future__ import annotations

from voicestream.messages import Word
from voicestream.sentences import ends_sentence

# Words a new line or cue may start with without splitting a phrase (English).
_PHRASE_STARTS = frozenset(
    [
        "and",
        "but",
        "or",
        "nor",
        "so",
        "yet",
        "because",
        "although",
        "though",
        "while",
        "whereas",
        "if",
        "unless",
        "until",
        "when",
        "whenever",
        "where",
        "wherever",
        "whether",
        "which",
        "who",
        "whom",
        "whose",
        "that",
        "than",
        "as",
        "after",
        "before",
        "since",
        "once",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "without",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "between",
        "through",
        "during",
        "against",
        "like",
    ]
)
# Words that must stay with what follows (articles, possessives, auxiliaries).
_BINDS_FORWARD = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "this",
        "these",
        "those",
        "some",
        "any",
        "no",
        "every",
        "each",
        "mr",
        "mrs",
        "ms",
        "dr",
        "very",
        "not",
        "to",
    ]
)
_CLAUSE_PUNCT = (",", ";", ":", "—", "–", "-", "、", "，", "；", "：")


def _bare(word: Word) -> str:
    return word.text.strip().lower().strip("\"'“”‘’()[]")


def break_cost(before: Word, after: Word, pause_s: float = 0.3) -> float:
    """Cost of breaking between ``before`` and ``after``.

    0 after a sentence end, 1 after clause punctuation, 2 before a conjunction or
    preposition, 4 elsewhere, 6 after an article/possessive; a pause of at least
    ``pause_s`` between the words lowers the cost by one.
    """
    if ends_sentence(before):
        cost = 0.0
    elif before.text.rstrip().endswith(_CLAUSE_PUNCT):
        cost = 1.0
    elif _bare(after) in _PHRASE_STARTS:
        cost = 2.0
    elif _bare(before) in _BINDS_FORWARD:
        cost = 6.0
    else:
        cost = 4.0
    if after.start_s - before.end_s >= pause_s:
        cost = max(0.0, cost - 1.0)
    return cost
