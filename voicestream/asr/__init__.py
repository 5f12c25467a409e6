"""Speech recognition: the engine contract (base), Whisper on faster-whisper (engine), its
greedy step decoder with speculative drafts (step_decoder, speculative, draft_cost),
encoder windows fitted to the audio (frames) and the hallucination guards (guards)."""

from voicestream.asr.base import (
    AsrEngine,
    AsrSegment,
    DecodeOptions,
    Task,
    default_cpu_threads,
    language_codes,
    resolve_compute_type,
)
from voicestream.asr.engine import DraftPolicy, FasterWhisperEngine

__all__ = [
    "AsrEngine",
    "AsrSegment",
    "DecodeOptions",
    "DraftPolicy",
    "FasterWhisperEngine",
    "Task",
    "default_cpu_threads",
    "language_codes",
    "resolve_compute_type",
]
