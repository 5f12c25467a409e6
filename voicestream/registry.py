"""The one place that creates engines and imports their optional dependencies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicestream.asr import DraftPolicy, FasterWhisperEngine, default_cpu_threads
from voicestream.asr.speculative import DraftSettings
from voicestream.catalog import resolve
from voicestream.errors import ModelError
from voicestream.separation import SpleeterSeparator
from voicestream.tts.offline import offline_synthesizers
from voicestream.tts.xtts import XttsSynthesizer
from voicestream.vad import SileroVad, VadSettings

if TYPE_CHECKING:
    from voicestream.separation import Separator
    from voicestream.tts.base import Synthesizer


def create_asr_engine(
    model: str | None,
    device: str = "cpu",
    compute_type: str = "default",
    workers: int = 1,
    draft_model: str | None = None,
    draft: DraftSettings | None = None,
    draft_policy: DraftPolicy = "auto",
    cpu_threads: int | None = None,
) -> FasterWhisperEngine:
    """Load a Whisper model by name (see :func:`voicestream.catalog.resolve`), and the
    draft model of speculative decoding when ``draft_model`` names one; ``cpu_threads``
    (default: this process's cores) are shared by the ``workers``."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError as e:
        raise ModelError("faster-whisper is not installed; install voicestream with its dependencies") from e
    threads = max(1, (cpu_threads or default_cpu_threads()) // workers)
    return FasterWhisperEngine.load(
        resolve(model),
        device=device,
        compute_type=compute_type,
        cpu_threads=threads,
        workers=workers,
        draft=resolve(draft_model) if draft_model else None,
        draft_settings=draft,
        draft_policy=draft_policy,
    )


def create_vad(settings: VadSettings | None = None) -> SileroVad:
    """The default voice activity detector (Silero VAD v6, ONNX)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ModelError("onnxruntime is not installed; it is needed for Silero VAD") from e
    return SileroVad(settings)


def create_synthesizers(threads: int | None = None) -> list[Synthesizer]:
    """The offline speech synthesizers, best first: Piper, Kokoro, espeak-ng. Engines whose
    packages are missing offer no voices."""

    return offline_synthesizers(threads)


def create_cloning_synthesizer(device: str = "cpu") -> Synthesizer:
    """Coqui XTTS v2 (the 'clone' extra; weights from the hub, so online or cached only)."""

    return XttsSynthesizer(device=device)


def create_separator(name: str = "spleeter", threads: int | None = None) -> Separator:
    """The vocals/accompaniment separator (``spleeter``: the embedded 2-stem model)."""

    if name != "spleeter":
        raise ModelError(f"unknown separator '{name}'; available: spleeter")
    return SpleeterSeparator(threads)
