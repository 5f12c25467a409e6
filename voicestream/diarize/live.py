"""Speaker labels for a live stream's finals, and the offline second pass at its end.

:class:`DiarizationModels` (shared by all sessions) wraps the segmentation model and the
speaker embedding of a pyannote pipeline (:class:`SpeakerModels`: the same calls may run on
Ray replicas instead, :mod:`voicestream.cluster.speakers`). :class:`LiveDiarizer` (one per session)
keeps the session's audio and its :class:`~voicestream.diarize.online.OnlineClustering`:
for each batch of finals it segments the newest 10 s of audio (which reach past the
finals' words, since words are confirmed a second or two after they are heard), embeds
each local speaker's clean speech, matches them to the session's speakers and labels
the words. At the end of the stream :meth:`LiveDiarizer.second_pass` re-diarizes the
whole session offline and maps the result onto the live labels, so names stay put.

Runs on worker threads only (model inference); never on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from voicestream.audio.store import SessionAudio
from voicestream.diarize.attribution import attribute_words, snap_to_sentences
from voicestream.diarize.base import SpeakerCount
from voicestream.diarize.engine import PyannoteDiarizer
from voicestream.diarize.online import OnlineClustering, OnlineSettings
from voicestream.messages import Diarization, SpeakerTurn, Word
from voicestream.timebase import SAMPLE_RATE

WINDOW_S = 10.0
"""Audio the segmentation model sees at once (s): what segmentation-3.0 was trained on."""
MIN_EMBED_S = 0.5
"""Least clean speech (s) of a local speaker for its embedding to be trusted."""
RIGHT_CONTEXT_S = 0.5
"""Audio (s) needed after a word before labels computed earlier are reused for it."""
MIN_STEP_S = 1.0
"""New audio (s) before the speakers of a newer window are computed."""


def speaker_name(index: int) -> str:
    """Label of global speaker ``index`` (0-based)."""
    return f"Speaker {index + 1}"


class SpeakerModels(Protocol):
    """What live speaker labelling calls: stateless, shared by every session.

    Attributes:
        name: The diarization pipeline's name.
        frame_step_s: Seconds between the segmentation model's output frames.
        frame_start_s: Centre (s) of its first output frame.
    """

    name: str
    frame_step_s: float
    frame_start_s: float

    def segment(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Local speaker activity of ``samples`` ``(n,)`` (at most 10 s): ``(frames, local_speakers)``, 0/1."""
        ...

    def embed(self, samples: npt.NDArray[np.float32], masks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Embeddings ``(k, dimension)`` of ``samples`` ``(n,)`` under ``masks`` ``(k, frames)``."""
        ...

    def diarize(self, samples: npt.NDArray[np.float32], speakers: SpeakerCount | None = None) -> Diarization:
        """The whole pipeline on 16 kHz ``samples`` ``(n,)`` (the end-of-stream pass)."""
        ...


class DiarizationModels:
    """The segmentation model and speaker embedding of ``diarizer``'s pyannote pipeline,
    shared by every session (forward passes hold no state); a :class:`SpeakerModels`."""

    def __init__(self, diarizer: PyannoteDiarizer) -> None:
        from pyannote.audio.utils.powerset import Powerset  # pyannote.audio comes with the diarize extra

        pipeline = diarizer.pipeline
        self.diarizer = diarizer
        self.name = diarizer.name
        self.model: Any = pipeline._segmentation.model
        self.embedding: Any = pipeline._embedding
        specs = self.model.specifications
        self._powerset = Powerset(len(specs.classes), specs.powerset_max_classes) if specs.powerset else None
        frames = self.model.receptive_field
        self.frame_step_s = float(frames.step)
        self.frame_start_s = float(frames.start + frames.duration / 2)

    def segment(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Local speaker activity of ``samples`` ``(n,)`` (at most 10 s): ``(frames, local_speakers)``, 0/1."""
        import torch  # PyTorch comes with the diarize and dub extras

        with torch.inference_mode():
            out = self.model(torch.from_numpy(samples)[None, None])
            out = self._powerset.to_multilabel(out) if self._powerset is not None else (out > 0.5).float()
        activity: npt.NDArray[np.float32] = out[0].cpu().numpy().astype(np.float32)
        return activity

    def embed(self, samples: npt.NDArray[np.float32], masks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Embeddings ``(k, dimension)`` of ``samples`` ``(n,)`` under ``masks`` ``(k, frames)``."""
        import torch  # PyTorch comes with the diarize and dub extras

        waveforms = torch.from_numpy(samples)[None, None].expand(masks.shape[0], 1, -1)
        out: npt.NDArray[np.float32] = np.asarray(self.embedding(waveforms, masks=torch.from_numpy(masks)))
        return out

    def diarize(self, samples: npt.NDArray[np.float32], speakers: SpeakerCount | None = None) -> Diarization:
        """The pipeline on 16 kHz ``samples`` ``(n,)``."""
        return self.diarizer.diarize(samples, speakers)


@dataclass(frozen=True, slots=True)
class SecondPass:
    """The offline pass's result: corrected word labels and the turns."""

    words: tuple[Word, ...]
    turns: tuple[SpeakerTurn, ...]


class LiveDiarizer:
    """One session's speaker labelling; see the module docstring."""

    def __init__(
        self, models: SpeakerModels, settings: OnlineSettings | None = None, max_audio_s: float = 3600.0
    ) -> None:
        self.models = models
        self.clustering = OnlineClustering(settings)
        self.audio = SessionAudio(max_audio_s, tail_s=WINDOW_S * 3)  # past the limit, live labels go on
        self.turns: list[SpeakerTurn] = []  # committed live turns (stream seconds), up to committed_s
        self.committed_s = 0.0
        self._provisional: list[SpeakerTurn] = []  # judged on the newest window, from committed_s
        self._provisional_end_s = 0.0
        self._lock = threading.Lock()

    def add_audio(self, samples: npt.NDArray[np.float32]) -> None:
        """The session's next 16 kHz samples ``(n,)`` (every sample, silence included)."""
        with self._lock:
            self.audio.append(samples)

    def label(self, words: Sequence[Word]) -> list[Word]:
        """``words`` (stream seconds, heard by now) with live speaker labels."""
        if not words:
            return []
        with self._lock:
            last = max(w.end_s for w in words)
            stale = self.audio.end_s - self._provisional_end_s >= MIN_STEP_S
            if last + RIGHT_CONTEXT_S > self._provisional_end_s or stale:
                self._judge_newest()
            first = min(w.start_s for w in words) - WINDOW_S
            turns = [t for t in self.turns if t.end_s >= first] + self._provisional
            labelled = snap_to_sentences(attribute_words(words, turns))
            self._commit(max(last, self.committed_s))
        return labelled

    def _judge_newest(self) -> None:
        """Provisional turns from ``committed_s`` to the newest audio, in 10 s windows ending
        there (each reaching back before ``committed_s`` for context)."""
        end = self.audio.end
        window = int(WINDOW_S * SAMPLE_RATE)
        committed = int(self.committed_s * SAMPLE_RATE)
        new: list[SpeakerTurn] = []
        stop = end
        while True:
            start = max(self.audio.start, stop - window, 0)
            new = self._window_turns(start, stop, max(start, committed)) + new
            if start <= committed or start <= self.audio.start:
                break
            stop = start
        self._provisional = new
        self._provisional_end_s = end / SAMPLE_RATE

    def _commit(self, until_s: float) -> None:
        """Provisional turns up to ``until_s`` become final: words up to there are labelled."""
        for t in self._provisional:
            if t.start_s < until_s:
                self.turns.append(replace(t, end_s=min(t.end_s, until_s)))
        self._provisional = [
            replace(t, start_s=max(t.start_s, until_s)) for t in self._provisional if t.end_s > until_s
        ]
        self.committed_s = until_s

    def _window_turns(self, start: int, stop: int, keep_from: int) -> list[SpeakerTurn]:
        """Turns (stream seconds) with global labels of the audio ``[keep_from, stop)`` (samples),
        judged on the window ``[start, stop)``."""
        samples = self.audio.slice_samples(start, stop)
        if samples.size < SAMPLE_RATE // 2:
            return []
        activity = self.models.segment(samples)  # (frames, local)
        clean = activity * (activity.sum(axis=1, keepdims=True) == 1)
        clean_s = clean.sum(axis=0) * self.models.frame_step_s
        local = [k for k in range(activity.shape[1]) if clean_s[k] >= MIN_EMBED_S]
        if not local:
            return []
        embeddings = self.models.embed(samples, clean[:, local].T.copy())
        usable = [i for i in range(len(local)) if np.all(np.isfinite(embeddings[i]))]
        labels = self.clustering.assign(embeddings[usable], clean_s[[local[i] for i in usable]])
        global_of = {local[i]: label for i, label in zip(usable, labels, strict=True)}
        # each frame goes to its one clean speaker, or in overlap to the one with more clean speech
        order = sorted(global_of, key=lambda k: -clean_s[k])
        frame_label = np.full(activity.shape[0], -1)
        for k in reversed(order):
            frame_label[activity[:, k] > 0] = global_of[k]
        turns = _frames_to_turns(
            frame_label, start / SAMPLE_RATE + self.models.frame_start_s, self.models.frame_step_s, stop / SAMPLE_RATE
        )
        keep_s = keep_from / SAMPLE_RATE
        return [replace(t, start_s=max(t.start_s, keep_s)) for t in turns if t.end_s > keep_s]

    def second_pass(self, words: Sequence[Word], speakers: SpeakerCount | None = None) -> SecondPass | None:
        """Re-diarize the whole session offline and relabel ``words`` (all the session's final
        words), keeping the live names where the two agree most. ``None`` when the session's
        audio was too long to keep whole."""
        with self._lock:
            if not self.audio.complete:
                return None
            samples = self.audio.slice_samples(0, self.audio.end)
        offline = self.models.diarize(samples, speakers)
        relabelled = snap_to_sentences(attribute_words(words, offline.exclusive))
        names = match_names(words, relabelled)
        fixed = tuple(replace(w, speaker=names.get(w.speaker or "", w.speaker)) for w in relabelled)
        turns = tuple(replace(t, speaker=names.get(t.speaker, t.speaker)) for t in offline.turns)
        return SecondPass(fixed, turns)


def _frames_to_turns(labels: npt.NDArray[np.int_], first_s: float, step_s: float, limit_s: float) -> list[SpeakerTurn]:
    turns: list[SpeakerTurn] = []
    k = 0
    while k < labels.size:
        j = k
        while j + 1 < labels.size and labels[j + 1] == labels[k]:
            j += 1
        if labels[k] >= 0:
            start = first_s + (k - 0.5) * step_s
            end = min(first_s + (j + 0.5) * step_s, limit_s)
            if end > start:
                turns.append(SpeakerTurn(round(start, 3), round(end, 3), speaker_name(int(labels[k]))))
        k = j + 1
    return turns


def match_names(live: Sequence[Word], offline: Sequence[Word]) -> dict[str, str]:
    """Names for the offline labels: each takes the live label it shares most speech with
    (one-to-one, optimal), and offline speakers with no live match get new names."""
    from scipy.optimize import linear_sum_assignment  # SciPy comes with the diarize extra

    live_names = sorted({w.speaker for w in live if w.speaker}, key=_name_order)
    offline_names = sorted({w.speaker for w in offline if w.speaker}, key=_name_order)
    if not offline_names:
        return {}
    shared = np.zeros((len(offline_names), max(1, len(live_names))))
    for a, b in zip(offline, live, strict=True):
        if a.speaker and b.speaker:
            shared[offline_names.index(a.speaker), live_names.index(b.speaker)] += max(b.end_s - b.start_s, 0.05)
    names: dict[str, str] = {}
    if live_names:
        rows, cols = linear_sum_assignment(-shared)
        names = {offline_names[r]: live_names[c] for r, c in zip(rows, cols, strict=True) if shared[r, c] > 0}
    used = set(names.values()) | set(live_names)
    index = 0
    for name in offline_names:
        while name not in names:
            candidate = speaker_name(index)
            index += 1
            if candidate not in used:
                names[name] = candidate
                used.add(candidate)
    return names


def _name_order(name: str) -> tuple[int, str]:
    tail = name.rsplit(" ", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (1 << 30, name)
