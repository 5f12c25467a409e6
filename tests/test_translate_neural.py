"""The OPUS-MT engine's code path, offline: a tiny randomly initialised Marian model is
written in Marian's own format here, converted with CTranslate2's OPUS-MT converter, and
run through :class:`~voicestream.translate.neural.NeuralTranslator`. The translations are
noise (random weights); what is checked is the path: tokenisation, batching, decoding,
detokenisation, pairs and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml  # type: ignore[import-untyped]  # as in voicestream/cli/ray_config.py: types-PyYAML is not a dependency

from voicestream.errors import ModelError
from voicestream.translate.base import Sentence
from voicestream.translate.choose import choose
from voicestream.translate.neural import NeuralTranslator, resolve_model

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "ask not what your country can do for you",
    "ask what you can do for your country",
    "and so my fellow americans",
    "we went down to the river this morning",
] * 20
DIM, FFN, HEADS = 16, 32, 2


def marian_model(folder: Path, vocab: list[str]) -> None:
    """A 1-layer post-norm Marian transformer with random weights, as OPUS-MT ships them."""
    rng = np.random.default_rng(0)

    def w(*shape: int) -> np.ndarray:
        return (rng.normal(size=shape) * 0.1).astype(np.float32)

    weights: dict[str, np.ndarray] = {"Wemb": w(len(vocab), DIM), "decoder_ff_logit_out_b": w(1, len(vocab))}
    for scope, attentions in (("encoder_l1", ("self",)), ("decoder_l1", ("self", "context"))):
        for att in attentions:
            for x in "qkvo":
                weights[f"{scope}_{att}_W{x}"] = w(DIM, DIM)
                weights[f"{scope}_{att}_b{x}"] = w(1, DIM)
            weights[f"{scope}_{att}_Wo_ln_scale"] = np.ones((1, DIM), np.float32)
            weights[f"{scope}_{att}_Wo_ln_bias"] = np.zeros((1, DIM), np.float32)
        weights[f"{scope}_ffn_W1"], weights[f"{scope}_ffn_b1"] = w(DIM, FFN), w(1, FFN)
        weights[f"{scope}_ffn_W2"], weights[f"{scope}_ffn_b2"] = w(FFN, DIM), w(1, DIM)
        weights[f"{scope}_ffn_ffn_ln_scale"] = np.ones((1, DIM), np.float32)
        weights[f"{scope}_ffn_ffn_ln_bias"] = np.zeros((1, DIM), np.float32)
    config = {
        "type": "transformer", "enc-depth": 1, "dec-depth": 1, "transformer-heads": HEADS,
        "transformer-decoder-autoreg": "self-attention", "transformer-no-projection": False,
        "transformer-ffn-activation": "swish", "transformer-postprocess-emb": "d",
        "transformer-preprocess": "", "transformer-postprocess": "dan", "transformer-postprocess-top": "",
        "transformer-guided-alignment-layer": "last",
    }  # fmt: skip
    weights["special:model.yml"] = np.frombuffer(yaml.safe_dump(config).encode() + b"\0", dtype=np.int8)
    np.savez(folder / "model.npz", **weights)  # type: ignore[arg-type]
    lines = [f'"{token}": {i}' for i, token in enumerate(vocab)]
    (folder / "vocab.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "decoder.yml").write_text(yaml.safe_dump({"models": ["model.npz"], "vocabs": ["vocab.yml", "vocab.yml"]}))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import ctranslate2
    import sentencepiece

    work = tmp_path_factory.mktemp("opus")
    (work / "corpus.txt").write_text("\n".join(CORPUS) + "\n")
    sentencepiece.SentencePieceTrainer.train(
        input=str(work / "corpus.txt"), model_prefix=str(work / "spm"), vocab_size=40,
        model_type="unigram", bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2,
    )  # fmt: skip
    spm = sentencepiece.SentencePieceProcessor(model_file=str(work / "spm.model"))
    vocab = ["</s>", "<unk>"] + [spm.id_to_piece(i) for i in range(1, spm.get_piece_size())]
    marian = work / "marian"
    marian.mkdir()
    marian_model(marian, vocab)
    out = work / "ct2"
    ctranslate2.converters.OpusMTConverter(str(marian)).convert(str(out))
    for name in ("source.spm", "target.spm"):
        (out / name).write_bytes((work / "spm.model").read_bytes())
    return out


def test_a_converted_opus_mt_model_translates_batches(tiny_model: Path) -> None:
    engine = NeuralTranslator(str(tiny_model), "en", "de")
    assert engine.supports("en", "de") and not engine.supports("de", "en") and engine.pairs() == ["en->de"]
    out = engine.translate([Sentence("ask not what your country can do for you."), Sentence("the dog")], "en", "de")
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert engine.translate([], "en", "de") == []
    with pytest.raises(ModelError, match="translates en->de, not en->fr"):
        engine.translate([Sentence("x")], "en", "fr")
    chosen = choose("en", "de", f"opus-mt:{tiny_model}", None)
    assert chosen.name.startswith("opus-mt:") and chosen.supports("en", "de")


def test_missing_models_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not a CTranslate2 OPUS-MT folder \(missing model.bin"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="not found"):
        resolve_model("./no/such/model")


@pytest.mark.network("asks for an uncached hub translation model offline")
def test_an_uncached_hub_model_offline_is_a_model_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="is not installed and could not be downloaded"):
        resolve_model("Helsinki-NLP/opus-mt-en-de")
