"""Policy of live speaker labelling: online clustering, name matching, audio store, protocol (no models)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping

import numpy as np
import pytest

from voicestream.audio.store import SessionAudio
from voicestream.diarize.live import match_names
from voicestream.diarize.online import OnlineClustering, OnlineSettings
from voicestream.diarize.scoring import word_turns
from voicestream.live import events as ev
from voicestream.messages import Word
from voicestream.server import protocol as p


def voices(seed: int = 0, n: int = 3, dim: int = 16) -> np.ndarray:
    """``n`` well-separated unit "voices"."""
    basis = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))[0]
    return basis[:n]


def noisy(v: np.ndarray, rng: np.random.Generator, scale: float = 0.15) -> np.ndarray:
    out: np.ndarray = v + scale * rng.normal(size=v.shape) / np.sqrt(v.shape[-1])
    return out


def test_speakers_keep_their_labels_for_the_whole_session() -> None:
    rng = np.random.default_rng(1)
    v = voices()
    clustering = OnlineClustering()
    assert clustering.assign(noisy(v[[0, 1]], rng), np.array([3.0, 3.0])) == [0, 1]
    for _ in range(50):
        order = rng.permutation(3)
        assert clustering.assign(noisy(v[order], rng), np.full(3, 2.0)) == list(order)
    assert clustering.num_speakers == 3


def test_two_local_speakers_are_never_the_same_global_speaker() -> None:
    rng = np.random.default_rng(2)
    v = voices()
    clustering = OnlineClustering()
    clustering.assign(noisy(v[[0]], rng), np.array([3.0]))
    labels = clustering.assign(noisy(v[[0, 0]], rng), np.array([3.0, 3.0]))  # the same voice twice
    assert sorted(labels) == [0, 1]


def test_short_snippets_neither_open_speakers_nor_move_centroids() -> None:
    rng = np.random.default_rng(3)
    v = voices()
    clustering = OnlineClustering(OnlineSettings(min_new_weight=1.5, min_update_weight=1.0))
    clustering.assign(noisy(v[[0]], rng), np.array([3.0]))
    before = clustering.centroids().copy()
    assert clustering.assign(noisy(v[[1]], rng), np.array([0.6])) == [0]  # too short to be a new voice
    assert clustering.num_speakers == 1 and np.allclose(clustering.centroids(), before)
    assert clustering.assign(noisy(v[[1]], rng), np.array([2.0])) == [1]


def test_memory_is_bounded_by_max_speakers() -> None:
    rng = np.random.default_rng(4)
    v = voices(n=6)
    clustering = OnlineClustering(OnlineSettings(max_speakers=3))
    for k in range(6):
        label = clustering.assign(noisy(v[[k]], rng), np.array([3.0]))[0]
        assert 0 <= label < 3
    assert clustering.num_speakers == 3 and clustering.centroids().shape == (3, 16)


def w(start: float, speaker: str | None) -> Word:
    return Word(start, start + 0.3, " x", 0.9, speaker)


def test_offline_names_follow_the_live_names() -> None:
    live = [w(0, "Speaker 1"), w(1, "Speaker 1"), w(2, "Speaker 2"), w(3, "Speaker 2"), w(4, "Speaker 2")]
    offline = [w(0, "Speaker 2"), w(1, "Speaker 2"), w(2, "Speaker 1"), w(3, "Speaker 1"), w(4, "Speaker 3")]
    names = match_names(live, offline)
    assert names == {"Speaker 2": "Speaker 1", "Speaker 1": "Speaker 2", "Speaker 3": "Speaker 3"}
    fewer = match_names(live, [w(0, "Speaker 1")] * 5)
    assert fewer == {"Speaker 1": "Speaker 2"}  # it shares most with live Speaker 2 (3 words)


def test_new_offline_speakers_get_unused_names() -> None:
    live = [w(0, "Speaker 1"), w(1, "Speaker 1"), w(2, "Speaker 2")]
    offline = [w(0, "Speaker 2"), w(1, "Speaker 2"), w(2, "Speaker 2")]
    assert match_names(live, offline) == {"Speaker 2": "Speaker 1"}
    split = [w(0, "Speaker 1"), w(1, "Speaker 1"), w(2, "Speaker 2"), w(3, "Speaker 3")]
    assert match_names([w(t, "Speaker 1") for t in range(4)], split) == {
        "Speaker 1": "Speaker 1",
        "Speaker 2": "Speaker 2",
        "Speaker 3": "Speaker 3",
    }  # offline found voices live merged: the extra ones get names live never used


def test_word_turns_join_a_speakers_words_across_short_pauses() -> None:
    words = [w(0, "A"), w(0.5, "A"), w(3.0, "A"), w(3.5, "B")]
    assert [(t.start_s, t.end_s, t.speaker) for t in word_turns(words)] == [
        (0, 0.8, "A"),
        (3.0, 3.3, "A"),
        (3.5, 3.8, "B"),
    ]


def test_session_audio_keeps_everything_up_to_its_limit_then_a_tail() -> None:
    store = SessionAudio(max_s=40.0, tail_s=30.0)
    tone = np.sin(np.arange(16000) / 5).astype(np.float32) * 0.5
    for _ in range(40):
        store.append(tone)
    assert store.complete and store.end_s == 40.0
    assert np.allclose(store.slice_samples(16000, 32000), tone, atol=1e-4)
    store.append(tone)
    assert not store.complete and store.end_s == 41.0
    assert store.slice_samples(0, 16000).size == 0  # dropped
    assert np.allclose(store.slice_samples(40 * 16000, 41 * 16000), tone, atol=1e-4)


def test_session_audio_slices_stay_right_while_another_thread_appends() -> None:
    """Live speech reads a speaker's first sentence on its own thread while the ASR worker
    appends: every slice holds exactly the samples of its stream positions."""
    store = SessionAudio(max_s=4.0, tail_s=2.0)

    def value(chunk: int) -> float:  # chunk i: samples 160 i to 160 i + 159
        return ((chunk % 200) + 1) / 400

    wrong: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            end = store.end
            got = store.slice_samples(end - 1600, end)
            first = (end - got.size) // 160
            expect = np.repeat([value(c) for c in range(first, first + got.size // 160)], 160)
            if got.size % 160 or not np.allclose(got, expect, atol=1e-4):
                wrong.append(end)

    reader = threading.Thread(target=read)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a race shows within the run
    try:
        reader.start()
        for i in range(20000):
            store.append(np.full(160, value(i), np.float32))
    finally:
        done.set()
        reader.join()
        sys.setswitchinterval(interval)
    assert not wrong, wrong[:5]


def start(options: Mapping[str, object]) -> str:
    return json.dumps({"type": "start", "sample_rate": 16000, "options": options})


def test_start_options_for_speakers() -> None:
    msg = p.parse_client_message(start({"diarize": True, "max_speakers": 4}))
    assert isinstance(msg, p.StartMessage) and msg.options.diarize and msg.options.max_speakers == 4
    assert msg.options.num_speakers is None
    for bad in ({"diarize": "yes"}, {"diarize": True, "num_speakers": 0}, {"diarize": True, "max_speakers": 99},
                {"num_speakers": 2}, {"diarize": True, "max_speakers": True}):  # fmt: skip
        with pytest.raises(p.ProtocolError) as e:
            p.parse_client_message(start(bad))
        assert e.value.code == p.CLOSE_BAD_MESSAGE


def test_final_and_speaker_update_events_carry_speakers() -> None:
    final = ev.FinalEvent(3, (Word(1.0, 1.4, " Hello", 0.9, "Speaker 2"),), "en", id=7)
    doc = json.loads(p.encode_event(final))
    assert doc["id"] == 7 and doc["speaker"] == "Speaker 2" and doc["words"][0]["speaker"] == "Speaker 2"
    plain = json.loads(p.encode_event(ev.FinalEvent(3, (Word(1.0, 1.4, " Hi", 0.9),), "en")))
    assert "speaker" not in plain and "speaker" not in plain["words"][0]
    update = json.loads(p.encode_event(ev.SpeakerUpdateEvent(7, ("Speaker 1", "Speaker 1", "Speaker 3"))))
    assert update == {"type": "speaker_update", "final": 7, "speaker": "Speaker 1",
                      "speakers": ["Speaker 1", "Speaker 1", "Speaker 3"]}  # fmt: skip
