"""Scoring diarization against reference RTTM with ``pyannote.metrics`` (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicestream.messages import SpeakerTurn, Word

COLLAR_S = 0.25
"""The standard forgiveness collar: this many seconds each side of a reference boundary
(``pyannote.metrics`` takes the total width, twice this)."""


@dataclass(frozen=True, slots=True)
class DerScore:
    """DER (0..1) without and with the standard collar, and its parts (s) without collar."""

    der: float
    der_collar: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    reference_s: float


def annotation(turns: Sequence[SpeakerTurn], uri: str = "audio") -> Any:
    """``turns`` as a ``pyannote.core.Annotation``."""
    from pyannote.core import Annotation, Segment  # pyannote.audio comes with the diarize extra

    out = Annotation(uri=uri)
    for k, turn in enumerate(turns):
        out[Segment(turn.start_s, turn.end_s), k] = turn.speaker
    return out


def load_reference(rttm: Path) -> Any:
    """The one recording's reference ``Annotation`` in ``rttm``."""
    from pyannote.database.util import load_rttm  # pyannote.audio comes with the diarize extra

    return next(iter(load_rttm(str(rttm)).values()))


def score(reference: Any, turns: Sequence[SpeakerTurn], duration_s: float) -> DerScore:
    """DER of ``turns`` against ``reference`` (an ``Annotation``), scored over ``[0, duration_s]``."""
    from pyannote.core import Segment, Timeline  # pyannote.audio comes with the diarize extra
    from pyannote.metrics.diarization import DiarizationErrorRate  # pyannote.audio comes with the diarize extra

    uem = Timeline([Segment(0.0, duration_s)])
    hypothesis = annotation(turns, reference.uri)
    parts = DiarizationErrorRate(collar=0.0)(reference, hypothesis, uem=uem, detailed=True)
    collar = DiarizationErrorRate(collar=2 * COLLAR_S)(reference, hypothesis, uem=uem)
    return DerScore(
        der=float(parts["diarization error rate"]),
        der_collar=float(collar),
        missed_s=float(parts["missed detection"]),
        false_alarm_s=float(parts["false alarm"]),
        confusion_s=float(parts["confusion"]),
        reference_s=float(parts["total"]),
    )


def word_accuracy(reference: Any, words: Sequence[Word]) -> tuple[float, int]:
    """Share of words whose speaker is right, and how many words were checked.

    Hypothesis labels are first mapped to reference labels (the optimal mapping of the
    words' own timing); a word is checked where exactly one reference speaker talks at
    its midpoint.
    """
    from pyannote.core import Segment  # pyannote.audio comes with the diarize extra
    from pyannote.metrics.diarization import DiarizationErrorRate  # pyannote.audio comes with the diarize extra

    checked = [(w, reference.crop(Segment(m, m + 1e-3)).labels()) for w in words for m in [(w.start_s + w.end_s) / 2]]
    checked = [(w, labels[0]) for w, labels in checked if len(labels) == 1]
    hyp_turns = [SpeakerTurn(w.start_s, max(w.end_s, w.start_s + 1e-3), w.speaker or "?") for w in words]
    mapping = DiarizationErrorRate().optimal_mapping(reference, annotation(hyp_turns, reference.uri))
    right = sum(mapping.get(w.speaker) == label for w, label in checked)
    return (right / len(checked) if checked else 0.0), len(checked)


def word_turns(words: Sequence[Word], max_gap_s: float = 1.0) -> list[SpeakerTurn]:
    """Speaker turns spanned by labelled ``words``: a speaker's consecutive words joined
    across pauses up to ``max_gap_s`` (how live labels, which exist only on words, are scored)."""
    turns: list[SpeakerTurn] = []
    for word in words:
        if word.speaker is None:
            continue
        last = turns[-1] if turns else None
        if last is not None and last.speaker == word.speaker and word.start_s - last.end_s <= max_gap_s:
            turns[-1] = SpeakerTurn(last.start_s, max(last.end_s, word.end_s), last.speaker)
        else:
            turns.append(SpeakerTurn(word.start_s, max(word.end_s, word.start_s + 0.01), word.speaker))
    return turns
