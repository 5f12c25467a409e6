"""Unit tests of the dubbing policy code: timing, ducking, casting, self-check scoring, mux
arguments, the job cache and URL errors (fakes only behind the Synthesizer Protocol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicestream.audio.mix import MIX_RATE, duck_gain, mix, place
from voicestream.dub.cache import JobCache, key, transcript_from_json, transcript_to_json
from voicestream.dub.fetch import fetch, is_url
from voicestream.dub.mux import MuxJob, check_output, iso639_2, mux_argv
from voicestream.dub.selfcheck import normalize, similarity
from voicestream.dub.timing import FitSettings, Slot, needs_faster_voice, plan_fit, plan_slots
from voicestream.errors import InputNotFoundError, ModelError, OptionError, OutputError
from voicestream.messages import Segment, SpeakerTurn, Transcript, Word
from voicestream.tts.base import Speech, Voice, trim_silence
from voicestream.tts.cast import VoiceRequest, cast, parse_voice_option


def test_slots_borrow_silence_until_the_next_utterance_or_other_speaker() -> None:
    spans = [(0.0, 2.0, "A"), (5.0, 6.0, "A"), (6.5, 8.0, "B")]
    turns = [SpeakerTurn(0.0, 2.0, "A"), SpeakerTurn(3.0, 3.5, "B"), SpeakerTurn(5.0, 6.0, "A")]
    slots = plan_slots(spans, 10.0, turns, FitSettings(gap_s=0.1))
    assert slots[0].limit_s == pytest.approx(2.9)  # B's backchannel at 3.0 s without words
    assert slots[1].limit_s == pytest.approx(6.4)
    assert slots[2].limit_s == pytest.approx(10.0)  # the media end, no gap
    assert all(s.limit_s >= s.end_s for s in slots)


def test_fit_slows_short_clips_keeps_borrowed_and_speeds_long_ones() -> None:
    cfg = FitSettings()
    slot = Slot(0.0, 2.0, 3.0)
    assert plan_fit(1.0, slot, cfg).tempo == pytest.approx(cfg.min_tempo)  # not slower than the bound
    assert plan_fit(1.9, slot, cfg).tempo == pytest.approx(0.95)
    assert plan_fit(2.5, slot, cfg).tempo == 1.0  # borrows the silence
    assert plan_fit(3.6, slot, cfg).tempo == pytest.approx(1.2)
    over = plan_fit(9.0, slot, cfg)
    assert over.tempo == cfg.hard_max_tempo and over.overflow_s == pytest.approx(9.0 / cfg.hard_max_tempo - 3.0)
    assert needs_faster_voice(3.6, slot, cfg) == 1.0
    assert 1.0 < needs_faster_voice(4.5, slot, cfg) <= cfg.max_speed


def test_place_and_duck() -> None:
    n = MIX_RATE * 4
    tone = (0.3 * np.sin(np.arange(MIX_RATE) * 0.05)).astype(np.float32)
    speech = place([(1.0, tone), (3.5, tone)], n)
    assert speech[: MIX_RATE - 10].max() == 0.0 and speech[MIX_RATE + 10 : 2 * MIX_RATE - 10].max() > 0.2
    assert speech.size == n  # the clip at 3.5 s is cut at the end
    gain = duck_gain(speech, duck_db=12.0)
    assert gain[int(0.2 * MIX_RATE)] == pytest.approx(1.0)
    assert gain[int(1.5 * MIX_RATE)] == pytest.approx(10 ** (-12 / 20), rel=1e-3)
    assert np.abs(np.diff(gain)).max() < 0.01  # ramps, no steps (no clicks)
    out = mix(speech, np.full((2, n), 0.1, np.float32), 12.0)
    assert out.shape == (2, n) and out[0, int(0.2 * MIX_RATE)] == pytest.approx(0.1)


class FakeSynth:
    """Two voices per language it knows; speaks a 440 Hz tone as long as the text."""

    def __init__(self, name: str, langs: tuple[str, ...], quality: int) -> None:
        self.name, self._langs, self._q = name, langs, quality

    def voices(self, language: str) -> list[Voice]:
        if language not in self._langs:
            return []
        return [Voice(self.name, "m", language, "male", self._q), Voice(self.name, "f", language, "female", self._q)]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        n = int(0.06 * len(text) * 16000 / speed)
        return Speech((0.5 * np.sin(np.arange(n) * 0.17)).astype(np.float32), 16000)


def test_cast_gives_distinct_voices_of_matching_gender_best_engine_first() -> None:
    synths = [FakeSynth("good", ("es",), 3), FakeSynth("poor", ("es", "fr"), 0)]
    voices = cast([("A", "female"), ("B", "female"), ("C", "male"), ("D", "unknown")], "es", synths)
    assert voices["A"].id == "good:f" and voices["C"].id == "good:m"
    assert voices["B"].id == "poor:f"
    assert len({v.id for v in voices.values()}) == 4
    five = cast([(s, "male") for s in "ABCDE"], "es", synths)  # more speakers than voices: reused in turn
    assert {v.id for v in five.values()} == {"good:m", "good:f", "poor:m", "poor:f"}


def test_cast_honours_the_voice_option_and_explains_missing_languages() -> None:
    synths = [FakeSynth("good", ("es",), 3), FakeSynth("poor", ("es", "fr"), 0)]
    request = parse_voice_option("poor,B=good:m", ("good", "poor"))
    assert request == VoiceRequest(("poor",), (), (("B", "good:m"),))
    voices = cast([("A", "male"), ("B", "female")], "es", synths, request)
    assert voices["A"].id == "poor:m" and voices["B"].id == "good:m"
    with pytest.raises(ModelError, match=r"no voice speaks 'de'.*good: es; poor: es, fr"):
        cast([("A", "male")], "de", synths)
    with pytest.raises(ModelError, match="does not speak 'fr'"):
        cast([("A", "male")], "fr", synths, parse_voice_option("good:m", ("good", "poor")))
    with pytest.raises(OptionError, match="unknown voice engine 'nope'"):
        parse_voice_option("nope", ("good", "poor"))


def test_similarity_ignores_case_and_punctuation() -> None:
    assert normalize("¡Hola, Señor!  ¿Qué tal?") == "hola señor qué tal"
    assert similarity("Hola, ¿qué tal?", "hola qué tal") == 1.0
    assert similarity("Hola, ¿qué tal?", "hola que tal") > 0.85
    assert similarity("Hola, ¿qué tal?", "buenas noches a todos") < 0.4
    assert similarity("你好，世界。", "你好世界") == 1.0


def test_trim_silence_keeps_a_short_lead() -> None:
    x = np.zeros(16000, np.float32)
    x[8000:9000] = 0.5
    out = trim_silence(Speech(x, 16000), pad_s=0.01)
    assert out.samples.size == 1000 + 2 * 160


def test_mux_arguments(tmp_path: Path) -> None:
    job = MuxJob(tmp_path / "in.mp4", tmp_path / "dub.wav", tmp_path / "out.mp4", "es", "en", "loudnorm=I=-14",
                 keep_original=True, subtitles=tmp_path / "s.srt")  # fmt: skip
    argv = mux_argv(job)
    joined = " ".join(argv)
    assert "-map 0:v:0 -c:v copy" in joined and "-c:s mov_text" in joined
    assert "language=spa" in joined and "language=eng" in joined and "-disposition:a:1 0" in joined
    assert argv[-1] == f"file:{tmp_path / 'out.mp4'}"
    assert iso639_2("de") == "deu" and iso639_2("zz") == "und"
    with pytest.raises(OutputError, match=r"cannot write a video to 'x.mp3'"):
        check_output(Path("x.mp3"), has_video=True)
    check_output(Path("x.mp3"), has_video=False)


def test_cache_round_trips_a_transcript(tmp_path: Path) -> None:
    words = (Word(0.5, 0.9, " Hello", 0.9, "Speaker 1"), Word(1.0, 1.4, " there.", 0.8, "Speaker 1"))
    segment = Segment(0.5, 1.4, words, "Speaker 1", "Hola.")
    turns = (SpeakerTurn(0.4, 1.5, "Speaker 1"),)
    t = Transcript("en", 3.0, "base", (segment,), turns=turns, translation_language="es", translator="apertium")
    cache = JobCache(tmp_path, "ab" * 32)
    cache.write_json("t.json", transcript_to_json(t))
    stored = cache.read_json("t.json")
    assert stored is not None
    assert transcript_from_json(stored) == t
    assert cache.read_json("missing.json") is None
    cache.write_audio("a.wav", np.ones((2, 10), np.float32) * 0.5, 48000)
    audio, rate = cache.read_audio("a.wav") or (None, 0)
    assert rate == 48000 and audio is not None and audio.shape == (2, 10)
    assert key("a", {"x": 1}) == key("a", {"x": 1}) != key("a", {"x": 2})


@pytest.mark.network("dubs a URL on a host that does not exist")
def test_unreachable_url_is_a_clear_input_error(tmp_path: Path) -> None:
    assert is_url("https://www.youtube.com/watch?v=x") and not is_url("clip.mp4")
    with pytest.raises(InputNotFoundError, match=r"cannot fetch .*cannot be reached"):
        fetch("https://video.invalid/watch?v=1", tmp_path)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--to", "xx"], 2, "unknown --to language 'xx'"),
        (["--to", "es", "--voice", "nope"], 2, "unknown voice engine 'nope'"),
        (["--to", "es", "--max-stretch", "3"], 2, "--max-stretch must be between"),
        (["--to", "es", "-o", "out.txt"], 8, "cannot write a video to 'out.txt'"),
    ],
)
def test_dub_cli_option_errors(
    data: Path, args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from voicestream.cli import main

    assert main(["dub", str(data / "video_auto_editor" / "example.mp4"), *args, "--no-progress"]) == code
    assert message in capsys.readouterr().err


@pytest.mark.network("one case dubs a URL on a host that does not exist")
def test_dub_cli_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from voicestream.cli import main

    assert main(["dub", "https://video.invalid/x", "--to", "es", "--cache-dir", str(tmp_path)]) == 3
    assert "cannot be reached" in capsys.readouterr().err
    assert main(["dub", str(tmp_path / "missing.mp4"), "--to", "es"]) == 3
    assert "input not found" in capsys.readouterr().err
