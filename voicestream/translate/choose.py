"""Which translator serves a language pair: the one named, else the best installed."""

from __future__ import annotations

from voicestream.asr import AsrEngine
from voicestream.errors import OptionError
from voicestream.translate.apertium import MIN_CHRF, ApertiumTranslator, Route
from voicestream.translate.base import Translator
from voicestream.translate.neural import NeuralTranslator
from voicestream.translate.whisper import WhisperTranslator

ENGINES = ("whisper", "apertium")
"""Translator names ``--translator`` accepts (auto picks in this order)."""
NEURAL_PREFIX = "opus-mt:"
"""``--translator opus-mt:MODEL`` names a neural model (never picked automatically)."""


def available(engine: AsrEngine | None, every_route: bool = False) -> list[Translator]:
    """Every translator usable here, in order of preference (``every_route``: Apertium's
    pivot routes that are not offered by default too)."""
    found: list[Translator] = []
    if engine is not None:
        found.append(WhisperTranslator(engine))
    found.append(ApertiumTranslator(every_route=every_route))
    return found


def describe(translators: list[Translator]) -> str:
    """``"whisper: *->en; apertium: en->es, en->pt (via es)"`` (engines without pairs say so)."""
    return "; ".join(f"{t.name}: {', '.join(_pairs(t)) or 'none installed'}" for t in translators)


def _pairs(translator: Translator) -> list[str]:
    if not isinstance(translator, ApertiumTranslator):
        return translator.pairs()
    return [
        f"{s}->{t}" + (f" (via {r.languages[1]})" if len(r.languages) > 2 else "")
        for (s, t), r in sorted(translator.routes.items())
    ]


def route_label(translator: Translator, source: str, target: str) -> str:
    """How ``source`` -> ``target`` is translated: ``apertium:en-es-pt``, or the engine's name."""
    if isinstance(translator, ApertiumTranslator) and (route := translator.route(source, target)) is not None:
        return route.label
    return translator.name


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
    translators = [t for t in available(engine, every_route=name == "apertium") if name is None or t.name == name]
    for translator in translators:
        if translator.supports(source, target):
            return translator
    which = f"translator '{name}'" if name else "the installed translators"
    hint = " (more Apertium pairs: apt-get install apertium-<pair>)"
    if name is None and (route := ApertiumTranslator(every_route=True).route(source, target)) is not None:
        hint = (
            f" ({route.label} is installed but not offered: {_quality(route)}; ask for it with --translator apertium)"
        )
    raise OptionError(f"{which} cannot translate {source}->{target}; available: {describe(available(engine))}{hint}")


def _quality(route: Route) -> str:
    return "not measured" if route.chrf is None else f"chrF {route.chrf:.1f} < {MIN_CHRF:g}"
