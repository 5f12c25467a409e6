"""What live sessions share: the engines, the inference and speech workers, the speech
synthesizers and their helper process; and the checks that open a session."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from voicestream import registry
from voicestream.asr import AsrEngine, FasterWhisperEngine, language_codes
from voicestream.audio.stretch import Stretch, stretch
from voicestream.errors import OptionError, VoicestreamError
from voicestream.helper import HelperProcess
from voicestream.live.options import SessionOptions
from voicestream.live.pause import PauseWhileBusy
from voicestream.live.policy import StreamSettings
from voicestream.live.runner import REVISION_NICE, InferenceRunner, Workers, started_at_low_priority
from voicestream.live.session import LiveSession
from voicestream.live.speech.voices import LiveVoices, warm_up_pitch
from voicestream.live.state import STREAM_DECODE, SessionState
from voicestream.live.translation import LiveTranslator
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.registry import create_synthesizers
from voicestream.translate.base import Translator
from voicestream.translate.choose import available, choose
from voicestream.tts.cast import catalog
from voicestream.tts.remote import RemoteStretch, remote_synthesizers

if TYPE_CHECKING:
    from voicestream.diarize.live import LiveDiarizer, SpeakerModels
    from voicestream.live.speech.voices import LiveVoices
    from voicestream.tts.base import Synthesizer

log = logging.getLogger("voicestream.live")


def create_revision_engine(model: str | None, compute_type: str = "default") -> FasterWhisperEngine:
    """A CPU copy of ``model`` for live revisions: one worker on one thread, no draft model (a
    revision verifies the utterance's first text as its draft), its compute thread lowered to
    :data:`~voicestream.live.runner.REVISION_NICE` so that captions keep most of the cores."""
    return started_at_low_priority(
        lambda: registry.create_asr_engine(model, "cpu", compute_type, workers=1, cpu_threads=1), REVISION_NICE
    )


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """How live sessions run.

    Attributes:
        workers: Inference threads.
        max_sessions: Sessions at once (bounds the jobs waiting for a worker).
        hypothesis_drafts: Verify each update's previous hypothesis as a draft instead of
            generating it again token by token (same text, fewer decoder passes).
        max_speaker_audio_s: Audio (s) a diarized session keeps for its end-of-stream second
            pass (int16, 32 kB/s); longer sessions keep their live labels.
        speech_helper: Synthesize live speech in a helper process that is stopped while
            captions decode (``False``: on a low-priority thread of this process, which
            slows decodes where cores share hardware).
        warm_speech: At start, also start the speech helper and load each engine's model
            for the languages it speaks, so a session's first seconds of captions do not
            wait for that.
        events: Events queued for a slow consumer before partials are skipped.
        stream: The streaming policy's settings.
    """

    workers: int = 1
    max_sessions: int = 4
    hypothesis_drafts: bool = True
    max_speaker_audio_s: float = 3600.0
    speech_helper: bool = True
    warm_speech: bool = False
    events: int = 256
    stream: StreamSettings = field(default_factory=StreamSettings)


class LiveServices:
    """Engines and workers shared by every live session of a process (one model, one
    pool of inference threads, one speech helper); :meth:`open` makes sessions."""

    def __init__(
        self,
        engine: AsrEngine,
        vad: SileroFrameModel,
        settings: LiveSettings | None = None,
        diarization: SpeakerModels | None = None,
        revision_engine: AsrEngine | None = None,
    ) -> None:
        """``revision_engine``: a copy of ``engine`` whose compute threads run at low priority
        (:func:`~voicestream.live.runner.started_at_low_priority`): the sessions decode their
        revisions on it, as soon as each is due, and the kernel shares the cores by weight, so
        captions keep most of them under load (``None``: revisions take the inference workers
        when they are idle, or overdue)."""
        self.engine = engine
        self.revision_engine = revision_engine
        self.vad = vad
        self.settings = settings or LiveSettings()
        self.diarization = diarization
        self.pause = PauseWhileBusy()  # the speech helper stops while captions decode
        self.stretch: Stretch = stretch
        """Pitch-preserving speed-up of speech clips (in the speech helper with ``speech_helper``)."""
        self.speak_to: list[str] = []
        """Translation targets some installed voice speaks (known after :meth:`start`)."""
        self._workers: Workers | None = None
        self._synthesizers: list[Synthesizer] | None = None
        self._speech_helper: HelperProcess | None = None

    async def start(self) -> None:
        """Start the workers and find what can be spoken (and warm it with ``warm_speech``)."""
        pending = self.settings.max_sessions + 1
        inference = InferenceRunner(self.settings.workers, max_pending=pending)
        revision = InferenceRunner(1, max_pending=pending) if self.revision_engine is not None else None
        self._workers = Workers(inference, InferenceRunner(1, max_pending=pending, nice=10), self.pause, revision)
        self.speak_to = await asyncio.to_thread(self._speech_targets)

    async def close(self) -> None:
        """Stop the workers and the speech helper."""
        if self._workers is not None:
            await asyncio.to_thread(self._workers.inference.close)
            await asyncio.to_thread(self._workers.speech.close)
            if self._workers.revision is not None:
                await asyncio.to_thread(self._workers.revision.close)
        if self._speech_helper is not None:
            await asyncio.to_thread(self._speech_helper.close)

    @property
    def workers(self) -> Workers:
        """The inference and speech workers (after :meth:`start`)."""
        assert self._workers is not None, "LiveServices.start() first"
        return self._workers

    @property
    def speech_helper(self) -> HelperProcess | None:
        """The process speech is synthesized in, once started."""
        return self._speech_helper

    def translation_targets(self) -> list[str]:
        """Languages some installed translator can translate into (from some source)."""
        return sorted({pair.split("->")[1] for t in available(self.engine) for pair in t.pairs()})

    def synthesizers(self) -> list[Synthesizer]:
        """The speech synthesizers, created on first use (worker thread: imports and voice
        listing are slow) and shared by all sessions; with ``speech_helper`` they speak in
        the helper process, on all cores whenever no caption decode runs."""
        if self._synthesizers is None:
            if not self.settings.speech_helper:
                self._synthesizers = create_synthesizers(threads=1)
            else:
                synthesizers, helper = remote_synthesizers(create_synthesizers(), threads=None, nice=10)
                self.pause.watch(lambda: helper.pid)
                self._speech_helper = helper
                self.stretch = RemoteStretch(helper)
                self._synthesizers = list(synthesizers)
        return self._synthesizers

    def _speech_targets(self) -> list[str]:
        """Translation targets some installed voice speaks (worker thread, once at start)."""

        try:
            synthesizers = self.synthesizers()
        except ImportError:
            return []
        targets = [t for t in self.translation_targets() if catalog(t, synthesizers)]
        if self.settings.warm_speech and targets:
            self._warm_speech(targets)
        return targets

    def _warm_speech(self, targets: list[str]) -> None:
        """Load what a session that speaks will need (worker thread, at start): the pitch
        tracker, and each engine's model with its best voice among ``targets``."""

        warm_up_pitch()
        engines = {s.name: s for s in self.synthesizers()}
        loaded: set[str] = set()
        for target in targets:
            voice = catalog(target, list(engines.values()))[0]
            if voice.engine not in loaded:
                loaded.add(voice.engine)
                try:
                    engines[voice.engine].synthesize("ok", voice)
                except VoicestreamError as e:  # a session that asks for this voice will be told
                    log.warning("could not load the %s voice at start: %s", voice.engine, e)

    async def open(self, session_id: str, sample_rate: int, options: SessionOptions) -> LiveSession:
        """A new session for audio at ``sample_rate`` (Hz), checked against what this process
        can do.

        Raises:
            OptionError: an unknown language, a task or language the model cannot do,
                speaker labels without speaker models, a translation pair or voice that no
                installed engine offers.
        """
        self._check(options)
        translation, choose_translator = self._translation(options)
        voices = await asyncio.to_thread(self._voices, options) if options.speak else None
        decode = replace(STREAM_DECODE, language=options.language, task=options.task, hotwords=options.vocabulary)
        # a translated or spoken sentence was already sent from the first text: it stays
        revise = self.settings.stream.revise and options.revise and options.translate_to is None
        settings = replace(self.settings.stream, partials=options.partials, revise=revise)
        state = SessionState(
            session_id, sample_rate, self.engine, self.vad, decode, settings, self.settings.hypothesis_drafts,
            self._diarizer(options), translation, choose_translator, inline_revisions=False,
            revision_engine=self.revision_engine,
        )  # fmt: skip
        if voices is not None and translation is not None:
            voices.source = translation.audio_between  # voices match their speakers' pitch
        return LiveSession(self.workers, state, options, voices, self.settings.events)

    def _check(self, options: SessionOptions) -> None:
        if options.language is not None and options.language not in language_codes():
            raise OptionError(f"unknown language {options.language!r}")
        if not self.engine.multilingual and (options.task == "translate" or options.language not in (None, "en")):
            raise OptionError(f"model {self.engine.name} is English-only")
        if options.diarize and self.diarization is None:
            raise OptionError("this server has no speaker labels (start it with --diarize)")

    def _diarizer(self, options: SessionOptions) -> LiveDiarizer | None:
        if not options.diarize or self.diarization is None:
            return None
        from voicestream.diarize.live import LiveDiarizer  # needs SciPy (the diarize extra)
        from voicestream.diarize.online import OnlineSettings  # needs SciPy (the diarize extra)

        limit = options.num_speakers or options.max_speakers
        online = OnlineSettings(max_speakers=limit) if limit else OnlineSettings()
        return LiveDiarizer(self.diarization, online, self.settings.max_speaker_audio_s)

    def _translation(self, options: SessionOptions) -> tuple[LiveTranslator | None, Callable[[str], Translator] | None]:
        """The session's live translator state and engine chooser, checked now where the
        source language is known."""
        if options.translate_to is None:
            return None, None
        target = options.translate_to.lower()
        if target not in language_codes():
            raise OptionError(f"unknown translate_to language {target!r}")
        live = LiveTranslator(target)
        if options.language is not None:  # known now: choose once, refuse an impossible pair at once
            live.bind(choose(options.language, target, None, self.engine), options.language)
        return live, functools.partial(choose, target=target, name=None, engine=self.engine)

    def _voices(self, options: SessionOptions) -> LiveVoices:
        """The session's speech (worker thread): its voice is checked and loaded now."""

        assert options.translate_to is not None
        try:
            synthesizers = self.synthesizers()  # first: with the helper, this sets self.stretch
            return LiveVoices(synthesizers, options.translate_to, options.speak_voice, stretch=self.stretch)
        except VoicestreamError as e:
            raise OptionError(str(e)) from None
