"""Breaking one cue's words into at most N lines of at most M characters."""

from __future__ import annotations

from voicestream.messages import Word, join_words
from voicestream.subtitles.breaks import break_cost


def text_length(words: list[Word] | tuple[Word, ...]) -> int:
    """Characters of the words' text on one line."""
    return len(join_words(words))


def wrap(
    words: list[Word] | tuple[Word, ...], max_chars: int, max_lines: int = 2, lead: int = 0
) -> tuple[str, ...] | None:
    """Lines for ``words``, or ``None`` when they cannot fit.

    One line when it fits; otherwise two lines broken at the best phrase boundary,
    balanced, slightly bottom-heavy. Only ``max_lines`` of 1 or 2 are supported.
    ``lead`` characters (a speaker label) go in front of the first line.
    """
    text = join_words(words)
    if len(text) + lead <= max_chars:
        return (text,)
    if max_lines < 2:
        return None
    best: tuple[float, int] | None = None
    for k in range(1, len(words)):
        top, bottom = join_words(words[:k]), join_words(words[k:])
        if len(top) + lead > max_chars or len(bottom) > max_chars:
            continue
        imbalance = abs(len(top) + lead - len(bottom)) / max_chars
        top_heavy = 0.25 if len(top) + lead > len(bottom) else 0.0
        score = break_cost(words[k - 1], words[k]) + 3.0 * imbalance + top_heavy
        if best is None or score < best[0]:
            best = (score, k)
    if best is None:
        return None
    k = best[1]
    return (join_words(words[:k]), join_words(words[k:]))


def hard_wrap(text: str, max_chars: int) -> tuple[str, ...]:
    """Cut ``text`` that has no usable word boundary into lines of ``max_chars``."""
    return tuple(text[i : i + max_chars] for i in range(0, len(text), max_chars)) or ("",)
