"""Where a translated sentence may be cut for synthesis: its first clause can be spoken while
the rest is still being synthesized (sans-I/O, text only)."""

from __future__ import annotations

import re

MIN_WORDS = 4
"""Shortest part (words; characters / 3 for text without spaces): shorter clauses join the next."""
_CUT = re.compile(r"(?<=[,;:.!?，、。；：！？])\s+|(?<=[，、。；：！？])")


def split_parts(text: str, min_words: int = MIN_WORDS) -> list[str]:
    """``text`` cut after clause punctuation into parts of at least ``min_words`` words (the
    last part may join the one before it); the parts joined by spaces (none in text
    without spaces) give ``text`` back, whitespace aside. One part when there is nowhere to cut."""
    pieces = [p.strip() for p in _CUT.split(text.strip()) if p.strip()]
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
