"""``voicestream transcribe``: a media file to SRT, WebVTT, JSON or text."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from voicestream import media, registry
from voicestream.asr import DecodeOptions, language_codes
from voicestream.catalog import default_model
from voicestream.cli import diarize, draft
from voicestream.diarize.engine import load_diarizer
from voicestream.errors import OptionError, OutputError
from voicestream.output import check_writable, write_text
from voicestream.pipeline import (
    ProgressHook,
    TranscribeSettings,
    check_language,
    label_speakers,
    transcribe_samples,
    translate_transcript,
)
from voicestream.subtitles import SubtitleRules, build_cues
from voicestream.subtitles.formats import FORMATS, NEEDS_SPEAKERS, render
from voicestream.timebase import SAMPLE_RATE
from voicestream.translate.choose import choose
from voicestream.translate.layout import bilingual_cues, translated_cues


def add_parser(sub: Any) -> None:
    """Register the ``transcribe`` sub-command."""
    p = sub.add_parser("transcribe", help="transcribe a media file to subtitles")
    p.add_argument("input", help="audio or video file (anything ffmpeg decodes)")
    p.add_argument("-o", "--output", help="output file (default: INPUT name with the format's extension; - for stdout)")
    p.add_argument(
        "-f", "--format", choices=FORMATS, help="output format (default: from the output extension, else srt)"
    )
    p.add_argument("-m", "--model", default=None, help=f"model name, hub id or directory (default: {default_model()})")
    p.add_argument("-l", "--language", default="auto", help="language code, or auto to detect (default: auto)")
    p.add_argument(
        "--task", choices=("transcribe", "translate"), default="transcribe", help="translate: speech to English text"
    )
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="inference device (default: cpu)")
    p.add_argument(
        "--compute-type",
        default="default",
        help="CTranslate2 compute type: int8, float16, ... (default: int8 on CPU, float16 on CUDA)",
    )
    p.add_argument("--beam-size", type=int, default=None,
                   help="beam width, 1 for greedy (default: 5; 1 with --draft-model)")  # fmt: skip
    p.add_argument("--prompt", default=None, help="context text for the decoder: names, terms, spelling style")
    p.add_argument("--max-line-chars", type=_int_at_least(16), default=42, help="characters per line (default: 42)")
    p.add_argument("--max-lines", type=int, choices=(1, 2), default=2, help="lines per cue (default: 2)")
    p.add_argument("--max-cps", type=float, default=20.0, help="reading speed, characters per second (default: 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    draft.add_arguments(p)
    diarize.add_arguments(p)
    p.add_argument("--translate-to", default=None, metavar="LANG",
                   help="translate the subtitles into LANG (whole sentences, laid onto the speech timing)")  # fmt: skip
    p.add_argument("--translator", default=None, metavar="NAME",
                   help="translation engine: whisper (to English, multilingual models), apertium "
                        "(installed pairs, offline) or opus-mt:MODEL (a CTranslate2 OPUS-MT folder or "
                        "Hugging Face repo id, for its pair); default: the first that has the pair")  # fmt: skip
    p.add_argument("--bilingual", action="store_true", help="each cue holds the source text and its translation")
    p.set_defaults(run=run)


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        return value

    return parse


def output_target(input_path: str, output: str | None, fmt: str | None) -> tuple[Path | None, str]:
    """Where to write and in which format."""
    if output == "-":
        return None, fmt or "srt"
    if output is None:
        fmt = fmt or "srt"
        return Path(Path(input_path).stem + "." + fmt).resolve(), fmt
    path = Path(output).expanduser().resolve()
    if fmt is None:
        ext = path.suffix.lower().lstrip(".")
        if ext not in FORMATS:
            raise OutputError(f"cannot tell the format from '{path.name}'; pass --format ({', '.join(FORMATS)})")
        fmt = ext
    return path, fmt


@contextmanager
def _progress(enabled: bool, total_s: float, what: str = "transcribing") -> Iterator[ProgressHook | None]:
    """A rich progress bar over ``total_s`` seconds of audio, or nothing when disabled."""
    if not enabled:
        yield None
        return

    with Progress(
        TextColumn(what), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s audio"),
        TimeRemainingColumn(), transient=True, console=Console(stderr=True),
    ) as bar:  # fmt: skip
        task = bar.add_task(what, total=total_s)

        def hook(done_s: float, total_s: float) -> None:
            bar.update(task, completed=done_s, total=total_s, refresh=True)

        yield hook


def _translation_target(args: argparse.Namespace, engine: Any, language: str | None) -> tuple[str | None, Any]:
    """The ``--translate-to`` language and, when the source language is given, its translator:
    chosen (and loaded) before any audio is decoded, so a bad pair fails at once."""
    if args.translate_to is None:
        if args.bilingual or args.translator:
            raise OptionError("--bilingual and --translator need --translate-to LANG")
        return None, None
    target = str(args.translate_to).lower()
    if target not in language_codes():
        raise OptionError(f"unknown --translate-to language '{args.translate_to}'")
    if args.task == "translate":
        raise OptionError("--task translate already writes English; use --translate-to en instead of both")
    return target, (choose(language, target, args.translator, engine) if language is not None else None)


def run(args: argparse.Namespace) -> int:
    """Transcribe ``args.input`` and write the subtitles."""
    target, fmt = output_target(args.input, args.output, args.format)
    if target is not None:
        check_writable(target)
    started = time.perf_counter()
    media.check_input(args.input)
    language = None if args.language in ("auto", "", None) else args.language
    beam_size = args.beam_size or (1 if args.draft_model else 5)
    if args.draft_model and beam_size != 1:
        raise OptionError("speculative decoding is greedy: --draft-model needs --beam-size 1")
    if beam_size < 1:
        raise OptionError("--beam-size must be at least 1")
    decode = DecodeOptions(language=language, task=args.task, beam_size=beam_size, initial_prompt=args.prompt)
    speakers = diarize.speaker_count(args)
    diarizer = None
    if diarize.wanted(args) or fmt in NEEDS_SPEAKERS:
        diarizer = load_diarizer(args.diarize_model, args.hf_token, "cpu" if args.device == "auto" else args.device)
    engine = registry.create_asr_engine(
        args.model,
        args.device,
        args.compute_type,
        draft_model=args.draft_model,
        draft=draft.draft_settings(args),
        draft_policy=args.draft_policy,
    )
    check_language(engine, decode)
    target_language, translator = _translation_target(args, engine, language)
    samples = media.decode(args.input)
    vad = registry.create_vad()
    bars = not args.no_progress and sys.stderr.isatty()
    with _progress(bars, samples.size / SAMPLE_RATE) as hook:
        transcript = transcribe_samples(samples, engine, vad, TranscribeSettings(decode=decode), hook)
    if diarizer is not None:
        with _progress(bars, samples.size / SAMPLE_RATE, "speakers") as hook:
            steps = ("segmentation", "embeddings")

            def step(name: str, fraction: float) -> None:
                if hook is not None and name in steps:
                    hook(samples.size / SAMPLE_RATE * (steps.index(name) + fraction) / 2, samples.size / SAMPLE_RATE)

            transcript = label_speakers(transcript, diarizer.diarize(samples, speakers, step))
    rules = SubtitleRules(
        max_lines=args.max_lines, max_line_chars=args.max_line_chars, max_cps=args.max_cps, label_in_text=fmt != "vtt"
    )
    if target_language is not None:
        translator = translator or choose(transcript.language, target_language, args.translator, engine)
        transcript = translate_transcript(transcript, samples, translator, target_language)
        lay = bilingual_cues if args.bilingual else translated_cues
        cues = lay(transcript.segments, target_language, transcript.duration_s, rules)
    else:
        cues = build_cues(transcript.words, transcript.duration_s, rules)
    write_text(target, render(fmt, transcript, cues, Path(args.input).stem, args.bilingual))
    elapsed = time.perf_counter() - started
    if engine.draft_note:
        print(f"voicestream: {engine.draft_note}", file=sys.stderr)
    if transcript.speculative is not None and args.draft_model:
        spec = transcript.speculative
        print(
            f"voicestream: draft {args.draft_model}: {spec.accepted} of {spec.drafted} drafted tokens accepted "
            f"({100 * spec.acceptance_rate:.0f}%) in {spec.verify_passes} verification passes",
            file=sys.stderr,
        )
    where = "stdout" if target is None else str(target)
    who = f", {len(transcript.speakers)} speakers" if diarizer is not None else ""
    print(
        f"voicestream: wrote {where} ({len(cues)} cues{who}, language {transcript.language}, "
        f"{transcript.duration_s:.1f} s of audio in {elapsed:.1f} s)",
        file=sys.stderr,
    )
    return 0
