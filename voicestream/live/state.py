"""One live stream's work on the worker threads: every piece of mutable per-stream state
(resampler, VAD, streaming policy, revisions, language, speaker labels, translation
collector), in one object."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import soxr

from voicestream.asr import AsrEngine, DecodeOptions
from voicestream.asr.guards import GuardSettings, apply_guards
from voicestream.asr.speculative import SpeculativeStats
from voicestream.errors import VoicestreamError
from voicestream.live.events import FinalEvent, PartialEvent, RevisionEvent, SpeakerUpdateEvent, TranslationEvent
from voicestream.live.policy import DecodeRequest, StreamingTranscriber, StreamSettings
from voicestream.live.revision import Revision
from voicestream.live.vad_stream import SileroFrameModel, VadState
from voicestream.messages import SpeakerTurn, Word, join_words
from voicestream.subtitles.growing import live_subtitles
from voicestream.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from collections.abc import Callable

    from voicestream.diarize.base import SpeakerCount
    from voicestream.diarize.live import LiveDiarizer
    from voicestream.live.translation import FinishedSentence, LiveTranslator
    from voicestream.translate.base import Translator

log = logging.getLogger("voicestream.session")

STREAM_DECODE = DecodeOptions(beam_size=1, temperatures=(0.0, 0.4, 0.8))
"""Decoder options for live updates: greedy, short fallback ladder (final decodes only)."""
LANGUAGE_CONFIDENT = 0.7
"""Detection probability at which a multilingual stream's language is fixed."""
LANGUAGE_MIN_S = 3.0
"""A detection on less audio (s) never fixes the language, however confident: on v2_dev's
English, base put 0.77 on Japanese and 0.72 on Estonian for a first second of speech."""
REVISION_BEAM = 1
"""Beam width of a revision decode: greedy, with the full fallback ladder. On v2_dev's 62
English recordings live WER 11.63% (beam 5: 11.36%; file job 11.02%; without revisions
17.69%) at a fraction of beam search's cost, which keeps revisions from delaying other
sessions' captions (benchmarks/stream_latency.py)."""
INTERIM_MARGIN_FRAMES = 100
"""Silence frames (10 ms) after the audio in an interim update's encoder window (final
decodes and revisions keep the model's 300, which keep the punctuation of a padded window).
v2_dev's 62 English recordings replayed at one update per second (base): 6% less CPU on
interim updates, revised WER the same (11.77%), first finals 14.63% against 15.37%; none
at all cost 36% more CPU (Whisper confirmed less, so the buffer grew). Until a detected
language is settled, interim updates keep 300 too: detection shares their encoder pass."""
LANGUAGE_FIX_S = 10.0
"""Detected audio (s, summed over updates) after which the best-voted language is fixed anyway."""


@dataclass(frozen=True, slots=True)
class _Revised:
    """A decoded revision waiting to be applied: its words (stream s) and the language they
    were decoded in, detected on ``evidence_s`` of audio (0: the session's language)."""

    request: DecodeRequest
    words: list[Word]
    language: str | None
    evidence_s: float


@dataclass
class SessionStats:
    """Counters reported in ``done`` and the logs."""

    received_s: float = 0.0
    decodes: int = 0
    decoded_audio_s: float = 0.0
    speculative: SpeculativeStats = field(default_factory=SpeculativeStats)
    revisions: int = 0
    revisions_skipped: int = 0


class SessionState:
    """A stream's audio path (resampler, VAD state, policy) and its counters.

    :meth:`add_audio` runs on the event loop (cheap: resampling a frame);
    :meth:`process` runs on a worker thread (VAD and ASR) and is never entered twice
    at once for the same session.
    """

    def __init__(
        self,
        session_id: str,
        sample_rate: int,
        engine: AsrEngine,
        vad: SileroFrameModel,
        decode: DecodeOptions,
        settings: StreamSettings,
        hypothesis_drafts: bool = True,
        diarizer: LiveDiarizer | None = None,
        translation: LiveTranslator | None = None,
        choose_translator: Callable[[str], Translator] | None = None,
        inline_revisions: bool = True,
        revision_engine: AsrEngine | None = None,
    ) -> None:
        self.id = session_id
        self.sample_rate = sample_rate
        self._engine = engine
        self._revision_engine = revision_engine or engine
        self._vad = vad
        self._decode = decode
        self._vad_state = VadState()
        self.policy = StreamingTranscriber(settings, decode.language if engine.multilingual else "en")
        self.stats = SessionStats()
        self._resampler = None
        if sample_rate != SAMPLE_RATE:
            self._resampler = soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        self._hypothesis_drafts = hypothesis_drafts
        self._last_words: list[Word] = []  # every word of the previous decode, stream seconds
        self._language_votes: dict[str, float] = {}
        self.finals: list[FinalEvent] = []  # every final sent, by id (withdrawn ones emptied)
        # the ids of each policy final of the utterance not handed out for revision (a policy
        # final split where the speaker changes has several)
        self._utterance_ids: list[tuple[int, ...]] = []
        self._revising_ids: list[tuple[int, ...]] = []  # finals of each revision handed out
        self._ended: list[DecodeRequest] = []  # revisions handed out by process(), not taken yet
        self._revised: list[_Revised] = []  # decoded, not applied yet
        self.inline_revisions = inline_revisions
        self.diarizer = diarizer
        self.translation = translation
        self._choose_translator = choose_translator
        self._translation_failed = False
        self.speaker_turns: tuple[SpeakerTurn, ...] = ()  # the second pass's turns
        self._voted_s = 0.0
        self._language_evidence_s = 0.0  # longest audio (s) the language was detected on
        # a language named by the client (or an English-only model) is settled from the start;
        # one detected is settled by enough evidence, not by the first final that needs one
        self._language_settled = self.policy.language is not None
        self._inbox: list[npt.NDArray[np.float32]] = []
        self._inbox_samples = 0
        self._lock = threading.Lock()

    @property
    def inbox_s(self) -> float:
        """Seconds of received audio not yet processed."""
        return self._inbox_samples / SAMPLE_RATE

    def add_audio(self, samples: npt.NDArray[np.float32], last: bool = False) -> None:
        """Queue client audio (mono float32 at the client's rate) for processing."""
        self.stats.received_s += samples.size / self.sample_rate
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        with self._lock:
            self._inbox.append(samples.astype(np.float32, copy=False))
            self._inbox_samples += samples.size

    def _take_inbox(self) -> npt.NDArray[np.float32]:
        with self._lock:
            chunks, self._inbox, self._inbox_samples = self._inbox, [], 0
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    def process(
        self, finish: bool = False, revise_rest: bool = True
    ) -> list[PartialEvent | FinalEvent | RevisionEvent | TranslationEvent]:
        """Run VAD and ASR on the queued audio (worker thread); ``finish`` flushes everything.

        Audio is fed to the policy in steps of its update interval, so pauses and full
        buffers are finalised at the right stream time however much audio was queued;
        when behind, only the newest step gets an interim (partial) update. With ``finish``
        and ``revise_rest`` the utterances left to revise are decoded too; without
        ``revise_rest`` the last finals come back at once and :meth:`revise_rest` follows.
        """
        with self._lock:
            revised, self._revised = self._revised, []
        for done in revised:
            self._apply_revised(done)
        samples = self._take_inbox()
        step = max(1, round(self.policy.settings.update_interval_s * SAMPLE_RATE))
        chunks = [samples[i : i + step] for i in range(0, samples.size, step)] or [samples]
        events: list[PartialEvent | FinalEvent | RevisionEvent] = []
        for k, chunk in enumerate(chunks):
            newest = k == len(chunks) - 1
            if chunk.size:
                self.policy.push(chunk, self._vad.process(self._vad_state, chunk))
                if self.diarizer is not None:
                    self.diarizer.add_audio(chunk)
                if self.translation is not None:
                    self.translation.add_audio(chunk)
            if newest and finish:
                self.policy.finish()
            while (request := self.policy.next_decode(partial=newest)) is not None:
                words = self._decode_words(request)
                # nothing is confirmed in a language that may still change
                self.policy.apply(request, words, confirm=self._language_settled)
                if not request.final:
                    break  # one interim update per call keeps every stream's latency fair
            events += self._drain()
            # an utterance ends where its pause is, however much audio this call holds
            if (ended := self._hand_out()) is not None:
                if self.inline_revisions:
                    self._apply_revised(self._revision_words(ended, self._engine))
                    events += self._drain()
                else:
                    self._ended.append(ended)
        if finish and revise_rest:
            events += self.revise_rest()
        plain = [e for e in events if not isinstance(e, RevisionEvent)]
        return events + self._translate(plain, finish)

    def revise_rest(self) -> list[PartialEvent | FinalEvent | RevisionEvent]:
        """Decode and apply every utterance still to revise (worker thread; after the
        :meth:`process` with ``finish``)."""
        events: list[PartialEvent | FinalEvent | RevisionEvent] = []
        while (revision := self.take_revision()) is not None:
            self._apply_revised(self._revision_words(revision, self._engine))
            events += self._drain()
        return events

    def _drain(self) -> list[PartialEvent | FinalEvent | RevisionEvent]:
        """The policy's new events, finals labelled and numbered, revisions applied."""
        events: list[PartialEvent | FinalEvent | RevisionEvent] = []
        for group in _split_at_revisions(self.policy.events()):
            if isinstance(group, Revision):
                events += self._apply_revision(group)
                continue
            pieces = self._label_speakers(group)
            fresh = self._number_finals([e for piece in pieces for e in piece])
            self.finals.extend(e for e in fresh if isinstance(e, FinalEvent))
            ids = iter(e.id for e in fresh if isinstance(e, FinalEvent))
            self._utterance_ids += [
                tuple(next(ids) for e in piece if isinstance(e, FinalEvent))
                for source, piece in zip(group, pieces, strict=True)
                if isinstance(source, FinalEvent)
            ]
            events += fresh
        return events

    def take_revision(self) -> DecodeRequest | None:
        """The next ended utterance to decode again (:meth:`decode_revision`), or ``None``.
        Called between :meth:`process` calls."""
        return self._ended.pop(0) if self._ended else self._hand_out()

    def _hand_out(self) -> DecodeRequest | None:
        """The policy's next revision, with the ids of the finals it may replace (``replaces``
        counts the policy's finals, each of which may have been split by speaker)."""
        request = self.policy.next_revision()
        if request is not None:
            self._revising_ids.append(tuple(i for ids in self._utterance_ids[: request.replaces] for i in ids))
            self._utterance_ids = self._utterance_ids[request.replaces :]
        return request

    def decode_revision(self, request: DecodeRequest) -> None:
        """Decode a revision (worker thread, alongside :meth:`process`); the next
        :meth:`process` applies it. A failed decode leaves the first text."""
        try:
            done = self._revision_words(request, self._revision_engine)
        except Exception:
            log.warning("revision decode failed in session %s", self.id, exc_info=True)
            done = _Revised(request, [], self.policy.language, 0.0)
        with self._lock:
            self._revised.append(done)

    def skip_revision(self, request: DecodeRequest) -> None:
        """Leave a revision taken with :meth:`take_revision` undecoded: its utterance keeps its
        first text, and the next :meth:`process` hands out the next one."""
        with self._lock:
            self.stats.revisions_skipped += 1
            self._revised.append(_Revised(request, [], self.policy.language, 0.0))

    def return_revision(self, request: DecodeRequest) -> None:
        """Give back a revision taken with :meth:`take_revision` and not decoded: the next
        :meth:`process` with ``finish`` decodes it."""
        self._ended.insert(0, request)

    def _apply_revised(self, done: _Revised) -> None:
        if done.language is not None and done.evidence_s > self._language_evidence_s:
            self.policy.language, self._language_evidence_s = done.language, done.evidence_s
            self._language_settled = self._language_settled or done.evidence_s >= LANGUAGE_MIN_S
        self.policy.apply(done.request, done.words)

    def _apply_revision(self, revision: Revision) -> list[RevisionEvent]:
        """Withdraw the finals of the revised utterance and number their replacements."""
        replaced = self._revising_ids.pop(0)
        if revision.finals is None or not replaced:
            return []
        for k in replaced:
            self.finals[k] = replace(self.finals[k], words=())
        labelled = [e for piece in self._label_speakers(list(revision.finals)) for e in piece]
        fresh = [e for e in self._number_finals(labelled) if isinstance(e, FinalEvent)]
        self.finals.extend(fresh)
        return [RevisionEvent(replaced, tuple(fresh))]

    def _translate(self, events: list[PartialEvent | FinalEvent], finish: bool) -> list[TranslationEvent]:
        """Translations of the sentences these finals finish (worker thread)."""
        live = self.translation
        if live is None or self._translation_failed:
            return []
        sentences: list[FinishedSentence] = []
        for event in events:
            if isinstance(event, FinalEvent):
                sentences += live.collector.add(event.segment, event.words)
        if finish:
            sentences += live.collector.flush()
        if not sentences:
            return []
        if live.translator is None:
            source = self.policy.language or "en"
            try:
                assert self._choose_translator is not None
                live.bind(self._choose_translator(source), source)
            except VoicestreamError as e:
                self._translation_failed = True
                first = sentences[0]
                return [TranslationEvent(first.segment, first.words[0].start_s, first.words[-1].end_s,
                                         join_words(first.words), None, live.target, source, str(e))]  # fmt: skip
        return live.translate(sentences)

    def _in_order(self) -> list[int]:
        """Indices of the current finals in stream order (a revision's come after the finals
        confirmed while it was decoded, but replace earlier ones)."""
        finals = list(self.finals)
        return sorted((k for k, f in enumerate(finals) if f.words), key=lambda k: finals[k].words[0].start_s)

    @property
    def final_words(self) -> list[Word]:
        """Every current confirmed word, in stream order."""
        finals = list(self.finals)
        return [w for k in self._in_order() for w in finals[k].words]

    def _label_speakers(self, events: list[PartialEvent | FinalEvent]) -> list[list[PartialEvent | FinalEvent]]:
        """Each event as it goes out (one list per event): finals with live speaker labels,
        split where the speaker changes."""
        if self.diarizer is None or not any(isinstance(e, FinalEvent) for e in events):
            return [[e] for e in events]
        labelled = iter(self.diarizer.label([w for e in events if isinstance(e, FinalEvent) for w in e.words]))
        out: list[list[PartialEvent | FinalEvent]] = []
        for event in events:
            if not isinstance(event, FinalEvent):
                out.append([event])
                continue
            words = [next(labelled) for _ in event.words]
            out.append(
                [replace(event, words=tuple(run)) for _, run in itertools.groupby(words, key=lambda w: w.speaker)]
            )
        return out

    def _number_finals(self, events: list[PartialEvent | FinalEvent]) -> list[PartialEvent | FinalEvent]:
        ids = itertools.count(len(self.finals))
        return [replace(e, id=next(ids)) if isinstance(e, FinalEvent) else e for e in events]

    def correct_speakers(self, count: SpeakerCount | None = None) -> list[SpeakerUpdateEvent]:
        """The end-of-stream second pass (worker thread): re-diarize the whole session offline
        and relabel the finals; one update per final whose labels changed."""
        if self.diarizer is None or not self.finals:
            return []
        result = self.diarizer.second_pass(self.final_words, count)
        if result is None:
            return []
        self.speaker_turns = result.turns
        fixed = iter(result.words)
        updates: list[SpeakerUpdateEvent] = []
        for k in self._in_order():
            final = self.finals[k]
            words = tuple(next(fixed) for _ in final.words)
            if [w.speaker for w in words] != [w.speaker for w in final.words]:
                self.finals[k] = replace(final, words=words)
                updates.append(SpeakerUpdateEvent(final.id, tuple(w.speaker for w in words)))
        return updates

    def subtitles(self, fmt: str) -> str:
        """The finals so far as ``srt`` or ``vtt`` text, cut by the CLI's subtitle rules."""

        words = list(self.final_words)  # a snapshot: the worker may append meanwhile
        return live_subtitles(words, self.policy.stream_end_s, fmt)

    def _decode_words(self, request: DecodeRequest) -> list[Word]:
        settled = self._language_settled
        language = self.policy.language if settled else None
        language = language or self._detect_language(request.audio, request.final)
        # Interim updates decode greedily only: LocalAgreement confirms only words two updates
        # agree on (or, by age, words 2.5 s older than the audio's end, which the revision
        # decodes again), so a greedy decode that trips a fallback check mostly costs a word
        # that waits. Sampled fallback (best of 5 per temperature) on interim windows, often cut
        # mid-word, took half of all ASR time here for no better text; final decodes keep it.
        temperatures = self._decode.temperatures if request.final else self._decode.temperatures[:1]
        # an update whose language was just detected decodes at the model's margin: one encoder pass
        interim = not request.final and settled
        margin = INTERIM_MARGIN_FRAMES if interim else self._decode.margin_frames
        options = replace(
            self._decode, language=language, initial_prompt=request.prompt, temperatures=temperatures,
            margin_frames=margin,
        )  # fmt: skip
        segments = self._engine.transcribe(
            request.audio, 0.0, options, self._hypothesis(request), self.stats.speculative
        )
        self.stats.decodes += 1
        self.stats.decoded_audio_s += request.audio.size / SAMPLE_RATE
        words = [w for seg in apply_guards(segments, GuardSettings()) for w in seg.words]
        self._last_words = [
            replace(w, start_s=a, end_s=b) for w in words for a, b in [request.window.to_source(w.start_s, w.end_s)]
        ]
        return list(self._last_words)

    def _revision_words(self, request: DecodeRequest, engine: AsrEngine) -> _Revised:
        """A whole utterance decoded again (greedy, full fallback ladder), on ``engine`` (the
        session's, or its revision copy: the same model, so the same words). In a
        stream whose language was detected, the utterance is detected again when it is more
        audio than the language was settled on; a confident answer is used (and kept)."""
        language, evidence = self.policy.language, 0.0
        if request.audio.size == 0:
            return _Revised(request, [], language, evidence)
        seconds = request.audio.size / SAMPLE_RATE
        if self._decode.language is None and engine.multilingual and seconds > self._language_evidence_s:
            detected, probability = engine.detect_language(request.audio)
            if probability >= LANGUAGE_CONFIDENT:
                language, evidence = detected, seconds
        options = replace(self._decode, language=language, initial_prompt=request.prompt, beam_size=REVISION_BEAM)
        draft = request.draft if self._hypothesis_drafts else None  # verified, not trusted: same text
        segments = engine.transcribe(request.audio, 0.0, options, draft)
        with self._lock:
            self.stats.decodes += 1
            self.stats.revisions += 1
            self.stats.decoded_audio_s += request.audio.size / SAMPLE_RATE
        words = [w for seg in apply_guards(segments, GuardSettings()) for w in seg.words]
        placed = [
            replace(w, start_s=a, end_s=b) for w in words for a, b in [request.window.to_source(w.start_s, w.end_s)]
        ]
        return _Revised(request, placed, language, evidence)

    def _detect_language(self, audio: npt.NDArray[np.float32], final: bool = False) -> str:
        """Language of a multilingual stream whose client did not name one.

        A second or two of speech is often misjudged ("Hello? Hello?" on a phone line
        scored Norwegian or Korean at 0.4 here), so every update votes, weighted by its
        probability and length. The language is settled by a confident detection on at
        least :data:`LANGUAGE_MIN_S` of audio or by the best vote once
        :data:`LANGUAGE_FIX_S` of audio has voted. A final decode before that confirms its
        words in the leading vote (finals carry a language) without settling it: the
        updates after it keep voting, so a phone call's doubtful first "Hello?" no longer
        fixes the whole stream to Korean. Interim updates confirm nothing until it is settled.
        """
        detected, probability = self._engine.detect_language(audio)
        seconds = audio.size / SAMPLE_RATE
        self._language_votes[detected] = self._language_votes.get(detected, 0.0) + probability * seconds
        self._voted_s += seconds
        best = max(self._language_votes, key=lambda k: self._language_votes[k])
        self._language_evidence_s = max(self._language_evidence_s, seconds)
        if probability >= LANGUAGE_CONFIDENT and seconds >= LANGUAGE_MIN_S:
            self.policy.language, self._language_settled = detected, True
        elif self._voted_s >= LANGUAGE_FIX_S:
            self.policy.language, self._language_settled = best, True
        elif final or self.policy.language is not None:
            self.policy.language = best  # provisional: the finals' language until settled
        return self.policy.language or best

    def _hypothesis(self, request: DecodeRequest) -> str | None:
        """What the previous decode heard in the audio this request still holds: the draft
        the decoder verifies in one pass instead of generating token by token."""
        if not self._hypothesis_drafts:
            return None
        start = request.window.pieces[0].start_s
        return join_words([w for w in self._last_words if w.start_s >= start - 0.05]) or None


def _split_at_revisions(
    events: list[PartialEvent | FinalEvent | Revision],
) -> list[list[PartialEvent | FinalEvent] | Revision]:
    """The policy's events as runs of partials and finals, with each revision on its own."""
    out: list[list[PartialEvent | FinalEvent] | Revision] = [[]]
    for e in events:
        if isinstance(e, Revision):
            out += [e, []]
        else:
            run = out[-1]
            assert isinstance(run, list)
            run.append(e)
    return [g for g in out if not (isinstance(g, list) and not g)]
