"""Custom vocabulary: names and terms the decoder should expect (``--hotwords``, the live
``vocabulary``), bounded so that it cannot crowd out the audio's own context.

The terms reach Whisper as faster-whisper's ``hotwords`` do: as previous-context text before
the start-of-transcript token, which raises the odds of those spellings without forcing
them (a term that is not spoken is not written: tests/test_vocabulary.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from voicestream.asr.base import AsrSegment
from voicestream.errors import OptionError

MAX_TERMS = 50
MAX_TERM_CHARS = 48
MAX_CHARS = 480
"""Longest joined vocabulary: about 120 tokens, half of Whisper's context for the prompt."""


def split_terms(text: str) -> list[str]:
    """Terms from a comma- (or newline-) separated list: ``"Kowloon, Qiao, EBITDA"``."""
    return [t for t in (part.strip() for part in re.split(r"[,\n]", text)) if t]


def vocabulary_text(terms: Iterable[str]) -> str | None:
    """The terms joined as the decoder reads them (``"Kowloon, Qiao, EBITDA"``), duplicates
    dropped, or ``None`` for none.

    Raises:
        OptionError: more than :data:`MAX_TERMS` terms, a term over :data:`MAX_TERM_CHARS`
            characters or with control characters, or over :data:`MAX_CHARS` in all.
    """
    kept: list[str] = []
    for term in terms:
        if not isinstance(term, str):
            raise OptionError("vocabulary terms must be text")
        clean = " ".join(term.split())
        if not clean or clean.lower() in (k.lower() for k in kept):
            continue
        if len(clean) > MAX_TERM_CHARS or any(ord(c) < 32 for c in clean):
            raise OptionError(f"vocabulary term {clean[:20]!r}... is over {MAX_TERM_CHARS} characters or not text")
        kept.append(clean)
    if len(kept) > MAX_TERMS:
        raise OptionError(f"vocabulary of {len(kept)} terms: at most {MAX_TERMS}")
    text = ", ".join(kept)
    if len(text) > MAX_CHARS:
        raise OptionError(f"vocabulary of {len(text)} characters: at most {MAX_CHARS}")
    return text or None


def _words(text: str) -> list[str]:
    return ["".join(ch for ch in w if ch.isalnum()) for w in text.lower().split()]


def only_vocabulary(text: str, vocabulary: str | None) -> bool:
    """Whether ``text`` holds words and every one of them is a word of ``vocabulary``: what a
    decoder writes when it echoes its hotwords over noise (measured: tiny.en, beam 5, wrote
    "Kowloon" over 8 s of noise with "Kowloon, Qiao, EBITDA" and nothing without)."""
    said = [w for w in _words(text) if w]
    known = {w for w in _words(vocabulary or "") if w}
    return bool(said) and bool(known) and all(w in known for w in said)


def heard_speech(segments: Sequence[AsrSegment], no_speech_threshold: float | None) -> bool:
    """Whether ``segments`` hold a word of letters or digits that the model did not take for
    silence (no-speech probability at most ``no_speech_threshold``; NaN where it was not
    needed counts as speech): the evidence a vocabulary-only text needs. Measured: a sampled
    fallback over noise wrote ". . ." at no-speech probability 0.98."""
    limit = 1.0 if no_speech_threshold is None else no_speech_threshold
    return any(any(_words(s.text)) and not s.no_speech_prob > limit for s in segments)
