"""Dubbing: stage-by-stage time and real-time factor on a one-minute clip.

The clip is the first 60 s of the four-speaker LibriSpeech recording over a synthetic chord
progression (so separation has music to keep). It is dubbed into Spanish with the defaults
(Whisper base, embedded diarization, Apertium, Kokoro voices, Spleeter, self-check), then
dubbed again from the job cache (the resume path). The baseline, measured in the same run,
is transcription alone (``voicestream transcribe`` on the same clip, same engine): the
ratio says what a dub costs over subtitles.

    uv run python benchmarks/dub.py [--to es] [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from voicestream import media, registry
from voicestream.diarize.engine import load_diarizer
from voicestream.dub.job import DubEngines, DubJob, DubOptions
from voicestream.pipeline import TranscribeSettings, transcribe_samples
from voicestream.translate.choose import choose

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RATE = 44_100


def build_clip(path: Path, seconds: float) -> None:
    """Speech from the shared data over a chord progression, 44.1 kHz stereo WAV."""
    speech = media.decode(DATA / "long_form" / "librispeech_concat_4spk.wav", RATE)[: round(seconds * RATE)]
    t = np.arange(speech.size) / RATE
    roots = np.array([220.0, 174.6, 196.0, 261.6])[(t // 1.5).astype(int) % 4]
    phase = 2 * np.pi * np.cumsum(roots) / RATE
    music = 0.06 * (np.sin(phase) + 0.7 * np.sin(1.25 * phase) + 0.5 * np.sin(1.5 * phase))
    sf.write(path, np.stack([speech + music, speech + 0.8 * music]).T.astype(np.float32), RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", default="es")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.wav"
        build_clip(clip, args.seconds)
        asr, vad = registry.create_asr_engine("base"), registry.create_vad()
        samples = media.decode(clip)
        t = time.perf_counter()
        transcribe_samples(samples, asr, vad, TranscribeSettings())
        baseline = time.perf_counter() - t
        engines = DubEngines(
            asr, vad, lambda s, g: choose(s, g, None, asr), registry.create_synthesizers(), load_diarizer(),
            registry.create_separator(), asr,
        )  # fmt: skip
        runs = []
        for _ in range(2):
            t = time.perf_counter()
            result = DubJob(engines, DubOptions(args.to), Path(tmp) / "cache").run(clip, Path(tmp) / "out.m4a")
            runs.append((time.perf_counter() - t, result))
    first, result = runs[0]
    print(f"clip: {args.seconds:.0f} s, {len(result.utterances)} utterances, voices {result.voices}")
    print(f"{'stage':<12}{'seconds':>9}{'x real time':>13}")
    for stage, seconds in result.timings.items():
        print(f"{stage:<12}{seconds:>9.1f}{seconds / args.seconds:>13.2f}")
    print(f"baseline: transcription alone {baseline:.1f} s (RTF {baseline / args.seconds:.2f})")
    print(f"dub / transcription: {first / baseline:.1f}x; whole dub RTF {first / args.seconds:.2f}")
    print(f"resumed from the cache: {runs[1][0]:.1f} s ({first / runs[1][0]:.1f}x faster than the first run)")
    print(f"clips that failed the self-check: {result.failed or 'none'}")


if __name__ == "__main__":
    main()
