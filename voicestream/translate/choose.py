"""Which translator serves a language pair: the one named, else the best installed."""

from __future__ import annotations

from voicestream.asr import AsrEngine
from voicestream.errors import OptionError
from voicestream.translate.apertium import ApertiumTranslator
from voicestream.translate.base import Translator
from voicestream.translate.neural import NeuralTranslator
from voicestream.translate.whisper import WhisperTranslator

ENGINES = ("whisper", "apertium")
"""Translator names ``--translator`` accepts (auto picks in this order)."""
NEURAL_PREFIX = "opus-mt:"
"""``--translator opus-mt:MODEL`` names a neural model (never picked automatically)."""


def available(engine: AsrEngine | None) -> list[Translator]:
    """Every translator usable here, in order of preference."""
    found: list[Translator] = []
    if engine is not None:
        found.append(WhisperTranslator(engine))
    found.append(ApertiumTranslator())
    return found


def describe(translators: list[Translator]) -> str:
    """``"whisper: *->en; apertium: en->es, es->en"`` (engines without pairs say so)."""
    return "; ".join(f"{t.name}: {', '.join(t.pairs()) or 'none installed'}" for t in translators)


def choose(source: str, target: str, name: str | None, engine: AsrEngine | None) -> Translator:
    """The translator for ``source`` -> ``target``.

    Raises:
        OptionError: unknown engine name, or no engine (or not the named one) has the pair;
            the message lists what is available.
    """
    if source == target:
        raise OptionError(f"the speech is already in '{target}'; nothing to translate")
    if name is not None and name.startswith(NEURAL_PREFIX):
        return NeuralTranslator(name[len(NEURAL_PREFIX) :], source, target)
    if name is not None and name not in ENGINES:
        raise OptionError(
            f"unknown translator '{name}'; use one of: {', '.join(ENGINES)}, or {NEURAL_PREFIX}MODEL "
            "(a CTranslate2 OPUS-MT folder or Hugging Face repo id)"
        )
    translators = [t for t in available(engine) if name is None or t.name == name]
    for translator in translators:
        if translator.supports(source, target):
            return translator
    which = f"translator '{name}'" if name else "no installed translator"
    raise OptionError(
        f"{which} cannot translate {source}->{target}; available: {describe(available(engine))}"
        " (more Apertium pairs: apt-get install apertium-<pair>)"
    )
