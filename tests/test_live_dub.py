"""Live voice translation end to end over loopback: real speech in, translated speech out."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tests.servers import RunningServer, close_code, open_ws, send
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.cli import main
from voicestream.client import stream_samples
from voicestream.diarize.engine import PyannoteDiarizer
from voicestream.diarize.live import DiarizationModels, LiveDiarizer
from voicestream.diarize.scoring import load_reference
from voicestream.dub.selfcheck import ClipChecker
from voicestream.live import events as ev
from voicestream.live.policy import StreamSettings
from voicestream.live.speech.schedule import ScheduleSettings
from voicestream.live.speech.voices import LiveVoices
from voicestream.live.state import STREAM_DECODE, SessionState
from voicestream.live.translation import LiveTranslator
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.registry import create_synthesizers
from voicestream.server import protocol as p
from voicestream.timebase import SAMPLE_RATE
from voicestream.translate.choose import choose
from voicestream.tts.base import Gender, Speech
from voicestream.tts.pitch import gender_from_f0, median_f0

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)

MIN_SIMILARITY = 0.6
MAX_SKIPPED = 0.5
"""Bound on the share of sentences skipped as behind. How many are skipped depends on how
fast the host synthesizes: none of 21 where Kokoro ran at RTF 0.27 on 2 cores (docs/live.md),
3 to 8 of 19-21 on 2026-12-04's host, where Kokoro alone ran at RTF 0.44 and the helper was
stopped 37 of the 87 s for captions, for the last landed commit as for this one. How soon
speech follows its source (delay percentiles, skips, silences inside sentences) is what
``benchmarks/live_dub.py`` prints; this test checks what must hold on any host: every
sentence is spoken in order or skipped only when late, the lag stays bounded, and what
is spoken says its translation."""
MIN_MEDIAN_SIMILARITY = 0.75
"""Bound on the median read-back similarity: 0.78-0.9 measured (lower on a slow host, where
more sentences are sped up to catch up, up to 1.35x)."""


@pytest.fixture(scope="module")
def speak_server(tiny_engine: FasterWhisperEngine) -> Iterator[RunningServer]:
    server = RunningServer(tiny_engine, max_sessions=2, workers=2, max_rate=0, warm_speech=True)  # as serve
    yield server
    server.close()


def test_serve_starts_the_speech_helper_before_the_first_session(tiny_engine: FasterWhisperEngine) -> None:
    """With ``warm_speech`` (as ``serve`` runs) the helper and its voices load at start: a
    cold helper held the first session's captions back about 5 s (p95 1.26 s warm, 2.45 s cold)."""
    server = RunningServer(tiny_engine, warm_speech=True)
    try:
        helper = server.server.live.speech_helper
        assert helper is not None and helper.pid is not None
        assert "es" in server.server.info()["speak_to"]
    finally:
        server.close()
    assert helper.pid is None  # stopped with the server


def _pcts(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


@pytest.mark.slow
def test_every_sentence_is_spoken_in_order_with_a_bounded_delay(
    speak_server: RunningServer, base_engine: FasterWhisperEngine, data: Path
) -> None:
    """The 87 s four-speaker recording streamed at real time with ``speak: es``."""
    audio = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    events = asyncio.run(stream_samples(speak_server.url, audio, speed=1.0, speak="es"))
    assert events[-1]["type"] == "done"
    gate = speak_server.server.live.pause  # synthesis ran in the helper, stopped while captions decoded
    print(f"speech helper stopped {gate.stops} times, {gate.stopped_total_s:.1f} s in all")
    assert gate.stops >= 20 and gate.stopped_total_s > 5.0
    translations = [e for e in events if e["type"] == "translation" and e.get("text")]
    speech = [e for e in events if e["type"] == "speech"]
    skipped = [e for e in events if e["type"] == "speech_skipped"]
    assert len(translations) >= 8
    assert {e["segment"] for e in speech} | {e["segment"] for e in skipped} == {e["segment"] for e in translations}
    print("skipped", [(e["segment"], e["delay"]) for e in skipped])
    assert len(skipped) <= MAX_SKIPPED * len(translations), skipped
    skip_at = ScheduleSettings().skip_delay_s
    assert all(e["delay"] > skip_at for e in skipped), skipped  # skipped only when it would start late
    for e in speech:
        assert len(e["audio"]) == e["bytes"] and e["sample_rate"] == ev.SPEECH_RATE
        assert e["duration"] == pytest.approx(len(e["audio"]) / 2 / ev.SPEECH_RATE, abs=1e-3)
    for a, b in itertools.pairwise(speech):
        assert a["start"] + a["duration"] <= b["start"] + 1e-3, (a["text"], b["text"])  # never overlapping
    assert all(0 <= e["part"] < e["parts"] for e in speech)
    delays = [e["start"] - e["source_end"] for e in speech if e["part"] == 0]  # the sentence's speech starts
    p50, p95 = _pcts(delays)
    print(
        f"delay p50 {p50:.2f} s p95 {p95:.2f} s max {max(delays):.2f} s; {len(skipped)} of {len(translations)} skipped"
    )
    assert max(delays) <= skip_at + 1e-3, delays  # the lag stays bounded: a later start is a skip
    checker = ClipChecker(base_engine, "es")
    sentences: list[list[dict[str, Any]]] = []
    for e in speech:  # a sentence's parts (clauses) follow each other, part 0 first
        if e["part"] == 0:
            sentences.append([])
        sentences[-1].append(e)
    assert all([e["part"] for e in parts] == list(range(parts[0]["parts"])) for parts in sentences)
    # parts are synthesized while the one before plays: on a fast host they join with the
    # 0.08 s pause; on a slow one a part may still be synthesized when the one before ends
    joins = [b["start"] - a["start"] - a["duration"] for parts in sentences for a, b in itertools.pairwise(parts)]
    print("silence between parts (s):", [round(j, 2) for j in joins])
    assert joins and min(joins) >= 0.08 - 0.005, joins  # never closer than the pause
    scores = []
    for parts in sentences:  # the sentence's speech, its parts joined, reads back as its translation
        pcm = np.concatenate([np.frombuffer(e["audio"], dtype="<i2").astype(np.float32) / 32768 for e in parts])
        text = " ".join(e["text"] for e in parts)
        scores.append(checker.check(Speech(pcm, parts[0]["sample_rate"]), text).similarity)
    print("read-back similarity:", [round(s, 2) for s in scores])
    tempo = [max(e["tempo"] for e in parts) for parts in sentences]
    texts = [" ".join(e["text"] for e in parts) for parts in sentences]
    print("lowest (score, tempo, text):", sorted(zip(scores, tempo, texts, strict=True))[:3])
    # One sentence may read back badly: in CI a sentence of Kokoro's accented Spanish read
    # back at 0.10 once where the same sentence read 0.66 in another run (the speed-up that
    # catches up differs from run to run). Two bad sentences fail.
    assert float(np.median(scores)) >= MIN_MEDIAN_SIMILARITY and sorted(scores)[1] >= 0.3, scores
    assert sum(s >= MIN_SIMILARITY for s in scores) >= 0.8 * len(scores), scores


def test_stream_cli_saves_what_was_spoken(speak_server: RunningServer, data: Path, tmp_path: Path) -> None:
    wav, log = tmp_path / "spoken.wav", tmp_path / "events.jsonl"
    jfk = data / "jfk_public_domain" / "jfk.flac"
    args = ["stream", str(jfk), "--url", speak_server.url, "--speed", "0", "--speak", "es", "--voice", "espeak",
            "--save-audio", str(wav), "-o", str(log)]  # fmt: skip
    assert main(args) == 0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    speech = [e for e in events if e["type"] == "speech"]
    assert speech and all(e["voice"].startswith("espeak:") for e in speech)
    track, rate = sf.read(wav, dtype="float32")
    assert rate == ev.SPEECH_RATE and track.size >= 11.0 * rate
    for e in speech:
        span = track[int(e["start"] * rate) : int((e["start"] + e["duration"]) * rate)]
        assert np.abs(span).max() > 0.05  # the clip is where the event says


def test_speak_needs_a_voice_for_the_language(speak_server: RunningServer) -> None:
    with open_ws(speak_server, token=None) as ws:
        send(ws, json.dumps({"type": "start", "sample_rate": 16000, "speak": {"to": "es", "voice": "piper"}}))
        code, reason = close_code(ws)
    assert code == p.CLOSE_BAD_MESSAGE and "no voice from piper speaks 'es'" in reason


def test_speak_protocol_errors() -> None:
    ok = p.parse_client_message(json.dumps({"type": "start", "sample_rate": 16000, "speak": {"to": "es"}}))
    assert isinstance(ok, p.StartMessage) and ok.options.speak and ok.options.translate_to == "es"
    assert ok.options.speak_voice is None
    bad: list[dict[str, Any]] = [
        {"speak": "es"}, {"speak": {"to": 3}}, {"speak": {"to": "es", "x": 1}}, {"speak": {"to": "es", "voice": 7}},
        {"speak": {"to": "es"}, "translate_to": "fr"},
    ]  # fmt: skip
    for extra in bad:
        with pytest.raises(p.ProtocolError) as e:
            p.parse_client_message(json.dumps({"type": "start", "sample_rate": 16000, **extra}))
        assert e.value.code == p.CLOSE_BAD_MESSAGE


@pytest.mark.slow
def test_each_speaker_gets_a_voice_of_their_own(
    tiny_engine: FasterWhisperEngine, diarizer: PyannoteDiarizer, data: Path
) -> None:
    """The 87 s four-reader recording labelled live and translated to Spanish as fast as the
    CPU allows: every translated sentence has one speaker, each speaker keeps one voice, the
    voices differ, and the pitch range judged live from a speaker's first sentence matches
    the one measured on all the reference turns of the reader it overlaps most (two readers
    low, two high: median F0 84-117 Hz and 156-236 Hz per turn here; the data README's sexes
    for 1988 and 3752 contradict their pitch, so the turns, not the README, are the reference)."""
    name = data / "long_form" / "librispeech_concat_4spk"
    samples = media.decode(name.with_suffix(".wav"))
    live = LiveTranslator("es")
    speaker = LiveVoices(create_synthesizers(threads=1), "es")
    speaker.source = live.audio_between  # as the server sets it
    session = SessionState("voices", SAMPLE_RATE, tiny_engine, SileroFrameModel(), STREAM_DECODE,
                      StreamSettings(), diarizer=LiveDiarizer(DiarizationModels(diarizer)), translation=live,
                      choose_translator=lambda source: choose(source, "es", None, None))  # fmt: skip
    events: list[ev.TranslationEvent] = []
    judged_live: dict[str | None, Gender] = {}
    step = SAMPLE_RATE // 2
    for i in range(0, samples.size + step, step):
        if i < samples.size:
            session.add_audio(samples[i : i + step])
        new = [e for e in session.process(finish=i >= samples.size) if isinstance(e, ev.TranslationEvent)]
        for e in new:  # judged as the speech worker does, while the session still keeps the audio
            judged_live.setdefault(e.speaker, speaker.judge(e))
        events += new
    assert len(events) >= 8 and all(e.text and e.speaker for e in events)

    voices = {e.speaker: speaker.voice_for(e.speaker, judged_live[e.speaker]).id for e in events}
    assert all(speaker.voice_for(e.speaker).id == voices[e.speaker] for e in events)  # kept for the session
    assert len(set(voices.values())) == len(voices) >= 3, voices

    reference = load_reference(name.with_suffix(".rttm"))
    turns: dict[str, list[tuple[float, float]]] = {}
    for segment, _, reader in reference.itertracks(yield_label=True):
        turns.setdefault(reader, []).append((segment.start, segment.end))
    sex = {reader: gender_from_f0(median_f0(samples, spans, max_s=90.0)) for reader, spans in turns.items()}
    assert sorted(sex.values()) == ["female", "female", "male", "male"], sex
    judged: dict[str | None, tuple[str, str]] = {}
    for e in events:
        overlap: dict[str, float] = {}
        for segment, _, reader in reference.itertracks(yield_label=True):
            overlap[reader] = overlap.get(reader, 0.0) + max(
                0.0, min(segment.end, e.end_s) - max(segment.start, e.start_s)
            )
        judged.setdefault(e.speaker, (judged_live[e.speaker], sex[max(overlap, key=lambda r: overlap[r])]))
    print("speaker -> (judged, reference), voice:", judged, voices)
    assert sum(g == ref for g, ref in judged.values()) >= len(judged) - 1, judged  # measured: all 4 of 4
    first = {e.speaker: e for e in reversed(events)}
    for e in sorted(first.values(), key=lambda e: e.start_s):
        spoken = speaker.speak(e, functools.partial(float, e.end_s + 0.5))  # in time: nothing skipped
        assert isinstance(spoken, ev.SpeechEvent) and spoken.voice == voices[e.speaker] and spoken.speaker == e.speaker
        assert spoken.duration_s > 0.3


def test_a_sentence_behind_is_spoken_faster_at_one_rate() -> None:
    """Real espeak: behind a long clip the voice speaks the whole sentence (all its parts) at
    one faster rate, and its speech is shorter for it."""
    speaker = LiveVoices(create_synthesizers(), "es", "espeak")
    text = "Cuando llegamos a la casa la puerta estaba abierta y no había nadie dentro, así que entramos despacio."
    event = ev.TranslationEvent(1, 10.0, 14.0, "When we arrived", text, "es", "en")
    parts = speaker.parts(event)
    alone = [speaker.speak(event, functools.partial(float, 14.5), k, parts) for k in range(len(parts))]
    speaker.scheduler.busy_until_s = 40.0  # a long clip still playing: 26 s behind
    behind = ev.TranslationEvent(2, 30.0, 34.0, "When we arrived", text, "es", "en")
    late = [speaker.speak(behind, functools.partial(float, 34.5), k, parts) for k in range(len(parts))]
    assert len(parts) >= 2 and all(isinstance(e, ev.SpeechEvent) for e in alone + late)
    assert {e.speed for e in alone if isinstance(e, ev.SpeechEvent)} == {1.0}
    rates = {e.speed for e in late if isinstance(e, ev.SpeechEvent)}
    assert rates == {ScheduleSettings().max_speed}, rates
    natural = sum(e.duration_s * e.tempo for e in alone if isinstance(e, ev.SpeechEvent))
    faster = sum(e.duration_s * e.tempo for e in late if isinstance(e, ev.SpeechEvent))
    assert faster < 0.9 * natural, (faster, natural)
