"""Speculative decoding on the real models and recordings: same tokens as plain greedy decoding.

Exactness is checked in float32. In int8, CTranslate2's batched and single-token CPU
kernels quantize differently (logits differ by up to ~3.5 here), so a near-tie can
flip whichever way the tokens are fed; ``benchmarks/speculative.py`` reports how
often that happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from voicestream import media
from voicestream.asr import AsrSegment, DecodeOptions, FasterWhisperEngine, step_decoder
from voicestream.asr.speculative import SpeculativeStats
from voicestream.catalog import resolve
from voicestream.errors import ModelError
from voicestream.live.replay import replay as replay_session
from voicestream.live.state import SessionState
from voicestream.messages import join_words
from voicestream.timebase import SAMPLE_RATE

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)

GREEDY = DecodeOptions(beam_size=1)


@pytest.fixture(scope="module")
def plain() -> FasterWhisperEngine:
    return FasterWhisperEngine.load(resolve("base"), compute_type="float32")


@pytest.fixture(scope="module")
def with_tiny() -> FasterWhisperEngine:
    return FasterWhisperEngine.load(
        resolve("base"), compute_type="float32", draft=resolve("tiny.en"), draft_policy="always"
    )


@pytest.fixture(scope="module")
def with_self() -> FasterWhisperEngine:
    return FasterWhisperEngine.load(
        resolve("base"), compute_type="float32", draft=resolve("base"), draft_policy="always"
    )


def windows(
    data: Path, read_speech: list[tuple[Path, str]]
) -> Iterator[tuple[str, npt.NDArray[np.float32], str | None]]:
    """(name, up to 29 s of audio, previous-text prompt) from every kind of recording."""
    for i, (path, _ref) in enumerate(read_speech[:5]):
        prompt = read_speech[i - 1][1].lower() if i % 2 else None
        yield path.name, media.decode(path)[: 29 * SAMPLE_RATE], prompt
    yield "jfk", media.decode(data / "jfk_public_domain" / "jfk.flac"), None
    long = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    yield "long_form@60s", long[60 * SAMPLE_RATE : 89 * SAMPLE_RATE], "and so the story went on"
    for name in ("picovoice_leopard_test_de.wav", "picovoice_leopard_test_fr.wav"):
        yield name, media.decode(data / "non_english" / name)[: 29 * SAMPLE_RATE], None


def tokens(segments: list[AsrSegment]) -> list[int]:
    return [t for s in segments for t in s.tokens]


def perturbed(text: str) -> str:
    """A hypothesis that is mostly right: one word dropped, one changed, the end missing."""
    words = text.split()
    if len(words) > 8:
        words = words[:2] + words[3:5] + ["banana"] + words[6:-2]
    return " ".join(words)


@pytest.mark.slow
def test_plain_step_decoding_is_ctranslate2_greedy(
    plain: FasterWhisperEngine, data: Path, read_speech: list[tuple[Path, str]]
) -> None:
    """The step loop (prefill + one token per pass) picks what ``Whisper.generate`` picks."""
    from faster_whisper.transcribe import get_suppressed_tokens

    g = plain.greedy
    assert g is not None
    for name, audio, prompt in windows(data, read_speech):
        language = plain.detect_language(audio)[0]
        options = replace(GREEDY, language=language, initial_prompt=prompt)
        tok = g.tokenizer(g.whisper, options)
        encoded, _ = g._encode(g.whisper, audio)
        ids = g._prompt(g.whisper, tok, prompt)
        suppress = list(get_suppressed_tokens(tok, [-1]))
        ref = g.whisper.model.generate(
            encoded, [ids], beam_size=1, max_length=448, suppress_blank=True, suppress_tokens=suppress
        )[0].sequences_ids[0]
        segments = plain.transcribe(audio, 0.0, replace(options, temperatures=(0.0,)))
        assert tokens(segments) == ref[: len(tokens(segments))] and tokens(segments), name


@pytest.mark.slow
def test_drafts_give_the_plain_tokens(
    plain: FasterWhisperEngine,
    with_tiny: FasterWhisperEngine,
    with_self: FasterWhisperEngine,
    data: Path,
    read_speech: list[tuple[Path, str]],
) -> None:
    """tiny.en and same-model drafts, hypothesis drafts, and both: token-identical output."""
    tiny_stats, self_stats, hyp_stats = SpeculativeStats(), SpeculativeStats(), SpeculativeStats()
    total = count = 0
    for name, audio, prompt in windows(data, read_speech):
        options = replace(GREEDY, language=plain.detect_language(audio)[0], initial_prompt=prompt)
        reference = plain.transcribe(audio, 0.0, options)
        ref_tokens = tokens(reference)
        assert ref_tokens, name
        total += len(ref_tokens)
        count += 1
        hypothesis = perturbed(join_words([w for s in reference for w in s.words]))
        runs = {
            "tiny.en draft": with_tiny.transcribe(audio, 0.0, options, stats=tiny_stats),
            "same-model draft": with_self.transcribe(audio, 0.0, options, stats=self_stats),
            "hypothesis": plain.transcribe(audio, 0.0, options, hypothesis, hyp_stats),
            "hypothesis + tiny.en": with_tiny.transcribe(audio, 0.0, options, hypothesis),
        }
        for how, segments in runs.items():
            assert tokens(segments) == ref_tokens, f"{name}: {how}"
            assert [(s.text, s.words) for s in segments] == [(s.text, s.words) for s in reference], how
            for a, b in zip(segments, reference, strict=True):  # scores: batched sums round differently
                assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-3)
                assert a.no_speech_prob == pytest.approx(b.no_speech_prob, abs=1e-4, nan_ok=True)
    assert tiny_stats.accepted > 0.5 * tiny_stats.drafted  # tiny.en follows base on English
    assert self_stats.acceptance_rate > 0.98  # a model agrees with itself (float rounding aside)
    # most tokens come from the hypothesis, in about one pass per mistake made in it
    assert hyp_stats.hypothesis_accepted > 0.6 * total
    assert hyp_stats.verify_passes <= 4 * count


def replay(engine: FasterWhisperEngine, audio: npt.NDArray[np.float32], drafts: bool) -> tuple[list[str], SessionState]:
    """Stream ``audio`` through a session in 0.5 s steps (faster than real time); final texts."""
    finals, session = replay_session(engine, audio, hypothesis_drafts=drafts)
    return [join_words(e.words) for e in finals], session


@pytest.mark.slow
def test_streaming_with_hypothesis_drafts_is_identical(plain: FasterWhisperEngine, data: Path) -> None:
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    long = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")[: 25 * SAMPLE_RATE]
    for audio in (jfk, long):
        off, plain_session = replay(plain, audio, drafts=False)
        on, session = replay(plain, audio, drafts=True)
        assert on == off and len(on) > 1
        # revisions verify the utterance's first text as their draft: the same revised text
        assert session.stats.revisions > 0
        assert join_words(session.final_words) == join_words(plain_session.final_words)
        spec = session.stats.speculative
        # a word ending in a full stop waits for audio after it (StreamSettings.mark_settle_s),
        # so drafts are longer and their tail changes more often: on jfk 204 of 304 drafted
        # tokens are accepted (114 of 142 without the wait), on the long excerpt 453 of 512
        assert spec.hypothesis_drafted > 0 and spec.hypothesis_accepted > 0.6 * spec.hypothesis_drafted


def test_auto_policy_follows_the_measured_costs(plain: FasterWhisperEngine) -> None:
    """``auto`` drafts exactly when the decoder costs timed at load predict a gain."""
    auto = FasterWhisperEngine.load(resolve("base"), compute_type="float32", draft=resolve("tiny.en"))
    cost = auto.draft_cost
    assert cost is not None and cost.main_step_s > 0 and cost.draft_step_s > 0 and cost.verify_s > 0
    assert auto.greedy is not None
    assert (auto.greedy.draft is not None) == (cost.speedup >= 1.0)
    assert ("on:" in auto.draft_note) == (cost.speedup >= 1.0) and "expected" in auto.draft_note


def test_draft_model_needs_the_step_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(step_decoder, "STEP_API", False)
    with pytest.raises(ModelError, match="ctranslate2-crisperwhisper"):
        FasterWhisperEngine.load(resolve("tiny.en"), draft=resolve("tiny.en"), draft_policy="always")
    engine = FasterWhisperEngine.load(resolve("tiny.en"))  # without a draft model: the faster-whisper path
    assert not engine.speculative
    audio = media.decode(Path(__file__).resolve().parents[1] / "examples" / "jfk.flac")
    segments = engine.transcribe(audio, 0.0, GREEDY)
    assert "ask not what your country" in " ".join(s.text for s in segments).lower()


def test_a_window_detected_then_decoded_is_encoded_once(
    plain: FasterWhisperEngine, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Language detection and the decode after it share one encoder pass (a live session
    that did not name its language detects on every update until it is settled), and the
    detection reads as faster-whisper's own."""
    whisper = plain.whisper
    german = media.decode(data / "non_english" / "picovoice_leopard_test_de.wav")[: 8 * SAMPLE_RATE]
    jfk = media.decode(data / "jfk_public_domain" / "jfk.flac")
    references = [whisper.detect_language(audio=audio)[:2] for audio in (german, jfk)]  # faster-whisper's own
    encoded: list[int] = []
    encode = whisper.encode

    def counted(features: npt.NDArray[np.float32]) -> object:
        encoded.append(features.shape[-1])
        return encode(features)

    monkeypatch.setattr(whisper, "encode", counted)
    for audio, expected, (reference, reference_p) in zip((german, jfk), ("de", "en"), references, strict=True):
        before = len(encoded)
        language, probability = plain.detect_language(audio)
        segments = plain.transcribe(audio, 0.0, replace(GREEDY, language=language))
        assert language == expected == reference and abs(reference_p - probability) < 0.05
        assert segments and len(encoded) == before + 1
    plain.transcribe(german, 0.0, replace(GREEDY, language="de"))  # another window: encoded again
    assert len(encoded) == 3
    # a live session detecting its language: every decode (updates, finals, revisions, the
    # detections before them) costs at most one encoder pass
    before = len(encoded)
    session = replay_session(plain, jfk, step_s=1.0)[1]
    assert session.stats.revisions > 0 and sum(session._language_votes.values()) > 0
    assert 0 < len(encoded) - before <= session.stats.decodes
