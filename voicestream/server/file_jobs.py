"""Uploaded files transcribed on the live sessions' inference workers.

A file job runs the file pipeline (:func:`voicestream.pipeline.transcribe_samples`) on a
thread of its own, but every decode it makes waits its turn on the server's
:class:`~voicestream.live.runner.InferenceRunner`, in the same queue as the live
sessions' updates (taken by deadline, :meth:`~voicestream.live.runner.InferenceRunner.run`):
one window at a time, so a live session waits at most one file window
and the file gets one turn in the queue like any session. At most ``limit`` jobs run at once.

The API's ``prompt`` is what its users put names and terms in: up to the vocabulary's 480
characters it is given as faster-whisper's ``hotwords`` (measured: tiny.en wrote "Halston"
with "Helstone" as ``initial_prompt`` and "Helstone" with it as hotwords), with the
vocabulary's echo check against text that only repeats it; a longer prompt is the decoder's
``initial_prompt`` (Whisper keeps its last 223 tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError as FutureCancelledError
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from voicestream import media, registry
from voicestream.asr import AsrEngine, DecodeOptions
from voicestream.asr.base import AsrSegment
from voicestream.asr.speculative import SpeculativeStats
from voicestream.asr.vocabulary import MAX_CHARS
from voicestream.live.runner import InferenceRunner, RunnerClosedError
from voicestream.messages import Transcript, Word
from voicestream.pipeline import TranscribeSettings, transcribe_samples
from voicestream.server.api_request import SpeechRequest
from voicestream.vad import VoiceActivityDetector

T = TypeVar("T")


class JobCancelledError(Exception):
    """The client went away: the job stops before its next decode."""


class QueuedEngine:
    """An :class:`~voicestream.asr.AsrEngine` whose every call runs on ``runner`` (called
    from a thread that is not the event loop's; it blocks until its turn has run)."""

    def __init__(
        self, engine: AsrEngine, runner: InferenceRunner, loop: asyncio.AbstractEventLoop, cancelled: threading.Event
    ) -> None:
        self.engine = engine
        self.name = engine.name
        self.multilingual = engine.multilingual
        self._runner = runner
        self._loop = loop
        self._cancelled = cancelled

    @property
    def speculative(self) -> bool:
        """The wrapped engine's."""
        return self.engine.speculative

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """See :class:`~voicestream.asr.AsrEngine` (queued)."""
        return self._queued(lambda: self.engine.detect_language(samples))

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None = None,
        stats: SpeculativeStats | None = None,
    ) -> list[AsrSegment]:
        """See :class:`~voicestream.asr.AsrEngine` (queued)."""
        return self._queued(lambda: self.engine.transcribe(samples, offset_s, options, hypothesis, stats))

    def _queued(self, fn: Callable[[], T]) -> T:
        if self._cancelled.is_set():
            raise JobCancelledError("the client went away")
        future = asyncio.run_coroutine_threadsafe(self._runner.run(fn), self._loop)
        try:
            return future.result()
        except (FutureCancelledError, RunnerClosedError):
            raise JobCancelledError("the server is closing") from None


class JobsFullError(Exception):
    """``limit`` file jobs are admitted already."""


class Slot:
    """One admitted file job, from its upload to the end of its thread (a job whose client
    left keeps its slot until its thread has stopped)."""

    def __init__(self, jobs: FileJobs) -> None:
        self._jobs = jobs
        self._holders = 1  # the request; the thread adds itself while it runs
        self.cancelled = threading.Event()

    def hold(self) -> None:
        """The job's thread holds the slot too (event loop)."""
        self._holders += 1

    def release(self) -> None:
        """One holder is done; the slot is free once both are (event loop)."""
        self._holders -= 1
        if self._holders == 0:
            self._jobs.running -= 1


class FileJobs:
    """Transcriptions of uploaded files, at most ``limit`` admitted at once, each on a thread
    of its own pool (decoding, VAD) with its Whisper decodes queued on ``runner``."""

    def __init__(self, engine: AsrEngine, runner: Callable[[], InferenceRunner], limit: int) -> None:
        """``runner`` gives the live sessions' inference runner (it exists once the server
        has started)."""
        self.engine = engine
        self.limit = limit
        self.running = 0
        """Jobs admitted and not yet finished (uploading, decoding, or stopping)."""
        self._runner = runner
        self._pool = ThreadPoolExecutor(max_workers=max(1, limit), thread_name_prefix="voicestream-file")
        self._vad: VoiceActivityDetector | None = None
        self._vad_lock = threading.Lock()

    def admit(self) -> Slot:
        """Reserve a slot for a new job (event loop).

        Raises:
            JobsFullError: ``limit`` jobs hold slots.
        """
        if self.running >= self.limit:
            raise JobsFullError(f"{self.limit} file job(s) running")
        self.running += 1
        return Slot(self)

    async def transcribe(
        self, slot: Slot, path: Path, request: SpeechRequest, on_words: Callable[[list[Word]], None] | None = None
    ) -> Transcript:
        """The transcript of the media file at ``path`` (already checked by the caller), in
        ``slot``. Cancelling the call stops the job's thread before its next step.

        ``on_words`` is called on the event loop with each window's words as they are decoded.

        Raises:
            MediaDecodeError, NoSpeechError: as ``voicestream transcribe``.
            JobCancelledError: the server closed its workers.
        """
        loop = asyncio.get_running_loop()
        cancelled = slot.cancelled
        short = request.prompt is not None and len(request.prompt) <= MAX_CHARS
        decode = DecodeOptions(
            language=request.language, task=request.task, temperatures=request.temperatures,
            hotwords=request.prompt if short else None, initial_prompt=None if short else request.prompt,
        )  # fmt: skip
        engine = QueuedEngine(self.engine, self._runner(), loop, cancelled)

        def words(found: list[Word]) -> None:
            if on_words is not None and found:
                loop.call_soon_threadsafe(on_words, list(found))

        def job() -> Transcript:
            try:
                samples = media.decode(path)
                vad = self.vad()
                if cancelled.is_set():
                    raise JobCancelledError("the client went away")
                return transcribe_samples(samples, engine, vad, TranscribeSettings(decode=decode), on_words=words)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits for the slot
                    loop.call_soon_threadsafe(slot.release)

        slot.hold()
        try:
            future = loop.run_in_executor(self._pool, job)
        except RuntimeError:  # the pool is shut down: the server is stopping
            slot.release()
            raise JobCancelledError("the server is stopping") from None
        try:
            return await future
        finally:
            cancelled.set()  # a cancelled await leaves the thread: it stops at its next step

    def close(self) -> None:
        """Stop taking jobs; running ones stop at their next decode (the runner is closing)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def vad(self) -> VoiceActivityDetector:
        """The file pipeline's voice activity detector, loaded on first use (thread-safe)."""
        with self._vad_lock:
            if self._vad is None:
                self._vad = registry.create_vad()
            return self._vad
