"""Laying translated sentences onto the source timing. Sans-I/O.

A translated sentence has no timing of its own. Its words are spread over the source
sentence's spoken words in proportion to text length (a translated word a third of the
way through the translation is placed a third of the way through the source words'
characters, inside the word found there), so translated cues cover the same speech,
never a pause, and stay inside the sentence; then the ordinary cue builder cuts them to
the subtitle rules (2 lines of 42 characters, reading speed, duration).
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from voicestream.messages import Cue, Segment, Word, join_words
from voicestream.sentences import attach_punctuation
from voicestream.subtitles import SubtitleRules, build_cues
from voicestream.subtitles.lines import hard_wrap, wrap

NO_SPACES = frozenset({"zh", "ja", "th", "lo", "my", "km", "yue"})
"""Target languages written without spaces between words: split per character."""


CLAUSE_END = (",", ";", ":", "，", "、", "；", "：")
"""Marks that end a clause; when source and translation have as many, clauses are aligned."""


def translated_words(segment: Segment, translation: str, language: str) -> list[Word]:
    """Words of ``translation`` timed over ``segment``'s source words (seconds).

    When the source and the translation have the same number of clauses (commas,
    semicolons, colons), each translated clause is spread over its source clause;
    otherwise the whole translation over the whole sentence.
    """
    tokens = list(translation.replace(" ", "")) if language in NO_SPACES else translation.split()
    source = [w for w in segment.words if w.text.strip()]
    if not tokens or not source:
        return []
    source_parts, token_parts = _clauses([w.text.strip() for w in source]), _clauses(tokens)
    if len(source_parts) != len(token_parts):
        source_parts, token_parts = [len(source)], [len(tokens)]
    out: list[Word] = []
    s0 = t0 = 0
    for s_len, t_len in zip(source_parts, token_parts, strict=True):
        out += _spread(source[s0 : s0 + s_len], tokens[t0 : t0 + t_len], language, segment.speaker)
        s0, t0 = s0 + s_len, t0 + t_len
    return attach_punctuation(out)


def _clauses(tokens: list[str]) -> list[int]:
    """Lengths (in tokens) of the clauses of ``tokens``."""
    lengths = [0]
    for k, token in enumerate(tokens):
        lengths[-1] += 1
        if token.endswith(CLAUSE_END) and k < len(tokens) - 1:
            lengths.append(0)
    return lengths


PAUSE_S = 0.3
"""A gap between source words at least this long (s) is a pause no translated word spans."""


def _spread(source: list[Word], tokens: list[str], language: str, speaker: str | None) -> list[Word]:
    """``tokens`` placed over ``source`` words in proportion to characters; a token that
    would straddle a pause goes to the side holding its middle."""
    edges = [0]  # cumulative source characters at each word boundary
    for w in source:
        edges.append(edges[-1] + max(1, len(w.text.strip())))
    block = [0]  # index of the first word of each word's pause-free run
    for i in range(1, len(source)):
        block.append(i if source[i].start_s - source[i - 1].end_s >= PAUSE_S else block[-1])
    block_end = list(range(len(source)))
    for i in range(len(source) - 2, -1, -1):
        if block[i + 1] == block[i]:
            block_end[i] = block_end[i + 1]
    total_t = sum(len(t) for t in tokens)

    def locate(fraction: float) -> tuple[int, float]:
        position = fraction * edges[-1]
        i = min(max(bisect.bisect_right(edges, position) - 1, 0), len(source) - 1)
        inside = (position - edges[i]) / max(edges[i + 1] - edges[i], 1)
        w = source[i]
        return i, w.start_s + min(max(inside, 0.0), 1.0) * (w.end_s - w.start_s)

    out: list[Word] = []
    done = 0
    for token in tokens:
        _, start = locate(done / total_t)
        _, end = locate((done + len(token)) / total_t)
        k, _ = locate((done + len(token) / 2) / total_t)
        start = max(start, source[block[k]].start_s)
        end = min(end, source[block_end[k]].end_s)
        done += len(token)
        text = token if language in NO_SPACES else " " + token
        out.append(Word(round(start, 3), round(max(end, start), 3), text, 1.0, speaker))
    return out


def translated_cues(
    segments: tuple[Segment, ...] | list[Segment], language: str, duration_s: float, rules: SubtitleRules | None = None
) -> list[Cue]:
    """Subtitle cues of the segments' translations (segments without one are skipped)."""
    words = [w for s in segments if s.translation for w in translated_words(s, s.translation, language)]
    return build_cues(words, duration_s, rules)


def bilingual_cues(
    segments: tuple[Segment, ...] | list[Segment], language: str, duration_s: float, rules: SubtitleRules | None = None
) -> list[Cue]:
    """Source cues with the translation of the same speech under the source lines (each
    part wrapped to the rules' lines and characters: up to four lines in all)."""
    source_words = [w for s in segments for w in s.words]
    cues = build_cues(source_words, duration_s, rules)
    if not cues:
        return cues
    rules = rules or SubtitleRules()
    starts = [c.start_s for c in cues]
    parts: list[list[Word]] = [[] for _ in cues]
    for s in segments:
        for w in translated_words(s, s.translation or "", language):
            parts[max(0, bisect.bisect_right(starts, (w.start_s + w.end_s) / 2) - 1)].append(w)
    out = []
    for cue, part in zip(cues, parts, strict=True):
        lines = wrap(part, rules.max_line_chars, rules.max_lines) if part else ()
        if lines is None:
            lines = hard_wrap(join_words(part), rules.max_line_chars)
        out.append(replace(cue, lines=cue.lines + tuple(lines)))
    return out
