"""Group a word stream into sentence-like segments (the JSON/translation unit)."""

from __future__ import annotations

from dataclasses import replace

from voicestream.messages import Segment, Word

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！", "؟", "।")


def ends_sentence(word: Word) -> bool:
    """Whether ``word`` closes a sentence (ignoring closing quotes/brackets)."""
    return word.text.rstrip().rstrip("\"'”’)]»").endswith(SENTENCE_END)


def is_mark(text: str) -> bool:
    """Whether ``text`` is punctuation (or symbols) alone: no letter or digit in any script."""
    return not any(ch.isalnum() for ch in text)


def attach_punctuation(words: list[Word]) -> list[Word]:
    """Fold punctuation-only "words" (``"."``, ``"?"``, ``"“"``) into their neighbours.

    A trailing mark joins the previous word (its timing unchanged), a leading one the
    next word, so no cue or segment ever consists of punctuation alone.
    """
    out: list[Word] = []
    prefix = ""
    for word in words:
        text = word.text.strip()
        if is_mark(text):
            if out and not prefix:
                # Whisper sometimes repeats the mark, or adds a second sentence end
                if not out[-1].text.endswith(text) and not (ends_sentence(out[-1]) and text.endswith(SENTENCE_END)):
                    out[-1] = replace(out[-1], text=out[-1].text + text)
            else:
                prefix += text
            continue
        if prefix:
            lead = word.text[: len(word.text) - len(word.text.lstrip())]
            word = replace(word, text=lead + prefix + word.text.lstrip())
            prefix = ""
        out.append(word)
    return out


def group_sentences(
    words: list[Word] | tuple[Word, ...], *, max_gap_s: float = 1.5, max_duration_s: float = 15.0
) -> list[Segment]:
    """Split ``words`` after sentence ends, at speaker changes and at pauses.

    Args:
        words: Words in time order.
        max_gap_s: A silence longer than this (s) always ends a segment.
        max_duration_s: Unpunctuated runs are split before they exceed this (s),
            at the longest pause inside them.
    """
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current and (
            word.start_s - current[-1].end_s > max_gap_s
            or word.speaker != current[-1].speaker
            or ends_sentence(current[-1])
        ):
            groups.append(current)
            current = []
        current.append(word)
    if current:
        groups.append(current)
    out: list[Segment] = []
    for group in groups:
        out.extend(_make_segment(part) for part in _split_long(group, max_duration_s))
    return out


def _split_long(words: list[Word], max_duration_s: float) -> list[list[Word]]:
    if len(words) < 2 or words[-1].end_s - words[0].start_s <= max_duration_s:
        return [words]
    middle = len(words) / 2
    _, _, cut = max((words[i].start_s - words[i - 1].end_s, -abs(i - middle), i) for i in range(1, len(words)))
    return _split_long(words[:cut], max_duration_s) + _split_long(words[cut:], max_duration_s)


def _make_segment(words: list[Word]) -> Segment:
    return Segment(start_s=words[0].start_s, end_s=words[-1].end_s, words=tuple(words), speaker=words[0].speaker)
