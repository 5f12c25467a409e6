"""Run a recording through a live session without a network, as fast as the CPU allows.

The audio arrives in ``step_s`` chunks and each chunk is processed before the next,
so the session sees the same sequence of updates as a real-time client whose server
keeps up; only the wall clock is skipped. Used by tests and benchmarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from voicestream.asr import AsrEngine
from voicestream.live.events import FinalEvent
from voicestream.live.policy import StreamSettings
from voicestream.live.state import STREAM_DECODE, SessionState
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.timebase import SAMPLE_RATE, seconds_to_samples

if TYPE_CHECKING:
    from voicestream.diarize.live import LiveDiarizer


def replay(
    engine: AsrEngine,
    samples: npt.NDArray[np.float32],
    hypothesis_drafts: bool = True,
    step_s: float = 0.5,
    settings: StreamSettings | None = None,
    diarizer: LiveDiarizer | None = None,
) -> tuple[list[FinalEvent], SessionState]:
    """Stream ``samples`` (float32 ``(n,)``, 16 kHz) through a new session (labelling speakers
    live when ``diarizer`` is given); its finals and the session."""
    session = SessionState(
        "replay",
        SAMPLE_RATE,
        engine,
        SileroFrameModel(),
        STREAM_DECODE,
        settings or StreamSettings(),
        hypothesis_drafts,
        diarizer,
    )
    finals: list[FinalEvent] = []
    step = max(1, seconds_to_samples(step_s))
    for i in range(0, samples.size, step):
        session.add_audio(samples[i : i + step])
        finals += [e for e in session.process() if isinstance(e, FinalEvent)]
    finals += [e for e in session.process(finish=True) if isinstance(e, FinalEvent)]
    return finals, session
