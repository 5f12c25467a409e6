"""A live session without a socket: driven from recordings by :mod:`voicestream.live.harness`."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from tests.test_session_revision import BEAM, ScriptedEngine
from voicestream import media
from voicestream.asr import AsrEngine, FasterWhisperEngine
from voicestream.errors import OptionError
from voicestream.live.events import (
    DoneEvent,
    FinalEvent,
    PartialEvent,
    RevisionEvent,
    SubtitlesEvent,
    TranslationEvent,
)
from voicestream.live.flow import coalesce
from voicestream.live.harness import events_of, stream_samples
from voicestream.live.options import SessionOptions
from voicestream.live.policy import DecodeRequest, StreamingTranscriber
from voicestream.live.runner import InferenceRunner
from voicestream.live.services import LiveServices, LiveSettings, create_revision_engine
from voicestream.live.session import SessionFailedError, revision_late
from voicestream.live.state import SessionState
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.messages import Word
from voicestream.server.limits import RateLimit

T = TypeVar("T")


def with_services(
    engine: AsrEngine,
    job: Callable[[LiveServices], Awaitable[T]],
    revision_engine: AsrEngine | None = None,
    **settings: Any,
) -> T:
    """Run ``job`` with started services for ``engine`` (no speech helper), then close them."""

    async def main() -> T:
        live = LiveSettings(speech_helper=False, **settings)
        services = LiveServices(engine, SileroFrameModel(), live, revision_engine=revision_engine)
        await services.start()
        try:
            return await job(services)
        finally:
            await services.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def speech(data: Path) -> np.ndarray:
    return media.decode(data / "jfk_public_domain" / "jfk.flac")[: 16000 * 4]


def test_the_end_of_stream_comes_in_order_finals_revisions_exports_done(
    speech: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripted engine: the greedy text is confirmed, revised by the revision decode, and
    the export at stop holds the revised text; ``done`` comes last and counts it all."""
    monkeypatch.setattr("voicestream.live.state.REVISION_BEAM", 5)  # how the scripted engine tells them apart
    audio = np.concatenate([speech, np.zeros(16000 * 2, np.float32)])
    events = events_of(with_services(ScriptedEngine(), lambda s: stream_samples(s, audio, export=("srt", "vtt"))))
    kinds = [type(e).__name__ for e in events]
    assert kinds[-3:] == ["SubtitlesEvent", "SubtitlesEvent", "DoneEvent"], kinds
    last_text = max(i for i, e in enumerate(events) if isinstance(e, FinalEvent | RevisionEvent | PartialEvent))
    assert last_text < kinds.index("SubtitlesEvent")
    revision = next(e for e in events if isinstance(e, RevisionEvent))
    srt = next(e for e in events if isinstance(e, SubtitlesEvent) and e.format == "srt")
    assert BEAM.split(",")[0] in srt.text
    done = events[-1]
    assert isinstance(done, DoneEvent)
    first = [e for e in events if isinstance(e, FinalEvent)]
    assert done.finals == len(first) + len(revision.finals) and done.revisions == 1
    assert done.speakers is None and done.duration_s == pytest.approx(audio.size / 16000)


def test_the_last_finals_come_before_the_last_revision_is_decoded(
    speech: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At stop the last finals reach the reader at once; the revision of the last utterance
    (a second or more of decoding) follows. The scripted revision decode waits until the
    reader has a final: with the finals held back for it, it would wait in vain (10 s)."""
    monkeypatch.setattr("voicestream.live.state.REVISION_BEAM", 5)
    release = threading.Event()
    waited: list[bool] = []

    class SlowRevisions(ScriptedEngine):
        def transcribe(
            self, samples: Any, offset_s: float, options: Any, hypothesis: Any = None, stats: Any = None
        ) -> Any:
            if options.beam_size > 1:
                waited.append(release.wait(timeout=10))
            return super().transcribe(samples, offset_s, options, hypothesis, stats)

    async def job(services: LiveServices) -> list[Any]:
        session = await services.open("last", 16000, SessionOptions())
        run = asyncio.create_task(session.run())
        session.add_audio(speech)
        session.stop()
        events = []
        while (event := await session.next_event()) is not None:
            events.append(event)
            if isinstance(event, FinalEvent):
                release.set()
        await run
        return events

    events = with_services(SlowRevisions(), job)
    assert waited == [True]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("FinalEvent") < kinds.index("RevisionEvent") < kinds.index("DoneEvent"), kinds


def test_a_failing_engine_fails_only_its_session(speech: np.ndarray) -> None:
    """The session's work raises SessionFailedError; the services serve the next session."""

    class Failing(ScriptedEngine):
        def transcribe(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("decoder exploded")

    async def job(services: LiveServices) -> None:
        with pytest.raises(SessionFailedError, match="inference failed"):
            await stream_samples(services, speech)
        services.engine = ScriptedEngine()  # the same workers, a working model
        events = events_of(await stream_samples(services, speech))
        assert isinstance(events[-1], DoneEvent)

    with_services(Failing(), job)


def test_options_the_services_cannot_do_are_refused() -> None:
    async def job(services: LiveServices) -> None:
        for options, reason in [
            (SessionOptions(language="xx"), "unknown language"),
            (SessionOptions(language="de"), "English-only"),
            (SessionOptions(diarize=True), "no speaker labels"),
            (SessionOptions(translate_to="zz"), "unknown translate_to"),
        ]:
            with pytest.raises(OptionError, match=reason):
                await services.open("x", 16000, options)

    with_services(ScriptedEngine(), job)


def test_a_consumer_behind_loses_partials_never_finals() -> None:
    def partial(k: int) -> PartialEvent:
        return PartialEvent(0, k, (Word(0.0, 0.5, " hi", 0.9),), "en")

    final = FinalEvent(0, (Word(0.0, 0.5, " hi", 0.9),), "en")
    batch = [partial(1), final, partial(2), partial(3)]
    assert coalesce(batch, backed_up=False) == [final, partial(3)]
    assert coalesce(batch, backed_up=True) == [final]
    assert coalesce([], backed_up=True) == []


def test_the_rate_limit_allows_a_burst_then_the_rate() -> None:
    rate = RateLimit(max_rate=2.0, burst_s=10.0)
    assert rate.allows(10.0, now_s=100.0)  # the burst at once
    assert not rate.allows(10.5, now_s=100.0)
    assert rate.allows(14.0, now_s=102.0) and not rate.allows(14.5, now_s=102.0)
    assert RateLimit(max_rate=0.0, burst_s=0.0).allows(1e9, now_s=0.0), "0: no limit"


def test_each_final_sentence_is_translated(base_engine: FasterWhisperEngine, data: Path) -> None:
    """Moved from the websocket tests: every finished sentence once, whole, in Spanish."""
    samples = media.decode(data / "jfk_public_domain" / "jfk.flac")

    async def job(services: LiveServices) -> tuple[list[Any], list[str]]:
        received = await stream_samples(services, samples, SessionOptions(language="en", translate_to="es"))
        return events_of(received), services.translation_targets()

    events, targets = with_services(base_engine, job)
    finals = [e for e in events if isinstance(e, FinalEvent)]
    translations = [e for e in events if isinstance(e, TranslationEvent)]
    assert translations and all(t.language == "es" and t.source_language == "en" for t in translations)
    assert {t.segment for t in translations} <= {f.segment for f in finals}
    # whole sentences, however the pauses cut the segments: every one but the last ends a sentence
    assert all(t.source_text.rstrip().endswith((".", "?", "!")) for t in translations[:-1])
    assert len(translations) <= len({f.segment for f in finals})
    source = " ".join(t.source_text for t in translations).split()
    assert source == " ".join("".join(w.text for w in f.words) for f in finals).split()  # every final word, once
    assert "país" in " ".join(t.text or "" for t in translations)
    kinds = [type(e) for e in events]
    assert kinds.index(DoneEvent) > max(i for i, k in enumerate(kinds) if k is TranslationEvent)
    assert {"en", "es"} <= set(targets) and "de" not in targets  # more with Apertium pivots installed


def test_revisions_under_load_revise_each_utterance_on_its_own(
    tiny_engine: FasterWhisperEngine, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two utterances of real speech, with the workers never idle (another session's job
    always waiting) or not: the first utterance's revision may wait, but it is never merged
    with the second across the pause (merged windows made the text of 8 sessions under load
    worse, docs/reliability.md): at least two revisions, the first of the first utterance alone."""
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    pause = np.zeros(16000 * 3, np.float32)
    audio = np.concatenate([jfk[: 16000 * 4], pause, jfk[16000 * 5 : 16000 * 9], pause, pause, pause])
    decoded: list[tuple[float, float]] = []  # the revised audio's span (stream s)
    revision_words = SessionState._revision_words

    def spy(state: SessionState, request: DecodeRequest, engine: Any = None) -> Any:
        decoded.append((request.window.start_s, request.end_s))
        return revision_words(state, request, engine)

    monkeypatch.setattr(SessionState, "_revision_words", spy)

    def revisions(other_work: bool) -> list[tuple[float, float]]:
        decoded.clear()

        async def job(services: LiveServices) -> list[Any]:
            services.workers.inference.busy += other_work  # stands for another session's pending update
            try:  # a few times real time, so that the session sees the pauses as they come
                return events_of(await stream_samples(services, audio, speed=4.0))
            finally:
                services.workers.inference.busy -= other_work

        done = with_services(tiny_engine, job)[-1]
        assert isinstance(done, DoneEvent) and done.revisions == len(decoded)
        return list(decoded)

    for other_work in (False, True):
        spans = revisions(other_work)
        print(f"revised spans (stream s), other work {other_work}: {spans}")
        # one decode each (the second's window may start earlier: the first's end as context);
        # merged across the pause, the two were one revision at stop under load
        assert len(spans) >= 2, spans
        assert spans[0][1] < 5.0 < spans[-1][1], "the first utterance revised on its own"


@pytest.fixture(scope="module")
def revision_copy() -> FasterWhisperEngine:
    """A second tiny.en, its compute thread at the revision niceness (as ``serve`` loads it)."""
    return create_revision_engine("tiny.en")


def test_a_revision_model_copy_revises_at_once_while_captions_keep_the_workers(
    tiny_engine: FasterWhisperEngine, revision_copy: FasterWhisperEngine, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two utterances of real speech, another session's job always waiting for the inference
    workers. Sharing them, the first utterance's revision waits until it is overdue (the
    second utterance has ended); with a model copy of its own (``serve``'s default on CPU), it
    is decoded on the copy as soon as its pause is heard, off the inference workers, and
    reads the same model's words."""
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    pause = np.zeros(16000 * 3, np.float32)
    audio = np.concatenate([jfk[: 16000 * 4], pause, jfk[16000 * 5 : 16000 * 9], pause, pause, pause])
    second_ends_s = 11.0  # its pause is heard 1.5 s later: then sharing workers, the first is overdue
    decoded: list[tuple[float, bool, str]] = []  # (stream s heard when its decode began, on the copy, text)
    revision_words = SessionState._revision_words

    def spy(state: SessionState, request: DecodeRequest, engine: Any = None) -> Any:
        heard_s = state.policy.stream_end_s  # when the decode starts
        result = revision_words(state, request, engine)
        decoded.append((heard_s, engine is revision_copy, " ".join(w.text.strip() for w in result.words)))
        return result

    monkeypatch.setattr(SessionState, "_revision_words", spy)

    def run(copy: FasterWhisperEngine | None) -> list[tuple[float, bool, str]]:
        decoded.clear()

        async def job(services: LiveServices) -> list[Any]:
            services.workers.inference.busy += 1  # stands for another session's pending update
            try:
                return events_of(await stream_samples(services, audio, speed=2.0))
            finally:
                services.workers.inference.busy -= 1

        done = with_services(tiny_engine, job, revision_engine=copy)[-1]
        assert isinstance(done, DoneEvent) and done.revisions == len(decoded) >= 2
        return list(decoded)

    shared, own = run(None), run(revision_copy)
    print(f"revisions (stream s when begun, on the copy, text): shared {shared}, own {own}")
    assert shared[0][0] >= second_ends_s + 1.0 and not shared[0][1], "sharing, the revision waited for the workers"
    assert own[0][0] < second_ends_s and own[0][1], "the copy decoded it as soon as it was due"
    assert words(own[0][2]) == words(shared[0][2]), "the same model's words"


def words(text: str) -> list[str]:
    """``text``'s words, lower case, without punctuation."""
    return [w.strip(".,!?;:\"'").lower() for w in text.split()]


async def with_revision_worker_held(services: LiveServices, audio: np.ndarray) -> tuple[list[Any], bool]:
    """``audio``'s events, streamed at 4x real time while one job that does not end (other
    sessions' revisions) holds the revision worker, and whether it still held it at ``done``."""
    runner = services.workers.revision
    assert runner is not None
    gate = threading.Event()
    holder = asyncio.create_task(runner.run(lambda: gate.wait(120)))
    try:
        events = events_of(await stream_samples(services, audio, speed=4.0))
        return events, not holder.done()
    finally:
        gate.set()
        await holder


def test_at_stop_a_revision_still_queued_for_the_copy_is_decoded_at_once(
    tiny_engine: FasterWhisperEngine, revision_copy: FasterWhisperEngine, data: Path
) -> None:
    """Other sessions' revisions hold the low-priority revision worker (one job that does not
    end): at ``stop``, the session's revision waiting behind them is taken back and decoded
    with the rest on the inference workers, so ``done`` comes while the worker is still held
    (before, it waited for a thread that gets a tenth of a core under load)."""
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    audio = np.concatenate([jfk[: 16000 * 4], np.zeros(16000 * 3, np.float32), jfk[16000 * 5 : 16000 * 9]])

    events, held = with_services(
        tiny_engine, lambda services: with_revision_worker_held(services, audio), revision_engine=revision_copy
    )
    done = events[-1]
    assert isinstance(done, DoneEvent) and done.revisions >= 2, done
    assert held, "the revision worker was let go before done came"


def test_under_overload_a_revision_that_cannot_start_in_time_is_skipped(
    tiny_engine: FasterWhisperEngine, revision_copy: FasterWhisperEngine, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revision worker is held (other sessions' revisions, under sustained overload)
    while four utterances are spoken (at 4x real time). A revision still queued
    ``REVISION_MAX_LAG_S`` (2 s of wall time here) after its utterance's end was processed is
    skipped: its utterance keeps its first text, the next one is handed out, and the audio
    kept for revisions stays bounded. The control run without the bound keeps every
    utterance's audio until ``stop`` and skips none."""
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    pause = np.zeros(16000 * 3, np.float32)
    first, second = jfk[: 16000 * 4], jfk[16000 * 5 : 16000 * 9]
    audio = np.concatenate([first, pause, second, pause, first, pause, second, pause])
    kept: list[float] = []  # seconds of audio the policy keeps for revisions, after each push
    push = StreamingTranscriber.push

    def spy(policy: StreamingTranscriber, samples: np.ndarray, probs: np.ndarray) -> None:
        push(policy, samples, probs)
        kept.append(policy.tape_s)

    monkeypatch.setattr(StreamingTranscriber, "push", spy)

    def run(max_lag_s: float) -> tuple[list[Any], bool, float]:
        monkeypatch.setattr("voicestream.live.session.REVISION_MAX_LAG_S", max_lag_s)
        kept.clear()

        events, held = with_services(
            tiny_engine, lambda services: with_revision_worker_held(services, audio), revision_engine=revision_copy
        )
        return events, held, max(kept)

    bounded, held, bounded_kept_s = run(2.0)
    unbounded, _, unbounded_kept_s = run(math.inf)
    print(f"audio kept for revisions at most: {bounded_kept_s:.1f} s bounded, {unbounded_kept_s:.1f} s not")
    done, control = bounded[-1], unbounded[-1]
    assert isinstance(done, DoneEvent) and isinstance(control, DoneEvent)
    assert held, "the revision worker was let go before done came"
    assert done.revisions_skipped >= 2 and control.revisions_skipped == 0, (done, control)
    assert done.revisions >= 1, "the recent utterances are revised at stop"
    assert bounded_kept_s < unbounded_kept_s - 5.0
    text = " ".join(" ".join(w.text for w in e.words) for e in bounded if isinstance(e, FinalEvent))
    assert words(text).count("country") >= 2, "the skipped utterances keep their first text"


def test_a_late_revision_is_skipped_only_while_its_worker_is_busy() -> None:
    """Past its deadline a revision is skipped while the worker that would decode it has work
    (a server behind its load); on an idle worker (its client paused) it is decoded."""

    async def main() -> list[bool]:
        runner = InferenceRunner(1, max_pending=4)
        try:
            idle = [revision_late(10.0, runner, now) for now in (9.0, 11.0)]
            runner.busy += 1  # another session's job waits
            busy = [revision_late(10.0, runner, now) for now in (9.0, 11.0)]
            return idle + busy
        finally:
            runner.close()

    assert asyncio.run(main()) == [False, False, False, True]
