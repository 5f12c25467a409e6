"""Cue building from timed words: where to cut (dynamic programming) and when to show.

Sans-I/O policy: pure functions from words to cues, no clocks or files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voicestream.messages import Cue, Word
from voicestream.sentences import ends_sentence
from voicestream.subtitles.breaks import break_cost, gap_s, glued
from voicestream.subtitles.lines import hard_wrap, text_length, wrap
from voicestream.subtitles.rules import SubtitleRules

_CUE_COST = 1.5  # each extra cue costs this much: prefer full cues to many fragments
_PAUSE_INSIDE_COST = 4.0  # per long pause inside a cue
_SENTENCE_INSIDE_COST = 1.0  # per sentence end inside a cue


@dataclass(frozen=True, slots=True)
class _Span:
    words: tuple[Word, ...]
    lines: tuple[str, ...]


def speaker_prefix(speaker: str | None) -> str:
    """The label written in front of a cue where a new speaker starts (SRT)."""
    return f"{speaker}: " if speaker else ""


def build_cues(
    words: list[Word] | tuple[Word, ...], duration_s: float, rules: SubtitleRules | None = None
) -> list[Cue]:
    """Cues for ``words`` (time order, seconds) inside a medium of ``duration_s`` seconds.

    A speaker change always starts a new cue, and the first cue of a speaker's run keeps
    room for its :func:`speaker_prefix`. Inside a run, cut points are chosen to minimise
    break costs (sentence and phrase boundaries, pauses) under the hard limits of
    ``rules`` (lines, characters, duration).
    """
    rules = rules or SubtitleRules()
    spans: list[_Span] = []
    for run in _speaker_runs(list(words)):
        spans.extend(_segment(run, rules))
    return _retime(spans, duration_s, rules)


def _speaker_runs(words: list[Word]) -> list[list[Word]]:
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _cue_cost(run: list[Word], i: int, j: int, chars: int, rules: SubtitleRules) -> float:
    """Cost of one cue holding ``run[i:j]`` with ``chars`` characters."""
    cost = _CUE_COST
    if j < len(run) and (gap_s(run[j - 1], run[j]) < rules.pause_split_s or glued(run[j - 1], run[j])):
        cost += break_cost(run[j - 1], run[j])  # a pause inside a written word is a timing slip
    for m in range(i + 1, j):
        if gap_s(run[m - 1], run[m]) >= rules.pause_split_s:
            cost += _PAUSE_INSIDE_COST
        if ends_sentence(run[m - 1], run[m]):
            cost += _SENTENCE_INSIDE_COST
    duration = run[j - 1].end_s - run[i].start_s
    if duration < rules.min_duration_s:
        cost += 2.0 * (rules.min_duration_s - duration)
    cps = chars / max(duration, 1e-3)
    if cps > rules.max_cps:
        cost += min(4.0, 2.0 * (cps - rules.max_cps) / rules.max_cps)
    return cost


def _segment(run: list[Word], rules: SubtitleRules) -> list[_Span]:
    """Optimal cut of one speaker's run into cues (the first one with room for the label)."""
    label = len(speaker_prefix(run[0].speaker)) if rules.label_in_text else 0
    n = len(run)
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    lines_at: dict[tuple[int, int], tuple[str, ...]] = {}
    best[0] = 0.0
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            single = j - i == 1
            lead = label if i == 0 else 0
            chars = text_length(run[i:j]) + lead
            if not single and (chars > rules.max_cue_chars or run[j - 1].end_s - run[i].start_s > rules.max_duration_s):
                break
            lines = wrap(run[i:j], rules.max_line_chars, rules.max_lines, lead)
            if lines is None:
                if not single:
                    continue
                lines = hard_wrap(run[i].text.strip(), rules.max_line_chars)
            cost = best[i] + _cue_cost(run, i, j, chars, rules)
            if cost < best[j]:
                best[j], back[j] = cost, i
                lines_at[(i, j)] = lines
    spans: list[_Span] = []
    j = n
    while j > 0:
        i = back[j]
        spans.append(_Span(tuple(run[i:j]), lines_at[(i, j)]))
        j = i
    spans.reverse()
    return spans


def _retime(spans: list[_Span], duration_s: float, rules: SubtitleRules) -> list[Cue]:
    """Show times: word times, stretched for minimum duration and reading speed, never overlapping."""
    cues: list[Cue] = []
    prev_end = 0.0
    for k, span in enumerate(spans):
        next_start = spans[k + 1].words[0].start_s if k + 1 < len(spans) else duration_s
        limit = min(next_start, duration_s)
        start = min(max(span.words[0].start_s, prev_end), limit)
        end = min(max(span.words[-1].end_s, start), limit)
        chars = sum(len(line) for line in span.lines) + len(span.lines) - 1
        need = max(rules.min_duration_s, chars / rules.max_cps)
        end = max(end, min(start + need, limit, start + rules.max_duration_s))
        if end - start < need:  # borrow time from the silence before the cue
            start = max(prev_end, min(start, end - need))
        start, end = round(start, 3), round(end, 3)
        if end <= start:  # only when squeezed against the end of the medium
            start = max(round(prev_end, 3), round(end - 1e-3, 3))
        cues.append(Cue(len(cues) + 1, start, end, span.lines, span.words[0].speaker))
        prev_end = end
    return cues
