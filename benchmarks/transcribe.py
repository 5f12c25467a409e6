"""voicestream's file job against bare faster-whisper, same model and compute type, same run.

Bare: ``WhisperModel.transcribe(audio, vad_filter=True, word_timestamps=True)`` (its
defaults: beam 5, 30 s padded windows, conditioned on previous text). voicestream:
ffmpeg decode, Silero VAD windows, fitted encoder windows, guards, cue building
and SRT rendering. Both load the model before timing and take the best of N runs.

    uv run python benchmarks/transcribe.py [FILE ...] [--model base] [--compute-type int8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path

from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

from voicestream import media
from voicestream.asr import default_cpu_threads, resolve_compute_type
from voicestream.catalog import resolve
from voicestream.pipeline import transcribe_samples
from voicestream.registry import create_asr_engine, create_vad
from voicestream.subtitles import build_cues
from voicestream.subtitles.formats import to_srt

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_FILES = [
    DATA / "long_form" / "librispeech_concat_4spk.wav",
    DATA / "video_auto_editor" / "example.mp4",
    DATA / "jfk_public_domain" / "jfk.flac",
]


def best_of(repeat: int, job: Callable[[], None]) -> float:
    """Smallest wall time (s) of ``repeat`` calls of ``job``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--model", default="base")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    model_dir = str(resolve(args.model).path)
    compute = resolve_compute_type("cpu", args.compute_type)
    bare = WhisperModel(model_dir, device="cpu", compute_type=compute, cpu_threads=default_cpu_threads())
    ours = create_asr_engine(args.model, "cpu", compute)
    vad = create_vad()

    def run_bare(path: Path) -> None:
        segments, _ = bare.transcribe(decode_audio(str(path)), vad_filter=True, word_timestamps=True)
        list(segments)

    def run_ours(path: Path) -> None:
        transcript = transcribe_samples(media.decode(path), ours, vad)
        to_srt(build_cues(transcript.words, transcript.duration_s))

    print(f"model {args.model}, compute {compute}, {default_cpu_threads()} threads, best of {args.repeat}")
    print(f"{'file':<34} {'audio s':>8} {'bare s':>8} {'bare RTF':>9} {'ours s':>8} {'ours RTF':>9} {'speed-up':>9}")
    for path in args.files:
        duration = media.decode(path).size / 16000
        run_bare(path)  # warm-up
        run_ours(path)
        t_bare = best_of(args.repeat, functools.partial(run_bare, path))
        t_ours = best_of(args.repeat, functools.partial(run_ours, path))
        print(
            f"{path.name[:34]:<34} {duration:8.1f} {t_bare:8.2f} {t_bare / duration:9.3f} "
            f"{t_ours:8.2f} {t_ours / duration:9.3f} {t_bare / t_ours:8.2f}x"
        )


if __name__ == "__main__":
    main()
