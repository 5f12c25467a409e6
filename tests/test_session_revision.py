"""A session's revisions: ids of withdrawn finals, their replacements, exports (scripted
engine behind the AsrEngine protocol; real speech for the VAD)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicestream import media
from voicestream.asr import AsrSegment, DecodeOptions
from voicestream.client import current_finals
from voicestream.diarize.live import LiveDiarizer
from voicestream.diarize.online import OnlineSettings
from voicestream.live.events import FinalEvent, RevisionEvent
from voicestream.live.policy import StreamSettings
from voicestream.live.state import SessionState
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.messages import Word
from voicestream.server.protocol import encode_event

GREEDY = "and so my fellow american ask not"
BEAM = "And so, my fellow Americans, ask not."


class ScriptedEngine:
    """Greedy decodes read ``GREEDY``, beam-search decodes ``BEAM``, placed 0.4 s apart
    from 0.3 s into the window."""

    name = "scripted"
    multilingual = False
    speculative = False

    def __init__(self) -> None:
        self.beams: list[int] = []

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        return "en", 1.0

    def transcribe(
        self, samples: np.ndarray, offset_s: float, options: Any, hypothesis: Any = None, stats: Any = None
    ) -> list[AsrSegment]:
        self.beams.append(options.beam_size)
        text = BEAM if options.beam_size > 1 else GREEDY
        duration = samples.size / 16000
        words = [
            Word(0.3 + 0.4 * i, 0.6 + 0.4 * i, " " + t, 0.9)
            for i, t in enumerate(text.split())
            if 0.6 + 0.4 * i <= duration
        ]
        if not words:
            return []
        return [AsrSegment(words[0].start_s, words[-1].end_s, text, tuple(words), -0.2, float("nan"), 1.2, ())]


@pytest.fixture(autouse=True)
def revisions_by_beam_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted engine tells a revision from an update by its beam width."""
    monkeypatch.setattr("voicestream.live.state.REVISION_BEAM", 5)


@pytest.fixture(scope="module")
def speech(data: Path) -> np.ndarray:
    return media.decode(data / "jfk_public_domain" / "jfk.flac")[: 16000 * 4]


def run(engine: ScriptedEngine, audio: np.ndarray, settings: StreamSettings) -> tuple[SessionState, list[Any]]:
    session = SessionState("t", 16000, engine, SileroFrameModel(), DecodeOptions(beam_size=1),
                      settings)  # fmt: skip
    events: list[Any] = []
    for i in range(0, audio.size, 8000):
        session.add_audio(audio[i : i + 8000])
        events += session.process()
    return session, events + session.process(finish=True)


def test_a_revision_withdraws_the_utterances_finals_and_the_exports_follow(speech: np.ndarray) -> None:
    engine = ScriptedEngine()
    audio = np.concatenate([speech, np.zeros(16000 * 2, np.float32)])
    session, events = run(engine, audio, StreamSettings())
    first = [e for e in events if isinstance(e, FinalEvent)]
    revisions = [e for e in events if isinstance(e, RevisionEvent)]
    assert first and " ".join(w.text.strip() for f in first for w in f.words).startswith("and so my")
    assert len(revisions) == 1, "one utterance, revised once after the pause"
    revision = revisions[0]
    assert revision.replaces == tuple(f.id for f in first)
    assert [f.id for f in revision.finals] == list(range(len(first), len(first) + len(revision.finals)))
    assert 5 in engine.beams, "the revision decode ran"
    assert [w.text.strip() for w in session.final_words][:3] == ["And", "so,", "my"]
    assert all(not session.finals[i].words for i in revision.replaces)
    assert "And so, my fellow" in session.subtitles("srt")
    # the wire form, applied the way a client does

    wire = [json.loads(encode_event(e)) for e in events]
    assert " ".join(f["text"] for f in current_finals(wire)).startswith("And so, my fellow")


def test_without_revise_the_first_finals_stand(speech: np.ndarray) -> None:
    engine = ScriptedEngine()
    audio = np.concatenate([speech, np.zeros(16000 * 2, np.float32)])
    session, events = run(engine, audio, StreamSettings(revise=False))
    assert not any(isinstance(e, RevisionEvent) for e in events)
    assert 5 not in engine.beams
    assert [w.text.strip() for w in session.final_words][:3] == ["and", "so", "my"]


def test_a_revision_decoded_alongside_replaces_only_its_utterance(speech: np.ndarray) -> None:
    """As ``serve`` runs it: the revision is taken between process() calls and decoded while
    the next utterance is confirmed; it replaces its own finals only, and the words stay in
    stream order."""
    engine = ScriptedEngine()
    session = SessionState("t", 16000, engine, SileroFrameModel(), DecodeOptions(beam_size=1),
                      StreamSettings(context_s=0.0), inline_revisions=False)  # fmt: skip
    pause = np.zeros(16000 * 4, np.float32)  # the next utterance is decoded on its own
    events: list[Any] = []
    request = None
    for i in range(0, speech.size + pause.size, 8000):
        session.add_audio(np.concatenate([speech, pause])[i : i + 8000])
        events += session.process()
        request = request or session.take_revision()
    assert request is not None and request.revision
    first_ids = [e.id for e in events if isinstance(e, FinalEvent)]
    for i in range(0, speech.size, 8000):  # the next utterance, confirmed while the revision decodes
        session.add_audio(speech[i : i + 8000])
        events += session.process()
    second_ids = [e.id for e in events if isinstance(e, FinalEvent) and e.id not in first_ids]
    assert second_ids, "finals of the second utterance"
    session.decode_revision(request)
    events += session.process()
    revision = next(e for e in events if isinstance(e, RevisionEvent))
    assert list(revision.replaces) == first_ids
    words = session.final_words
    assert all(a.start_s <= b.start_s for a, b in itertools.pairwise(words))
    assert [w.text.strip() for w in words][:3] == ["And", "so,", "my"]
    assert [w.text.strip() for w in words][-7:-4] == ["and", "so", "my"], "the second utterance, not revised yet"


class TwoVoices:
    """Speaker models behind the :class:`SpeakerModels` protocol: one voice before
    ``change_s``, another after. Every window starts at stream time 0 (streams shorter than
    the diarizer's 10 s window), so frame ``i`` is at ``frame_start_s + i * frame_step_s``."""

    name = "two voices"
    frame_step_s = 0.02
    frame_start_s = 0.01

    def __init__(self, change_s: float) -> None:
        self.change_s = change_s

    def _second(self, frames: int) -> np.ndarray:
        times: np.ndarray = self.frame_start_s + self.frame_step_s * np.arange(frames)
        return times >= self.change_s

    def segment(self, samples: np.ndarray) -> np.ndarray:
        frames = int(samples.size / 16000 / self.frame_step_s)
        second = self._second(frames)
        return np.stack([~second, second], axis=1).astype(np.float32)

    def embed(self, samples: np.ndarray, masks: np.ndarray) -> np.ndarray:
        second = self._second(masks.shape[1])
        later = (masks * second).sum(axis=1) > (masks * ~second).sum(axis=1)
        voices: np.ndarray = np.eye(16, dtype=np.float32)[later.astype(int)]
        return voices

    def diarize(self, samples: np.ndarray, speakers: Any = None) -> Any:
        raise NotImplementedError("these tests run no end-of-stream pass")


def test_a_revision_replaces_every_piece_of_finals_split_by_speaker(speech: np.ndarray) -> None:
    """A speaker change inside one of the policy's finals splits it in two on the way out;
    the revision withdraws both pieces (its ``replaces`` counts the policy's finals), so no
    word shows twice."""
    engine = ScriptedEngine()
    diarizer = LiveDiarizer(TwoVoices(change_s=2.25), OnlineSettings(min_new_weight=0.3, min_update_weight=0.3))
    session = SessionState("t", 16000, engine, SileroFrameModel(), DecodeOptions(beam_size=1),
                           StreamSettings(), diarizer=diarizer)  # fmt: skip
    audio = np.concatenate([speech, np.zeros(16000 * 2, np.float32)])
    events: list[Any] = []
    for i in range(0, audio.size, 8000):
        session.add_audio(audio[i : i + 8000])
        events += session.process()
    events += session.process(finish=True)
    first = [e for e in events if isinstance(e, FinalEvent)]
    revision = next(e for e in events if isinstance(e, RevisionEvent))
    policy_first = session.policy.finals - 1  # the revision is one sentence: one policy final
    assert len(first) > policy_first, "a policy final went out in two pieces"
    assert {w.speaker for f in first for w in f.words} == {"Speaker 1", "Speaker 2"}
    assert revision.replaces == tuple(f.id for f in first)
    assert [w.text.strip() for w in session.final_words] == BEAM.split()
