"""Group a word stream into sentence-like segments (the JSON/translation unit)."""

from __future__ import annotations

import re
from dataclasses import replace

from voicestream.messages import Segment, Word

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！", "؟", "।")
_CLOSERS = "\"'”’)]»"
_OPENERS = "\"'“‘([«¿¡"

_TITLES_BY_LANGUAGE = {
    "en": "mr mrs ms messrs dr prof rev hon st mt gen col capt lt sgt gov sen rep pres supt"
    " vol fig figs ch pp vs cf approx dept e.g i.e viz",
    "de": "hr fr nr z.b bzw vgl ca ggf evtl u.a d.h s.o",
    "fr": "mme mlle p.ex env",
    "es pt it": "sr sra srta sres dra ud uds vd vds av exmo exma sig sigg dott",
}
TITLES = frozenset(word for words in _TITLES_BY_LANGUAGE.values() for word in words.split())
"""Abbreviations (lower case, without the final dot) that go before what they qualify, so a
sentence never ends on them: titles before names, "Fig. 3", "e.g. the"."""
AMBIGUOUS = frozenset(
    ["no", "nos", "etc", "inc", "ltd", "co", "corp", "jr", "bros", "u.s", "u.k", "u.s.a", "a.m", "p.m", "usw", "usf"]
)
"""Abbreviations that end a sentence when what follows starts one ("... in the U.S. The",
"No. I", but "No. 5")."""


def sentence_end(text: str, following: str | None = None) -> bool:
    """Whether the word ``text`` ends a sentence, given the word that follows it.

    ``following`` is ``None`` when the next word is not known yet (live) or there is none:
    the answer is then ``True`` only where it holds whatever follows. "?", "!" and the marks
    of other scripts always end; a full stop (or "…") does not after a title, an initial
    ("J."), a number followed by digits, or before a word in lower case; after an ambiguous
    abbreviation ("etc.", "U.S.", "a.m.") or an acronym with dots it ends only before a
    capital.
    """
    core = text.strip().rstrip(_CLOSERS)
    if not core.endswith(SENTENCE_END):
        return False
    if not core.endswith((".", "…")):
        return True
    nxt = following.strip().lstrip(_OPENERS) if following is not None else ""
    if nxt[:1].islower():
        return False
    if core.endswith("…"):
        return True
    stem = core.lstrip(_OPENERS)[:-1]
    key = stem.lower()
    if key in TITLES or (len(stem) == 1 and stem.isalpha() and stem.isupper() and stem != "I"):
        return False
    if stem[-1:].isdigit() and nxt[:1].isdigit():
        return False
    if key in AMBIGUOUS or _ACRONYM.fullmatch(key):
        return nxt[:1].isupper()
    return True


_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
"""Letters with dots between them ("u.s", "e.v"), as spelled before the final dot."""


def ends_sentence(word: Word, following: Word | None = None) -> bool:
    """:func:`sentence_end` for timed words."""
    return sentence_end(word.text, None if following is None else following.text)


def has_end_mark(text: str) -> bool:
    """Whether ``text`` ends with a sentence-end mark (ignoring closing quotes and brackets),
    whether or not it ends a sentence there."""
    return text.strip().rstrip(_CLOSERS).endswith(SENTENCE_END)


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
                if not out[-1].text.endswith(text) and not (has_end_mark(out[-1].text) and text.endswith(SENTENCE_END)):
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
            or ends_sentence(current[-1], word)
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
