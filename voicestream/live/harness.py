"""Drive a :class:`~voicestream.live.session.LiveSession` from samples or a file, without a
network: the audio arrives in chunks (in real time, faster, or as fast as the session takes
it) and every event is kept with the time it came. Tests, benchmarks and batch jobs use it
the way a websocket client uses the server.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voicestream import media
from voicestream.live.events import LiveEvent
from voicestream.live.options import ExportFormat, SessionOptions
from voicestream.live.services import LiveServices
from voicestream.live.session import SessionFailedError
from voicestream.timebase import SAMPLE_RATE

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Received:
    """An event and when it came (s after the first audio chunk was handed over)."""

    at_s: float
    event: LiveEvent


async def stream_samples(
    services: LiveServices,
    samples: npt.NDArray[np.float32],
    options: SessionOptions | None = None,
    sample_rate: int = SAMPLE_RATE,
    chunk_s: float = 0.1,
    speed: float = 0.0,
    export: Sequence[ExportFormat] = (),
    max_inbox_s: float = 20.0,
) -> list[Received]:
    """Stream mono float32 ``samples`` ``(n,)`` at ``sample_rate`` Hz through a new session
    of ``services`` (started) and return every event up to ``done``.

    Args:
        chunk_s: Audio per chunk (s).
        speed: Chunks come ``speed`` times faster than real time; 0 as fast as the
            session takes them (at most ``max_inbox_s`` of audio waits).
        export: Subtitle formats asked for at the end.

    Raises:
        OptionError: the session cannot be opened with ``options``.
        SessionFailedError: the session's work failed.
    """
    session = await services.open(f"h{next(_ids)}", sample_rate, options or SessionOptions())
    received: list[Received] = []
    step = max(1, round(chunk_s * sample_rate))
    started = time.monotonic()

    async def feed() -> None:
        for i in range(0, samples.size, step):
            if speed > 0:
                await asyncio.sleep(max(0.0, started + i / sample_rate / speed - time.monotonic()))
            session.add_audio(samples[i : i + step])
            await session.drained(max_inbox_s)
        session.stop(export)

    async def collect() -> None:
        while (event := await session.next_event()) is not None:
            received.append(Received(time.monotonic() - started, event))

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(feed())
            tasks.create_task(collect())
            tasks.create_task(session.run())
    except* SessionFailedError as group:
        raise group.exceptions[0] from None
    return received


async def stream_file(
    services: LiveServices,
    path: str | Path,
    options: SessionOptions | None = None,
    speed: float = 0.0,
    export: Sequence[ExportFormat] = (),
) -> list[Received]:
    """Decode any media file (ffmpeg, 16 kHz mono) and :func:`stream_samples` it."""
    samples = await asyncio.to_thread(media.decode, path)
    return await stream_samples(services, samples, options, speed=speed, export=export)


def events_of(received: Sequence[Received]) -> list[LiveEvent]:
    """The events alone, in order."""
    return [r.event for r in received]
