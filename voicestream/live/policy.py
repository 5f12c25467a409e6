"""The streaming policy: when to decode, what to confirm, when to finalise. Sans-I/O.

The caller feeds 16 kHz audio with its VAD frame probabilities (:meth:`push`), asks
for decode work (:meth:`next_decode`), runs the ASR engine itself, hands back the
words (:meth:`apply`) and drains partial/final events (:meth:`events`). No clocks,
threads or sockets here: everything is driven by stream time.

How text becomes final:
- every ``update_interval_s`` of new audio while speech is in the buffer, the
  unconfirmed buffer is re-decoded with the confirmed text as prompt;
- the prefix two consecutive hypotheses agree on is confirmed (LocalAgreement-2)
  and sent as a ``final``, as are the words ending ``confirm_age_s`` before the audio's
  end (a session behind real time decodes seldom); the rest is sent as a ``partial``
  revision;
- a silence of ``end_silence_s`` after speech finalises everything heard so far;
- confirmed audio stays in the buffer as acoustic context (re-decoded words before
  the confirmed point are dropped by time and by n-gram overlap); the buffer is cut
  after confirmed sentence ends past ``trim_after_s``, at the last confirmed word past
  ``max_buffer_s`` and after long pauses, so the cost of an update does not grow
  with the session.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voicestream.live.agreement import agreed_prefix, drop_overlap
from voicestream.live.events import FinalEvent, PartialEvent
from voicestream.live.revision import KEEP_BEFORE_S, REVISE_MAX_S, Revision, revision_span, utterance_words
from voicestream.messages import SpeechRegion, Word, join_words, monotonic_words
from voicestream.sentences import attach_punctuation, ends_sentence, has_end_mark, is_mark
from voicestream.timebase import SAMPLE_RATE, samples_to_seconds, seconds_to_samples
from voicestream.vad import Window

VAD_FRAME_S = 512 / SAMPLE_RATE
"""Seconds covered by one VAD probability (512 samples)."""
TRAILING_TOLERANCE_S = 0.2
"""Words may start this long (s) after the VAD's end of speech (its timing lags a little)."""


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Tuning of the streaming policy.

    Attributes:
        update_interval_s: New audio (s) needed before the next re-decode.
        end_silence_s: Silence (s) after speech that finalises the segment.
        max_buffer_s: Past this buffer length (s), cut at the last confirmed word.
        trim_after_s: Past this buffer length (s), cut after a confirmed sentence end. 3 s
            rather than 6: each update re-encodes less confirmed audio. Replayed on v2_dev's 62
            English recordings and the 87 s long-form file (base, the two values the only
            ones tried): WER 11.63% / 2.04% at 3 s against 11.77% / 2.45% at 6 s, 15% less
            CPU (0.59 vs 0.69 CPU s per audio s on one thread); with 1 s updates (a loaded
            server) 11.50% vs 11.70% and 11% less CPU.
        force_final_s: A buffer this long (s) is finalised whatever the agreement.
        pre_roll_s: Audio (s) kept before speech that follows a long pause.
        keep_silence_s: A pause this long (s) is cut out of the buffer; the last
            ``context_s`` of confirmed speech before it is spliced in front of what follows.
        context_s: Confirmed speech (s) kept as context across a long pause.
        vad_threshold: Frame probability at or above which speech starts.
        vad_neg_threshold: Frame probability below which silence is counted.
        prompt_words: Confirmed words given to the decoder as context.
        settle_s: An agreed last word is confirmed only when this much audio (s) follows it.
        mark_settle_s: An agreed word ending in a sentence mark ("blood.") is confirmed only
            when this much audio (s) follows it or the next word is agreed too: Whisper
            ends every window that stops mid-sentence with a full stop.
        min_confirm_s: No word is confirmed from a window shorter than this (s): decodes of
            the first second of speech are guesses, and two agreeing guesses are still wrong.
        partials: Whether partial events are produced.
        revise: Whether each utterance's finals are decoded again as a whole once it ends
            (a pause, or a sentence end past ``revise_after_s``) and replaced when the
            result differs: words confirmed from short windows become the file job's text.
        revise_pause_s: A pause this long (s) ends the utterance to revise; shorter pauses
            (commas, breaths) keep it going, so that it is decoded with its context.
        revise_after_s: Confirmed speech (s) after which the next confirmed sentence end
            closes the utterance even without a pause.
        confirm_age_s: A word that ends at least this long (s) before the end of the audio
            (and starts after a spliced context) is confirmed from a single decode, without
            waiting for the next to agree (``None``: agreement only). A session behind real
            time decodes every 2 s or more, and agreement kept its words for two such
            decodes. Replayed (base) on v2_dev's 62 English recordings joined into 8
            sessions, at one decode per 2 s: words confirmed (stream time) p95 4.14 s after
            their end against 6.63 s, first finals 14.90% WER against 14.49%, revised 12.31%
            against 12.45%; per 1 s 3.08
            vs 3.64 s, 16.46% vs 15.78%, 12.52% vs 12.59%. 2.0 s (15.51% / 12.31% / 3.86 s
            at 2 s) and 1.5 s (16.87% / 13.27% / 3.42 s) cost more text. Not fitted on the
            87 s long-form file: at 2 s, p95 3.76 vs 5.37 s, first finals 2.45% vs 2.86%,
            revised 2.04% both; at 1 s unchanged.
        reuse_final_s: A final due at a pause takes the last update's words without a decode
            of its own when that update read this much audio (s) past the end of the speech
            (``None``: every final is decoded): the final is the partial on screen, at once.
            Not fitted: ``settle_s``'s 0.4 s. Replayed (base) on v2_dev's 62 English
            recordings one by one (one update per 0.5 s), 24 of 101 finals took no decode,
            3% less CPU, revised WER 11.70% against 11.77%, first finals 16.80% against
            16.33%; joined into 8 sessions at one update per 1 s: 10 of 104, the same CPU,
            12.38% / 15.78% against 12.52% / 16.46%; per 2 s: 6 of 105, 4% less CPU,
            12.38% / 14.69% against 12.31% / 14.90%. Text within noise either way. Off by
            default: no latency or CPU gain under load (``benchmarks/load.py``, base, N = 1
            and 8, four alternating runs: p95 and CPU within each other's spread).
    """

    update_interval_s: float = 0.5
    end_silence_s: float = 0.6
    max_buffer_s: float = 15.0
    trim_after_s: float = 3.0
    force_final_s: float = 25.0
    pre_roll_s: float = 0.3
    keep_silence_s: float = 3.0
    context_s: float = 3.0
    vad_threshold: float = 0.5
    vad_neg_threshold: float = 0.35
    prompt_words: int = 40
    settle_s: float = 0.4
    mark_settle_s: float = 1.0
    min_confirm_s: float = 2.0
    partials: bool = True
    revise: bool = True
    revise_pause_s: float = 1.5
    revise_after_s: float = 15.0
    confirm_age_s: float | None = 2.5
    reuse_final_s: float | None = None


MAX_PAUSES = 64
"""Long pauses remembered while their utterances wait for revision (a session far behind)."""
REUSE_GAP_S = 1.0
"""Speech (s) at its end that the last update may have left without words for its words to
become the final (``StreamSettings.reuse_final_s``); more, and the final is decoded."""
CONTEXT_GIVE_UP_S = 2.0
"""Audio (s) from the end of the spliced context (pre-roll included) to the last speech that
an interim decode reading nothing past the context must span before the context is dropped
(a word just begun may not read yet)."""


@dataclass(frozen=True, slots=True)
class DecodeRequest:
    """Decode ``audio`` (float32 ``(n,)``, 16 kHz): the pieces of ``window`` joined.

    Attributes:
        window: Where the joined audio comes from in the stream; map decoded times
            back with ``window.to_source``.
        prompt: Confirmed text before the window, as decoder context.
        final: Confirm every word of the result (silence, stop, or a too-long buffer).
        speech_end_s: Where the VAD last heard speech (s); words starting well after it
            are invented in the trailing silence.
        revision: A whole utterance decoded again (:attr:`StreamSettings.revise`), with
            its full fallback ladder.
        replaces: For a revision, how many finals it replaces: the oldest of those not
            handed out for revision yet.
        draft: For a revision, the utterance's first text: the decoder verifies it in
            batches instead of generating it token by token, with the same result.
    """

    audio: npt.NDArray[np.float32]
    window: Window
    prompt: str | None
    final: bool
    speech_end_s: float
    revision: bool = False
    replaces: int = 0
    draft: str | None = None

    @property
    def end_s(self) -> float:
        """Stream time (s) at the end of the audio."""
        return self.window.end_s


class StreamingTranscriber:
    """Per-stream policy state. One instance per session; not thread-safe by design."""

    def __init__(self, settings: StreamSettings | None = None, language: str | None = None) -> None:
        self.settings = settings or StreamSettings()
        self.language = language
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # stream sample index of _buffer[0]
        self._last_decode_end_s = 0.0
        self._update_end_s = -1.0  # end (stream s) of the update whose words _hypothesis holds
        self._pending = False  # speech heard since the last final decode
        self._speaking = False
        self._silence_s = 0.0
        self._finalise = False
        self._finished = False
        self._shown: list[Word] = []  # the words of the last partial sent
        self._committed: list[Word] = []  # recent confirmed words (prompt and overlap checks)
        self._committed_end_s = 0.0
        self._hypothesis: list[Word] = []
        self._context: tuple[float, npt.NDArray[np.float32]] | None = None  # (start s, audio) spliced in front
        self._segment = 0
        self._revision = 0
        self._segment_open = False  # the segment has finals and no sentence end yet
        self._events: list[PartialEvent | FinalEvent | Revision] = []
        self.finals = 0
        self._tape = np.zeros(0, dtype=np.float32)  # audio kept for revising the utterance
        self._tape_start = 0  # stream sample index of _tape[0]
        self._utterance: list[Word] = []  # words confirmed since the last revision
        self._utterance_finals: list[tuple[int, int]] = []  # (words, segment) of each of its finals
        self._pauses: list[float] = []  # stream s where the long pauses since the utterance began
        self._before: list[Word] = []  # confirmed words before the utterance (its prompt)
        self._revise_due = False
        # the utterance out for revision, the words before it, and (start s, segment) of each of its finals
        self._revising: tuple[list[Word], list[Word], list[tuple[float, int]]] | None = None

    @property
    def _buffer_start_s(self) -> float:
        return samples_to_seconds(self._buffer_start)

    @property
    def stream_end_s(self) -> float:
        """Stream time (s) of the last sample received."""
        return self._buffer_start_s + samples_to_seconds(self._buffer.size)

    @property
    def buffer_s(self) -> float:
        """Seconds of audio held for re-decoding."""
        return samples_to_seconds(self._buffer.size)

    @property
    def tape_s(self) -> float:
        """Seconds of audio kept for revisions (from the oldest utterance not revised yet)."""
        return samples_to_seconds(self._tape.size)

    def push(self, samples: npt.NDArray[np.float32], speech_probs: npt.NDArray[np.float32]) -> None:
        """Append audio (float32 ``(n,)``, 16 kHz) and the VAD probabilities of the frames it completed."""
        s = self.settings
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        if s.revise:
            self._tape = np.concatenate([self._tape, samples.astype(np.float32, copy=False)])
        first_frame_end_s = self.stream_end_s - (len(speech_probs) - 1) * VAD_FRAME_S
        for k, p in enumerate(speech_probs):
            if p >= s.vad_threshold:
                self._speaking = True
                self._pending = True
                self._silence_s = 0.0
            elif p < s.vad_neg_threshold:
                self._silence_s += VAD_FRAME_S
                if self._speaking and self._silence_s >= s.end_silence_s:
                    self._speaking = False
                    self._finalise = True
                if s.revise and not self._speaking and self._silence_s >= s.revise_pause_s:
                    self._note_pause(first_frame_end_s + k * VAD_FRAME_S - self._silence_s)
        if not self._pending and self._silence_s >= s.keep_silence_s:
            # A long pause: keep the end of the confirmed speech as context to splice in
            # front of the next words (a lone word decoded alone is often misheard),
            # and only a pre-roll of the silence.
            if s.context_s > 0 and self._committed_end_s > self._buffer_start_s:
                ctx_start = max(self._buffer_start_s, self._committed_end_s - s.context_s)
                self._context = (ctx_start, self._slice(ctx_start, self._committed_end_s + s.pre_roll_s))
            self._trim_to(self.stream_end_s - s.pre_roll_s)
        self._trim_tape()

    def _note_pause(self, began_s: float) -> None:
        """A long pause (``revise_pause_s``) that began at ``began_s`` (stream s) ends the
        utterance: due for revision, and remembered, as its finals may come later (a session
        behind real time) and the next utterance's with them."""
        s = self.settings
        self._revise_due = self._revise_due or bool(self._utterance)
        if self._pauses and began_s <= self._pauses[-1] + s.revise_pause_s:
            return  # the same pause
        since = self._utterance[0].start_s if self._utterance else max(self._committed_end_s, self._buffer_start_s)
        self._pauses = [*self._pauses_after(since)[-MAX_PAUSES + 1 :], began_s]

    def finish(self) -> None:
        """No more audio: the next decode (if any speech is pending) is final, and the
        utterance confirmed so far is due for revision (after that decode)."""
        self._finished = True
        self._revise_due = self.settings.revise and bool(self._utterance)

    def next_decode(self, partial: bool = True) -> DecodeRequest | None:
        """Decode work due now, or ``None``.

        Args:
            partial: Whether an interim (partial) update may be returned; a caller that
                is behind real time passes ``False`` for all but its newest audio, and
                only the final decodes (at pauses, at the end, for a full buffer) run.
        """
        s = self.settings
        if not self._pending or self._buffer.size == 0:
            return None
        final = self._finalise or self._finished or self.buffer_s >= s.force_final_s
        speech_end = self.stream_end_s - (0.0 if self._speaking else self._silence_s)
        if final and self._reusable(speech_end):
            # the last update read all the speech and a pause after it: its words are the final
            self._final(list(self._hypothesis), self.stream_end_s)
            return self.next_decode(partial)
        if not final and (not partial or self.stream_end_s - self._last_decode_end_s < s.update_interval_s):
            return None
        if self._committed_end_s - self._buffer_start_s >= s.context_s:
            self._context = None  # the buffer holds enough confirmed speech of its own
        pieces = [SpeechRegion(self._buffer_start_s, self.stream_end_s)]
        audio = self._buffer.copy()
        if self._context is not None:
            start, samples = self._context
            pieces.insert(0, SpeechRegion(start, start + samples_to_seconds(samples.size)))
            audio = np.concatenate([samples, audio])
        # Only confirmed words whose audio is not in the window: a prompt repeating words
        # the audio still holds makes Whisper emit them twice.
        context = [w for w in self._committed if w.end_s <= pieces[0].start_s + 0.05]
        prompt = join_words(context[-s.prompt_words :]) or None
        return DecodeRequest(audio, Window(tuple(pieces)), prompt, final, speech_end)

    def apply(self, request: DecodeRequest, words: list[Word], confirm: bool = True) -> None:
        """Take the words (stream seconds) decoded for ``request``; with ``confirm`` false an
        interim update only shows them (the session's language is not settled yet)."""
        if request.revision:
            self._revise(request, words)
            return
        self._last_decode_end_s = request.end_s
        fresh = [
            w
            for w in words
            if (w.end_s > self._committed_end_s + 0.05 or w.start_s >= self._committed_end_s)
            and w.start_s <= request.speech_end_s + TRAILING_TOLERANCE_S
        ]
        fresh = drop_overlap(self._committed, fresh)
        # No final is punctuation alone (tiny.en closed JFK's speech with a second "."): a mark
        # inside the decode joins its neighbour; one opening the decode belonged to a word
        # already confirmed (faster-whisper only joins marks to words of the same decode).
        fresh = attach_punctuation(list(itertools.dropwhile(lambda w: is_mark(w.text), fresh)))
        heard_s = request.speech_end_s - request.window.pieces[-1].start_s  # speech after the context
        if (
            not fresh
            and len(request.window.pieces) > 1
            and self._committed_end_s <= request.window.pieces[-1].start_s  # nothing confirmed past it
            and (request.final or heard_s >= CONTEXT_GIVE_UP_S)
        ):
            # Whisper read the spliced context and stopped ("So thanks." then end of text, on
            # every decode of 30 s of new speech after it: under load, whole recordings were
            # lost): the context goes, and a final decode is due again without it
            self._context = None
            self._update_end_s = -1.0  # the final is decoded again, without the context
            if request.final:
                return
        if request.final:
            if not words and self._shown:
                # The final decode heard nothing (a guard dropped the window) where the last
                # partial showed words: confirm what the reader saw rather than lose it.
                fresh = [w for w in self._shown if w.start_s >= self._committed_end_s - 0.05]
            self._final(fresh, request.end_s)
            return
        # A word at the very end of the audio is the least stable (its end, its
        # punctuation): it waits for a later word or for audio after it.
        n = agreed_prefix(self._hypothesis, fresh) if confirm else 0
        if confirm and self.settings.confirm_age_s is not None:
            # age is audio the decoder read after the word: a spliced context's cut pause is none
            old, since = request.end_s - self.settings.confirm_age_s, request.window.pieces[-1].start_s
            n = max(n, sum(1 for _ in itertools.takewhile(lambda w: since <= w.start_s and w.end_s <= old, fresh)))
        if request.window.duration_s < self.settings.min_confirm_s:
            n = 0
        if n and self._waits(fresh[n - 1], n == len(fresh), request.end_s):
            n -= 1
        self._commit(fresh[:n])
        self._hypothesis = fresh[n:]
        # an update that only shows its words (a language not settled) is no final
        spliced_and_dropped = len(request.window.pieces) > 1 and self._context is None
        self._update_end_s = request.end_s if confirm and not spliced_and_dropped else -1.0
        if n:
            self._shown = []  # a final clears the reader's partial
        if self.settings.partials and self._hypothesis:
            self._revision += 1
            self._events.append(PartialEvent(self._segment, self._revision, tuple(self._hypothesis), self.language))
            self._shown = list(self._hypothesis)
        self._trim_buffer()

    def _final(self, fresh: list[Word], end_s: float) -> None:
        """Confirm ``fresh`` as the final of the audio up to ``end_s`` (stream s) and close the segment."""
        self._last_decode_end_s = end_s
        self._update_end_s = -1.0
        self._shown = []
        self._commit(fresh)
        # the utterance goes on after a final at a short pause (revised once the pause is
        # long) unless the stream ended or it no longer fits a revision; a sentence end
        # past revise_after_s does not end it here: longer revisions read better (v2_dev)
        ended = self._finished or self._ended(self._utterance)
        self._revise_due = self.settings.revise and bool(self._utterance) and ended
        self._hypothesis = []
        self._close_segment()
        self._finalise = False
        self._pending = self._speaking and not self._finished
        if self._finished:
            self._trim_to(end_s)
        else:  # confirmed audio stays as context for the next words, up to the trim limits
            self._trim_buffer()
            if self.buffer_s >= self.settings.force_final_s:
                # a forced final that confirmed nothing (every window dropped by a guard):
                # keep only the last seconds, or the next update would be the same final
                self._trim_to(max(self._committed_end_s, end_s - self.settings.trim_after_s))

    def _reusable(self, speech_end_s: float) -> bool:
        """Whether the last update's words can be the final due now: that update read
        ``reuse_final_s`` of the pause after ``speech_end_s`` (nothing was heard since) and
        its last word (or the last confirmed one) ends at most ``REUSE_GAP_S`` before it."""
        margin = self.settings.reuse_final_s
        if margin is None or self._update_end_s < speech_end_s + margin:
            return False
        heard_end_s = self._hypothesis[-1].end_s if self._hypothesis else self._committed_end_s
        return heard_end_s >= speech_end_s - REUSE_GAP_S

    def _waits(self, word: Word, last: bool, end_s: float) -> bool:
        """Whether the last agreed ``word`` waits for a later update (``last``: no unconfirmed
        word follows it in this decode; ``end_s``: stream time at the end of the audio)."""
        s = self.settings
        if last and word.end_s > end_s - s.settle_s:
            return True
        return has_end_mark(word.text) and word.end_s > end_s - s.mark_settle_s

    @property
    def revision_due(self) -> bool:
        """Whether an utterance has ended and waits to be handed out for revision."""
        return self._revise_due and bool(self._utterance)

    def next_revision(self) -> DecodeRequest | None:
        """The ended utterance to decode again, or ``None``; one at a time: none while the
        last one's words have not been applied. A new utterance starts now.

        Utterances that ended while the last one was being decoded wait their turn, each
        on its own, as they would have been revised with idle workers (joined across their
        pauses, 8 tiny.en sessions under load read up to 3 points worse than their first
        text). An utterance that grew past :data:`REVISE_MAX_S` before it was handed out (a
        session behind real time confirms many seconds at once) goes out as its longest
        run of whole finals that fits; the rest waits for the next revision."""
        if not self._revise_due or self._revising is not None or not self._utterance:
            return None
        if self._pending and (self._finalise or self._finished):
            return None  # the final decode due may still add words to it
        k = self._fitting_finals()
        sizes = [size for size, _ in self._utterance_finals[:k]]
        n = sum(sizes)
        words, rest = self._utterance[:n], self._utterance[n:]
        following = rest or self._hypothesis  # the words heard after it, if any
        request = self._revision_request(words, k, following[0].start_s if following else None)
        starts = [words[i].start_s for i in itertools.accumulate(sizes[:-1], initial=0)]
        segments = [segment for _, segment in self._utterance_finals[:k]]
        self._revising = (words, self._before, list(zip(starts, segments, strict=True)))
        self._before = (self._before + words)[-self.settings.prompt_words :]
        self._utterance, self._utterance_finals = rest, self._utterance_finals[k:]
        self._pauses = self._pauses_after(words[-1].end_s)
        paused = not self._speaking and self._silence_s >= self.settings.revise_pause_s
        ended = self._finished or paused or self._ended(rest)
        self._revise_due = bool(rest) and ended
        return request

    def _fitting_finals(self) -> int:
        """How many of the utterance's first finals (at least one) span at most
        :data:`REVISE_MAX_S`, up to the first long pause after them."""
        start, k, n = self._utterance[0].start_s, 1, self._utterance_finals[0][0]
        for size, _ in self._utterance_finals[1:]:
            if self._paused_between(self._utterance[n - 1], self._utterance[n].start_s):
                break
            if self._utterance[n + size - 1].end_s - start > REVISE_MAX_S:
                break
            k, n = k + 1, n + size
        return k

    def _pauses_after(self, since_s: float) -> list[float]:
        """The remembered pauses whose middle (see :meth:`_paused_between`) is after ``since_s``."""
        half = self.settings.revise_pause_s / 2
        return [p for p in self._pauses if p + half > since_s]

    def _paused_between(self, word: Word, until_s: float) -> bool:
        """Whether a long pause lies between ``word`` and ``until_s`` (stream s): the middle
        of the shortest such pause (from where it began) falls after the word ends and
        before ``until_s`` (Whisper's word ends often run into the silence)."""
        half = self.settings.revise_pause_s / 2
        return any(word.end_s < p + half < until_s for p in self._pauses)

    def _ended(self, words: list[Word]) -> bool:
        """Whether the utterance ``words`` has ended: a long pause lies between two of its
        words or after the last, or it no longer fits a revision."""
        if not words:
            return False
        after = [b.start_s for b in words[1:]] + [math.inf]
        return _span(words) >= REVISE_MAX_S or any(map(self._paused_between, words, after))

    def _revision_request(self, words: list[Word], finals: int, next_s: float | None) -> DecodeRequest:
        """The audio of ``words`` (the utterance: ``finals`` finals), padded up to the next
        word heard (which starts at ``next_s``, stream s), with the words before it as prompt."""
        first, last = words[0].start_s, words[-1].end_s
        start, end = revision_span(first, last, self._tape_start / SAMPLE_RATE, self.stream_end_s, next_s)
        a = seconds_to_samples(start) - self._tape_start
        b = max(a, seconds_to_samples(end) - self._tape_start)
        prompt = join_words(self._before[-self.settings.prompt_words :]) or None
        window = Window((SpeechRegion(start, end),))
        audio = self._tape[a:b].copy()
        return DecodeRequest(audio, window, prompt, False, end, revision=True, replaces=finals, draft=join_words(words))

    def _revise(self, request: DecodeRequest, words: list[Word]) -> None:
        """Replace the revised utterance's finals by ``words`` (stream seconds) where they
        differ and look whole."""
        assert self._revising is not None, "apply() of a revision that next_revision() did not hand out"
        old, before, replaced = self._revising
        self._revising = None
        # the words confirmed since it was handed out start the next utterance
        new = utterance_words(words, old, before, self._utterance[0].start_s if self._utterance else None)
        finals: tuple[FinalEvent, ...] | None = None
        if new is not None:
            out: list[FinalEvent] = []
            run: list[Word] = []
            for i, w in enumerate(new):
                run.append(w)
                if i == len(new) - 1 or ends_sentence(w, new[i + 1]):
                    out.append(FinalEvent(_segment_at(replaced, run[0].start_s), tuple(run), self.language))
                    run = []
            self.finals += len(out)
            finals = tuple(out)
        self._events.append(Revision(finals))
        if new is not None:
            n = self.settings.prompt_words
            later = [w for w in self._committed if w.start_s > old[-1].start_s]  # confirmed meanwhile
            self._before = (before + new)[-n:]
            self._committed = (before + new + later)[-n:]
            self._committed_end_s = max(self._committed_end_s, new[-1].end_s)
        self._trim_tape()

    def _trim_tape(self) -> None:
        """Keep the audio a revision may need: from the utterance (or the buffer) on."""
        if not self.settings.revise:
            return
        starts = [self._buffer_start_s] + ([self._context[0]] if self._context is not None else [])
        for words in (self._utterance, self._revising[0] if self._revising else []):
            if words:
                starts.append(words[0].start_s)
        cut = seconds_to_samples(min(starts) - KEEP_BEFORE_S) - self._tape_start
        cut = min(cut, self._tape.size)
        if cut > 0:
            self._tape = self._tape[cut:]
            self._tape_start += cut

    def events(self) -> list[PartialEvent | FinalEvent | Revision]:
        """Events produced since the last call."""
        out, self._events = self._events, []
        return out

    def _commit(self, words: list[Word]) -> None:
        if not words:
            return
        if self._segment_open and self._committed and ends_sentence(self._committed[-1], words[0]):
            self._close_segment()  # the last final ended on "U.S." and a capital came next
        run: list[Word] = []
        for i, w in enumerate(words):
            run.append(w)
            if ends_sentence(w, words[i + 1] if i + 1 < len(words) else None):
                self._emit_final(run)
                self._close_segment()
                run = []
        if run:
            self._emit_final(run)

    def _emit_final(self, words: list[Word]) -> None:
        words = monotonic_words(words, self._committed_end_s)
        self._events.append(FinalEvent(self._segment, tuple(words), self.language))
        self._segment_open = True
        self.finals += 1
        self._committed.extend(words)
        del self._committed[: -self.settings.prompt_words]
        self._committed_end_s = max(self._committed_end_s, words[-1].end_s)
        if self.settings.revise:
            self._utterance.extend(words)
            self._utterance_finals.append((len(words), self._segment))
            span = _span(self._utterance)
            if span >= REVISE_MAX_S or (span >= self.settings.revise_after_s and ends_sentence(words[-1])):
                self._revise_due = True

    def _close_segment(self) -> None:
        self._segment += 1
        self._revision = 0
        self._segment_open = False

    def _trim_buffer(self) -> None:
        s = self.settings
        if self.buffer_s <= s.trim_after_s:
            return
        done = self._committed
        sentence_ends = [
            w.end_s
            for i, w in enumerate(done)
            if w.end_s > self._buffer_start_s and ends_sentence(w, done[i + 1] if i + 1 < len(done) else None)
        ]
        if sentence_ends:
            self._trim_to(sentence_ends[-1])
        if self.buffer_s > s.max_buffer_s and self._committed_end_s > self._buffer_start_s:
            self._trim_to(self._committed_end_s)

    def _slice(self, start_s: float, end_s: float) -> npt.NDArray[np.float32]:
        a = max(0, seconds_to_samples(start_s) - self._buffer_start)
        b = max(a, seconds_to_samples(end_s) - self._buffer_start)
        return self._buffer[a:b].copy()

    def _trim_to(self, t: float) -> None:
        """Drop buffered audio before stream time ``t`` (s)."""
        cut = min(seconds_to_samples(t) - self._buffer_start, self._buffer.size)
        if cut > 0:
            self._buffer = self._buffer[cut:]
            self._buffer_start += cut


def _span(words: list[Word]) -> float:
    """Seconds from the first word's start to the last word's end."""
    return words[-1].end_s - words[0].start_s


def _segment_at(finals: list[tuple[float, int]], start_s: float) -> int:
    """The segment of a revised final that starts at ``start_s`` (stream s): that of the
    last replaced final (``(start s, segment)`` in order) starting at or before it, else the
    first's. Revised text stays in the segments of the text it replaces; a live segment
    open meanwhile is neither taken nor closed."""
    earlier = [segment for start, segment in finals if start <= start_s]
    return earlier[-1] if earlier else finals[0][1]
