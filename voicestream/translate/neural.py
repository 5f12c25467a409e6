"""Neural MT for online users: OPUS-MT (Marian) models converted to CTranslate2.

A model is a folder with CTranslate2's ``model.bin`` and the SentencePiece models
``source.spm`` and ``target.spm`` (what ``ct2-opus-mt-converter`` plus the original
OPUS-MT files give), named by path or by Hugging Face repo id (downloaded when online).
One model translates one language pair, the one it was trained for.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicestream.errors import ModelError
from voicestream.translate.base import Sentence

NEEDED = ("model.bin", "source.spm", "target.spm")
MAX_TOKENS = 256
"""Longest translation, in target tokens."""


def resolve_model(name: str) -> Path:
    """A local model folder, or a hub repo id fetched (or found in the cache).

    Raises:
        ModelError: not a model folder, or a repo that is not cached and cannot be downloaded.
    """
    local = Path(name).expanduser()
    if local.exists():
        missing = [f for f in NEEDED if not (local / f).is_file()]
        if missing:
            raise ModelError(f"'{name}' is not a CTranslate2 OPUS-MT folder (missing {', '.join(missing)})")
        return local.resolve()
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise ModelError(f"translation model '{name}' not found: give a model folder or a Hugging Face repo id")
    from huggingface_hub import snapshot_download  # the hub client: only for models named by hub id

    try:
        return Path(
            snapshot_download(name, allow_patterns=["*.bin", "*.spm", "*.json", "*.txt"], local_files_only=True)
        )
    except Exception:  # not cached: try the network
        pass
    try:
        return Path(snapshot_download(name, allow_patterns=["*.bin", "*.spm", "*.json", "*.txt"]))
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(
            f"translation model '{name}' is not installed and could not be downloaded ({reason[:120]}); "
            "offline, use whisper (to English) or an Apertium pair"
        ) from None


class NeuralTranslator:
    """An OPUS-MT model on CTranslate2 for the pair ``source`` -> ``target`` it was trained on."""

    def __init__(self, model: str, source: str, target: str, device: str = "cpu", threads: int = 0) -> None:
        import ctranslate2  # CTranslate2 (native): imported when a model is used
        import sentencepiece  # only OPUS-MT models need it

        path = resolve_model(model)
        self.name = f"opus-mt:{model}"
        self.source, self.target = source, target
        try:
            self._translator: Any = ctranslate2.Translator(str(path), device=device, intra_threads=threads)
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"cannot load translation model '{model}': {e}") from None
        self._spm_source = sentencepiece.SentencePieceProcessor(model_file=str(path / "source.spm"))
        self._spm_target = sentencepiece.SentencePieceProcessor(model_file=str(path / "target.spm"))
        self._lock = threading.Lock()

    def supports(self, source: str, target: str) -> bool:
        """The model's own pair only."""
        return (source, target) == (self.source, self.target)

    def pairs(self) -> list[str]:
        """``["src->tgt"]``."""
        return [f"{self.source}->{self.target}"]

    def translate(self, sentences: Sequence[Sentence], source: str, target: str) -> list[str]:
        """Sentences translated in one batch (beam 4)."""
        if not self.supports(source, target):
            raise ModelError(f"{self.name} translates {self.source}->{self.target}, not {source}->{target}")
        if not sentences:
            return []
        batch = [self._spm_source.encode(s.text, out_type=str) for s in sentences]  # the model adds </s>
        with self._lock:
            results = self._translator.translate_batch(batch, beam_size=4, max_decoding_length=MAX_TOKENS)
        return [str(self._spm_target.decode(r.hypotheses[0])).strip() for r in results]
