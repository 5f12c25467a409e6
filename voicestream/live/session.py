"""One live session end to end, without a socket: audio chunks and control calls in, typed
events out, in order.

:class:`LiveSession` runs the session's work on the shared workers (never on the event
loop): ASR updates, revisions of ended utterances, speaker labels, translation and speech,
exports, and at the end the order finals -> speech -> speaker corrections -> exports ->
``done``. An interface (the websocket server, :mod:`voicestream.live.harness`, a Ray
gateway) feeds it and forwards :meth:`LiveSession.next_event` in its own form.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from voicestream.diarize.base import SpeakerCount
from voicestream.live.events import (
    DoneEvent,
    FinalEvent,
    LiveEvent,
    PartialEvent,
    RevisionEvent,
    SpeechSkippedEvent,
    SubtitlesEvent,
    TranslationEvent,
)
from voicestream.live.flow import coalesce
from voicestream.live.options import ExportFormat, SessionOptions
from voicestream.live.policy import DecodeRequest
from voicestream.live.state import SessionState

if TYPE_CHECKING:
    from voicestream.live.runner import InferenceRunner, Workers
    from voicestream.live.speech.voices import LiveVoices

log = logging.getLogger("voicestream.live")

SPEECH_BACKLOG = 16
"""Translated sentences waiting for synthesis per session; more are skipped ("backlog")."""
REVISION_WAIT_S = 10.0
"""Stream time (s) an ended utterance waits for spare workers to be decoded again; after
that, or when the next one ends, it is decoded whatever the load. Skipping it cost 8
tiny.en sessions under load 1.2 points of WER; merging it into the next utterance, to be
decoded as one, cost them 3 points (Whisper drops sentences of windows joined across pauses)."""
REVISION_SLACK_S = 2.0
"""Seconds a started revision lets other jobs submitted after it go first
(:meth:`InferenceRunner.run`): it replaces text already shown, so under load the captions
of the other sessions keep their turn."""
REVISION_MAX_LAG_S = 60.0
"""Seconds (wall time) from when the end of an utterance was processed after which its
revision, if it has not started and the worker that would decode it is busy, is skipped (at
the session's next step): the utterance keeps its first text. Wall time,
not stream time: a client streaming a file faster than real time still gets its revisions
from a server that keeps up with it. Under sustained overload revisions
fall ever further behind, and the session keeps the audio they need: 10 base sessions on 2
cores for 4 minutes revised p50 81 s and p95 158 s after the words, a lag still growing, and
``done`` came 42 s after the audio (the backlog decoded at stop). At a held load (8 base
sessions) revisions land p95 31-40 s after their words: none is skipped."""
REVISION_MAX_LOAD = 0.5
"""A revision starts only while no other job waits and the workers were busy less than this
share of the last 5 s: a revision holds a worker for a second or more, so under load
captions keep their latency and revisions give way."""


PROCESSED_STEP_S = 0.25
"""Wall time (s) between the remembered points of how far the session's audio was processed
(when each utterance's end was processed, for :data:`REVISION_MAX_LAG_S`)."""


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A revision handed out, waiting for idle inference workers: its ``request``, the stream
    time ``since_s`` it was handed out and its ``deadline`` (``time.monotonic()``)."""

    request: DecodeRequest
    since_s: float
    deadline: float


@dataclass(slots=True)
class _InFlight:
    """A revision handed to a worker runner: its ``request``, its ``deadline``
    (``time.monotonic()``) to start, the ``task`` that waits for its decode, and whether its
    job ``started`` on a worker (until then it can be taken back)."""

    request: DecodeRequest
    deadline: float
    task: asyncio.Task[None] = field(init=False)
    started: bool = False

    def note_started(self) -> None:
        self.started = True


def revision_late(deadline: float, runner: InferenceRunner, now: float) -> bool:
    """Whether a revision not started by ``deadline`` (``time.monotonic()``, as ``now``) is
    skipped: only while the ``runner`` that would decode it is busy, a server behind its load,
    not an idle one whose client paused."""
    return now > deadline and (runner.busy > 0 or runner.load() >= REVISION_MAX_LOAD)


class SessionFailedError(Exception):
    """A session's own work failed (a decode, the speaker pass): it ends; others go on."""


class LiveSession:
    """A live session: :meth:`add_audio` and :meth:`stop` / :meth:`export` in,
    :meth:`next_event` out, while :meth:`run` does the work.

    The event queue is bounded (``max_events``): a consumer that falls behind
    first loses partials (only the newest of a batch is kept, none while the queue is half
    full), then holds up the session's work, and so the reading of its audio.
    """

    def __init__(
        self,
        workers: Workers,
        state: SessionState,
        options: SessionOptions,
        voices: LiveVoices | None = None,
        max_events: int = 256,
    ) -> None:
        self.workers = workers
        self.state = state
        self.options = options
        self.voices = voices
        self._events: asyncio.Queue[LiveEvent | None] = asyncio.Queue(max_events)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._stopping = False
        self._export: tuple[ExportFormat, ...] = ()
        self._revision: _InFlight | None = None  # an ended utterance decoded again
        # (stream s, monotonic): how far the audio was processed and when, every PROCESSED_STEP_S
        self._processed: deque[tuple[float, float]] = deque(maxlen=4096)
        self._waiting: _Waiting | None = None  # a revision waiting for idle workers
        self._speech: asyncio.Queue[TranslationEvent | None] | None = (
            asyncio.Queue(SPEECH_BACKLOG) if voices is not None else None
        )
        self._spoken = asyncio.Event()
        self.first_audio: float | None = None
        """``time.monotonic()`` at the first audio (the speech clock's origin)."""

    @property
    def id(self) -> str:
        """The session id."""
        return self.state.id

    @property
    def inbox_s(self) -> float:
        """Received audio (s) not processed yet."""
        return self.state.inbox_s

    def add_audio(self, samples: npt.NDArray[np.float32]) -> None:
        """Queue mono float32 samples ``(n,)`` at the session's sample rate (cheap: resampling)."""
        if self.first_audio is None:
            self.first_audio = time.monotonic()
        self.state.add_audio(samples)
        self._wake.set()

    async def drained(self, max_inbox_s: float) -> None:
        """Return once at most ``max_inbox_s`` of audio waits (backpressure for the reader)."""
        while self.state.inbox_s > max_inbox_s:
            self._drained.clear()
            await self._drained.wait()

    def stop(self, export: Sequence[ExportFormat] = ()) -> None:
        """No more audio: flush everything, then the exports asked for, then ``done``."""
        self._stopping = True
        self._export = tuple(export)
        self._wake.set()

    async def export(self, fmt: ExportFormat) -> None:
        """Queue the finals so far as subtitles (a :class:`SubtitlesEvent`)."""
        await self._events.put(await self._subtitles(fmt))

    async def next_event(self) -> LiveEvent | None:
        """The next event, or ``None`` after ``done``."""
        return await self._events.get()

    async def run(self) -> None:
        """Do the session's work until ``done`` is queued.

        Raises:
            SessionFailedError: a decode or the speaker pass failed (logged with its traceback).
        """
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._pump())
                if self.voices is not None:
                    tasks.create_task(self._speak())
        except* SessionFailedError as group:
            raise group.exceptions[0] from None
        finally:
            if self._revision is not None:
                self._revision.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._revision.task

    async def _pump(self) -> None:
        state = self.state
        while True:
            await self._wake.wait()
            self._wake.clear()
            finishing = self._stopping
            if finishing:
                # exports use the revised text: the revisions left are decoded after the last finals
                if self._waiting is not None:
                    self._give_back_or_skip(self._waiting.request, self._waiting.deadline)
                    self._waiting = None
                if (taken := await self._take_back_queued_revision()) is not None:
                    self._give_back_or_skip(taken.request, taken.deadline)
                state.add_audio(np.zeros(0, np.float32), last=True)
            events = await self._process(finishing)
            self._note_processed(time.monotonic())
            await self._queue(events)
            self._drained.set()
            if finishing:
                if self._revision is not None:  # one in flight: its words come with one more pass
                    await self._revision.task
                    await self._queue(await self._process(True))
                # the last finals are out before the utterances left are decoded again
                await self._queue(await self._inference(self.state.revise_rest))
                await self._finish()
                return
            await self._skip_late_revisions()
            self._schedule_revision()
            if state.inbox_s > 0:
                self._wake.set()

    async def _take_back_queued_revision(self) -> _InFlight | None:
        """The revision still queued for its worker (behind other sessions' revisions on the
        low-priority revision worker), cancelled before it starts; ``None`` if there is none.
        At ``stop`` it is decoded at once with the rest on the inference workers, so ``done``
        does not wait for a thread that gets a tenth of a core."""
        revision = self._queued_revision()
        if revision is None:
            return None
        revision.task.cancel()
        await asyncio.wait({revision.task})  # a cancel of this task itself still propagates
        self._revision = None
        return revision

    def _queued_revision(self) -> _InFlight | None:
        """The revision in flight if its job has not gone to a worker yet (it can be taken back)."""
        revision = self._revision
        return None if revision is None or revision.task.done() or revision.started else revision

    def _note_processed(self, at: float) -> None:
        """Remember that the audio up to the policy's stream end was processed at ``at``
        (``time.monotonic()``), one point per :data:`PROCESSED_STEP_S` of wall time."""
        point = (self.state.policy.stream_end_s, at)
        if self._processed and at - self._processed[-1][1] < PROCESSED_STEP_S:
            point = (point[0], self._processed.pop()[1])
        self._processed.append(point)

    def _deadline(self, request: DecodeRequest) -> float:
        """``time.monotonic()`` by which the revision ``request`` must start:
        :data:`REVISION_MAX_LAG_S` after its utterance's end was processed (at once when that
        is older than the points remembered)."""
        processed_at = None
        for stream_s, at in reversed(self._processed):  # the earliest point past its end
            if stream_s < request.end_s:
                break
            processed_at = at
        else:
            if len(self._processed) == self._processed.maxlen:
                return -math.inf
        return (processed_at if processed_at is not None else time.monotonic()) + REVISION_MAX_LAG_S

    def _late(self, deadline: float, runner: InferenceRunner) -> bool:
        return revision_late(deadline, runner, time.monotonic())

    def _give_back_or_skip(self, request: DecodeRequest, deadline: float) -> None:
        """At ``stop``: a revision not started is decoded with the rest, unless it is late."""
        if self._late(deadline, self.workers.inference):
            self._skip(request, deadline)
        else:
            self.state.return_revision(request)

    def _skip(self, request: DecodeRequest, deadline: float) -> None:
        waited_s = time.monotonic() - deadline + REVISION_MAX_LAG_S
        log.info("session %s: revision of %.1f s of speech skipped %.0f s after its end", self.state.id,
                 request.window.duration_s, waited_s)  # fmt: skip
        self.state.skip_revision(request)
        self._wake.set()  # the next process() applies it and hands out the next

    async def _skip_late_revisions(self) -> None:
        """Skip the revision that waits (queued for its worker, or for idle workers) past its
        deadline (:data:`REVISION_MAX_LAG_S`): under overload the backlog, and the audio kept for
        it, stay bounded, and the revisions that do run are the recent ones."""
        queued = self._queued_revision()
        if queued is not None and self._late(queued.deadline, self.workers.revision or self.workers.inference):
            await self._take_back_queued_revision()
            self._skip(queued.request, queued.deadline)
        if self._waiting is not None and self._late(self._waiting.deadline, self.workers.inference):
            self._skip(self._waiting.request, self._waiting.deadline)
            self._waiting = None

    async def _process(self, finish: bool) -> Sequence[PartialEvent | FinalEvent | RevisionEvent | TranslationEvent]:
        return await self._inference(functools.partial(self.state.process, finish=finish, revise_rest=False))

    async def _inference(
        self, step: Callable[[], Sequence[PartialEvent | FinalEvent | RevisionEvent | TranslationEvent]]
    ) -> Sequence[PartialEvent | FinalEvent | RevisionEvent | TranslationEvent]:
        """``step()`` on an inference worker; its failure ends the session."""
        try:
            return await self.workers.inference.run(self.workers.pause.during(step))
        except Exception as e:
            log.error("inference failed in session %s", self.state.id, exc_info=True)
            raise SessionFailedError("inference failed") from e

    async def _finish(self) -> None:
        """The end-of-stream order: last speech, speaker corrections, exports, ``done``."""
        state = self.state
        if self._speech is not None:  # the last sentences' speech goes out before done
            await self._speech.put(None)
            await self._spoken.wait()
        updates = await self._second_pass()
        for fmt in self._export:
            await self._events.put(await self._subtitles(fmt))
        speakers = None
        if state.diarizer is not None:
            speakers = tuple(sorted({w.speaker for w in state.final_words if w.speaker}))
        done = DoneEvent(
            state.policy.stream_end_s, state.policy.finals, state.id, state.stats.decodes, state.stats.revisions,
            state.stats.speculative.snapshot(), speakers, updates, state.stats.revisions_skipped,
        )  # fmt: skip
        await self._events.put(done)
        await self._events.put(None)

    def _schedule_revision(self) -> None:
        """Start the ended utterance's revision. On a revision worker of its own (a model copy
        at low priority: ``Workers.revision``), at once. Sharing the inference workers, when no
        other work waits for them; once it has waited :data:`REVISION_WAIT_S` or the next
        utterance ended, now whatever the load: a revision is the file job's text, worth more
        than the latency it costs the other sessions' partials."""
        if self._revision is not None and not self._revision.task.done():
            return
        now = self.state.policy.stream_end_s
        overdue = self._waiting is not None and (
            now - self._waiting.since_s > REVISION_WAIT_S or self.state.policy.revision_due
        )
        if self._waiting is None and (request := self.state.take_revision()) is not None:
            deadline = self._deadline(request)
            if self._late(deadline, self.workers.revision or self.workers.inference):
                self._skip(request, deadline)  # handed out late: the one before it waited long
                return
            self._waiting = _Waiting(request, now, deadline)
        runner = self.workers.inference
        own_thread = self.workers.revision is not None  # low priority: captions keep most of the cores
        if self._waiting is not None and (
            own_thread or overdue or (runner.busy == 0 and runner.load() < REVISION_MAX_LOAD)
        ):
            self._revision = _InFlight(self._waiting.request, self._waiting.deadline)
            self._revision.task = asyncio.create_task(self._revise(self._revision))
            self._waiting = None

    async def _revise(self, revision: _InFlight) -> None:
        """Decode an ended utterance again on a free worker while the session goes on; the
        next process() applies it."""
        runner = self.workers.revision or self.workers.inference
        job = functools.partial(self.state.decode_revision, revision.request)
        await runner.run(job, REVISION_SLACK_S, started=revision.note_started)
        self._wake.set()

    async def _second_pass(self) -> int | None:
        """Re-diarize the whole session and queue the corrections; how many finals changed
        (``None`` when the session kept no whole audio, or had no speakers)."""
        state = self.state
        if state.diarizer is None:
            return None
        count = SpeakerCount(
            num=self.options.num_speakers, max=None if self.options.num_speakers else self.options.max_speakers
        )
        try:
            updates = await self.workers.inference.run(functools.partial(state.correct_speakers, count))
        except Exception as e:
            log.error("speaker second pass failed in session %s", state.id, exc_info=True)
            raise SessionFailedError("speaker second pass failed") from e
        for update in updates:
            await self._events.put(update)
        return len(updates) if state.diarizer.audio.complete else None

    async def _subtitles(self, fmt: ExportFormat) -> SubtitlesEvent:
        return SubtitlesEvent(fmt, await self.workers.inference.run(functools.partial(self.state.subtitles, fmt)))

    async def _queue(self, events: Sequence[PartialEvent | FinalEvent | RevisionEvent | TranslationEvent]) -> None:
        backed_up = self._events.qsize() > self._events.maxsize // 2
        for event in coalesce(events, backed_up):
            await self._events.put(event)
            if self._speech is not None and isinstance(event, TranslationEvent) and event.text:
                try:
                    self._speech.put_nowait(event)  # spoken by its own task: captions never wait for speech
                except asyncio.QueueFull:
                    await self._events.put(SpeechSkippedEvent(0, event.segment, event.text, 0.0, "backlog"))

    def clock(self) -> float:
        """Stream time now (s): the audio received, or the wall time since the first audio
        when that is later (a live source, or after the client's last audio)."""
        wall = time.monotonic() - self.first_audio if self.first_audio is not None else 0.0
        return max(self.state.policy.stream_end_s, wall)

    async def _speak(self) -> None:
        """Synthesize each translated sentence on the speech worker and queue it."""
        runner = self.workers.speech
        assert self._speech is not None and self.voices is not None
        speaker = self.voices
        while (event := await self._speech.get()) is not None:
            parts = speaker.parts(event)
            for part in range(len(parts)):  # each clause is sent when it is ready
                try:
                    result = await runner.run(functools.partial(speaker.speak, event, self.clock, part, parts))
                except Exception:
                    log.error("speech synthesis failed in session %s", self.state.id, exc_info=True)
                    result = SpeechSkippedEvent(0, event.segment, event.text or "", 0.0, "synthesis failed")
                await self._events.put(result)
                if isinstance(result, SpeechSkippedEvent):
                    break
        self._spoken.set()
