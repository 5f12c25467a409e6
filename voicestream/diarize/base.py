"""The diarizer Protocol and the speaker-count constraints it takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from voicestream.errors import OptionError
from voicestream.messages import Diarization

DiarizeProgress = Callable[[str, float], None]
"""Called with (step name, fraction of that step done, 0..1)."""


@dataclass(frozen=True, slots=True)
class SpeakerCount:
    """What is known of the number of speakers: exact (``num``) or bounds."""

    num: int | None = None
    min: int | None = None
    max: int | None = None

    def __post_init__(self) -> None:
        for name in ("num", "min", "max"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionError(f"--{name}-speakers must be at least 1")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise OptionError("--min-speakers is larger than --max-speakers")
        if self.num is not None and (self.min is not None or self.max is not None):
            raise OptionError("give either --num-speakers or --min/--max-speakers, not both")


class Diarizer(Protocol):
    """Who spoke when in a whole recording (offline)."""

    name: str

    def diarize(
        self,
        samples: npt.NDArray[np.float32],
        speakers: SpeakerCount | None = None,
        progress: DiarizeProgress | None = None,
    ) -> Diarization:
        """Diarize 16 kHz mono ``samples`` ``(n,)``; labels are ``"Speaker 1"``, ``"Speaker 2"``, ...
        in order of first appearance."""
        ...
