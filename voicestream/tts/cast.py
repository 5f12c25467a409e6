"""Voice casting: which voice speaks for which speaker (distinct voices, matching pitch range)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from voicestream.errors import ModelError, OptionError
from voicestream.tts.base import Gender, Synthesizer, Voice


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """What ``--voice`` asked for: engines to draw from (empty: all), voices in speaker order,
    and voices for named speakers. Voices are ``engine`` or ``engine:name`` strings."""

    engines: tuple[str, ...] = ()
    ordered: tuple[str, ...] = ()
    named: tuple[tuple[str, str], ...] = ()


def parse_voice_option(text: str | None, engines: Sequence[str]) -> VoiceRequest:
    """Parse ``--voice``: comma-separated items, each ``ENGINE`` (draw voices from it),
    ``ENGINE:NAME`` (the next speaker's voice) or ``SPEAKER=ENGINE[:NAME]``."""
    if not text or text == "auto":
        return VoiceRequest()
    pool: list[str] = []
    ordered: list[str] = []
    named: list[tuple[str, str]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        speaker, _, spec = item.rpartition("=")
        engine = spec.split(":", 1)[0]
        if engine not in engines:
            raise OptionError(f"unknown voice engine '{engine}' in --voice; engines: {', '.join(engines)}")
        if speaker:
            named.append((speaker.strip(), spec))
        elif ":" in spec:
            ordered.append(spec)
        else:
            pool.append(spec)
    return VoiceRequest(tuple(pool), tuple(ordered), tuple(named))


def catalog(language: str, synthesizers: Sequence[Synthesizer], engines: Sequence[str] = ()) -> list[Voice]:
    """All voices for ``language`` (from ``engines`` only, when given), best first."""
    voices = [v for s in synthesizers if not engines or s.name in engines for v in s.voices(language)]
    return sorted(voices, key=lambda v: -v.quality)


def _resolve(spec: str, language: str, synthesizers: Sequence[Synthesizer]) -> Voice:
    engine, _, name = spec.partition(":")
    offered = catalog(language, synthesizers, (engine,))
    for voice in offered:
        if not name or voice.name == name:
            return voice
    if engine == "piper" and name:
        return Voice("piper", name, language, "unknown", quality=3)  # a hub name or .onnx path, loaded on use
    have = ", ".join(v.id for v in offered) or "none"
    raise ModelError(f"voice '{spec}' does not speak '{language}'; {engine} voices for it: {have}")


def cast(
    speakers: Sequence[tuple[str, Gender]],
    language: str,
    synthesizers: Sequence[Synthesizer],
    request: VoiceRequest | None = None,
    references: Mapping[str, str] | None = None,
) -> dict[str, Voice]:
    """A voice for each ``(speaker, gender)`` (most talkative first): distinct voices while the
    catalog lasts (then reused in turn), the best voice of the speaker's gender first. Cloning
    voices get each speaker's reference clip from ``references``.

    Raises:
        ModelError: no voice speaks ``language`` (the message lists what each engine speaks).
    """
    req = request or VoiceRequest()
    voices = catalog(language, synthesizers, req.engines)
    if not voices and not req.ordered and not req.named:
        raise ModelError(_no_voice_message(language, synthesizers, req.engines))
    named = dict(req.named)
    ordered = list(req.ordered)
    chosen: dict[str, Voice] = {}
    for speaker, _ in speakers:
        if speaker in named:
            chosen[speaker] = _resolve(named[speaker], language, synthesizers)
        elif ordered:
            chosen[speaker] = _resolve(ordered.pop(0), language, synthesizers)
    used = {v.id for v in chosen.values() if v.reference is None and v.engine != "xtts"}
    for speaker, gender in speakers:
        if speaker in chosen:
            continue
        free = [v for v in voices if v.id not in used or v.engine == "xtts"]
        if not free:
            used.clear()
            free = voices
        same = [v for v in free if v.gender == gender or "unknown" in (v.gender, gender)]
        voice = (same or free)[0]
        used.add(voice.id)
        chosen[speaker] = voice
    refs = references or {}
    return {s: replace(v, reference=refs.get(s)) if v.engine == "xtts" else v for s, v in chosen.items()}


def _no_voice_message(language: str, synthesizers: Sequence[Synthesizer], engines: Sequence[str]) -> str:
    probe = ("en", "es", "fr", "de", "it", "pt", "nl", "pl", "ru", "ja", "zh", "ko", "ar", "hi", "tr")
    offers = []
    for s in synthesizers:
        langs = [code for code in probe if s.voices(code)]
        offers.append(f"{s.name}: {', '.join(langs) if langs else 'none installed'}")
    which = f" from {', '.join(engines)}" if engines else ""
    return (
        f"no voice{which} speaks '{language}'. Voices here: {'; '.join(offers)}. "
        "Install espeak-ng (apt-get install espeak-ng) for ~100 languages, name a Piper voice "
        "(--voice piper:de_DE-thorsten-medium, online), or clone voices with --voice xtts (online, 'clone' extra)"
    )
