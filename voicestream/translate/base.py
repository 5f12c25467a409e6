"""The translator Protocol and the sentence it translates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Sentence:
    """One source sentence: its text and, for engines that translate speech, its audio
    (float32 ``(n,)`` at 16 kHz; ``None`` when only text is at hand)."""

    text: str
    audio: npt.NDArray[np.float32] | None = None


class Translator(Protocol):
    """Translates whole sentences from one language to another."""

    name: str

    def supports(self, source: str, target: str) -> bool:
        """Whether ``source`` -> ``target`` (ISO 639-1 codes) can be translated."""
        ...

    def pairs(self) -> list[str]:
        """The pairs this engine offers, as ``"src->tgt"`` (``"*->en"`` for any source)."""
        ...

    def translate(self, sentences: Sequence[Sentence], source: str, target: str) -> list[str]:
        """One translation per sentence, in order."""
        ...
