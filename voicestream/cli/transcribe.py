"""``voicestream transcribe``: media files to SRT, WebVTT, JSON, text or RTTM, one file or a batch."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from voicestream import media
from voicestream.asr import DecodeOptions
from voicestream.asr.vocabulary import MAX_CHARS, MAX_TERMS, split_terms, vocabulary_text
from voicestream.catalog import default_model
from voicestream.cli import diarize, draft
from voicestream.cli.batch_view import BatchBars, summary_table
from voicestream.cluster.files import RaySettings, run_on_ray
from voicestream.errors import BatchIncompleteError, OptionError, OutputError
from voicestream.files.batch import counts, run_batch
from voicestream.files.inputs import is_glob, plan
from voicestream.files.transcriber import (
    FileSettings,
    FileTranscriber,
    ModelSettings,
    StageHook,
    check_settings,
    needs_speakers,
)
from voicestream.output import check_writable
from voicestream.subtitles import SubtitleRules
from voicestream.subtitles.burn import burn_in, check_burn_output
from voicestream.subtitles.formats import FORMATS


def add_parser(sub: Any) -> None:
    """Register the ``transcribe`` sub-command."""
    p = sub.add_parser("transcribe", help="transcribe media files to subtitles")
    p.add_argument("input", nargs="+", metavar="INPUT",
                   help="audio or video files (anything ffmpeg decodes), folders (searched for media) "
                        "or glob patterns ('talks/**/*.mp4'); more than one is a batch")  # fmt: skip
    p.add_argument("-o", "--output",
                   help="output file (default: INPUT name with the format's extension, in the current folder; "
                        "- for stdout); for a batch, a folder (default: beside each input)")  # fmt: skip
    p.add_argument("-f", "--format", type=_formats, default=None,
                   help=f"output format, or several comma-separated for a batch ({', '.join(FORMATS)}; "
                        "default: from the output extension, else srt)")  # fmt: skip
    p.add_argument("--burn-in", action="store_true",
                   help="write a video (-o OUT.mp4, .mkv, .mov) with the subtitles burned into its picture, "
                        "styled per speaker; its audio copied untouched")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="batch: redo files whose outputs exist (default: skip them)")  # fmt: skip
    ray = p.add_argument_group("on a Ray cluster (the 'ray' extra)")
    ray.add_argument("--ray", action="store_true",
                     help="run the batch on Ray Data: actors that each load the models once; inputs and outputs "
                          "on storage every node sees")  # fmt: skip
    ray.add_argument("--address", default=None,
                     help="Ray cluster address (default: $RAY_ADDRESS, else a local cluster for this run)")  # fmt: skip
    ray.add_argument("--workers", type=int, default=None, metavar="N",
                     help="actors (default: as many as the cluster's CPUs allow)")  # fmt: skip
    ray.add_argument("--cpus-per-worker", type=float, default=None, metavar="N", help="CPUs per actor (default: 1)")
    ray.add_argument("--gpus-per-worker", type=float, default=None, metavar="N", help="GPUs per actor (default: 0)")
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
    p.add_argument("--hotwords", default=None, metavar="TERMS",
                   help="names and terms to expect, comma-separated (\"Kowloon, Qiao, EBITDA\"; at most "
                        f"{MAX_TERMS} terms, {MAX_CHARS} characters)")  # fmt: skip
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


def _formats(text: str) -> list[str]:
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    wrong = [f for f in chosen if f not in FORMATS]
    if not chosen or wrong:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(wrong) or repr(text)} (choose from {', '.join(FORMATS)})"
        )
    return list(dict.fromkeys(chosen))


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
def _stage_bars(enabled: bool) -> Iterator[StageHook | None]:
    """A rich progress bar per stage (seconds of audio), or nothing when disabled."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s audio"),
        TimeRemainingColumn(), transient=True, console=Console(stderr=True),
    ) as bar:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done_s: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done_s, total=total, refresh=True)

        yield hook


def _settings(args: argparse.Namespace) -> tuple[ModelSettings, FileSettings]:
    """The models to load and what to make of each file, from the command line."""
    language = None if args.language in ("auto", "", None) else args.language
    beam_size = args.beam_size or (1 if args.draft_model else 5)
    if args.draft_model and beam_size != 1:
        raise OptionError("speculative decoding is greedy: --draft-model needs --beam-size 1")
    if beam_size < 1:
        raise OptionError("--beam-size must be at least 1")
    models = ModelSettings(
        model=args.model,
        device=args.device,
        compute_type=args.compute_type,
        draft_model=args.draft_model,
        draft=draft.draft_settings(args),
        draft_policy=args.draft_policy,
        diarize=diarize.wanted(args),
        diarize_model=args.diarize_model,
        hf_token=args.hf_token,
    )
    settings = FileSettings(
        decode=DecodeOptions(
            language=language,
            task=args.task,
            beam_size=beam_size,
            initial_prompt=args.prompt,
            hotwords=vocabulary_text(split_terms(args.hotwords or "")),
        ),
        speakers=diarize.speaker_count(args),
        rules=SubtitleRules(max_lines=args.max_lines, max_line_chars=args.max_line_chars, max_cps=args.max_cps),
        translate_to=None if args.translate_to is None else str(args.translate_to).lower(),
        translator=args.translator,
        bilingual=args.bilingual,
    )
    return models, settings


def is_batch(args: argparse.Namespace) -> bool:
    """Whether the command names a batch: several inputs, a folder or pattern, or an output
    folder (an existing one, or a name ending in ``/``)."""
    output = args.output
    return (
        args.ray
        or len(args.input) > 1
        or any(Path(i).is_dir() or (is_glob(i) and not Path(i).exists()) for i in args.input)
        or (output not in (None, "-") and (output.endswith(("/", os.sep)) or Path(output).is_dir()))
        or len(args.format or ()) > 1
    )


def run(args: argparse.Namespace) -> int:
    """Transcribe ``args.input`` (one file, or a batch) and write the subtitles."""
    if args.burn_in:
        return _burn_in(args)
    if is_batch(args):
        return run_batch_command(args)
    if args.overwrite:
        raise OptionError("--overwrite is for batches; a single file's output is always written")
    _check_ray_options(args)
    fmt_arg = args.format[0] if args.format else None
    target, fmt = output_target(args.input[0], args.output, fmt_arg)
    if target is not None:
        check_writable(target)
    media.check_input(args.input[0])
    models, settings = _settings(args)
    transcriber = FileTranscriber(models, settings, needs_speakers([fmt]))
    bars = not args.no_progress and sys.stderr.isatty()
    with _stage_bars(bars) as hook:
        outcome = transcriber.run(Path(args.input[0]), [(target, fmt)], hook)
    if transcriber.engine.draft_note:
        print(f"voicestream: {transcriber.engine.draft_note}", file=sys.stderr)
    spec = outcome.speculative
    if spec is not None and args.draft_model:
        print(
            f"voicestream: draft {args.draft_model}: {spec.accepted} of {spec.drafted} drafted tokens accepted "
            f"({100 * spec.acceptance_rate:.0f}%) in {spec.verify_passes} verification passes",
            file=sys.stderr,
        )
    where = "stdout" if target is None else str(target)
    who = f", {outcome.speakers} speakers" if transcriber.diarizer is not None else ""
    print(
        f"voicestream: wrote {where} ({outcome.cues} cues{who}, language {outcome.language}, "
        f"{outcome.audio_s:.1f} s of audio in {outcome.elapsed_s:.1f} s)",
        file=sys.stderr,
    )
    return 0


def _burn_in(args: argparse.Namespace) -> int:
    """``--burn-in``: one video in, the same video with its subtitles (ASS, a style per
    speaker, the cue rules of every format) burned into the picture out."""
    if len(args.input) != 1 or args.ray or args.format or args.output in (None, "-"):
        raise OptionError("--burn-in takes one video and -o OUT.mp4 (or .mkv, .mov), without --format or --ray")
    target = Path(args.output).expanduser().resolve()
    check_burn_output(target)
    check_writable(target)
    source = media.check_input(args.input[0])
    if not media.probe(source).has_video:
        raise OptionError(f"--burn-in needs a video: {source.name} has no picture")
    _check_ray_options(args)
    models, settings = _settings(args)
    transcriber = FileTranscriber(models, settings, needs_speakers(["ass"]))
    bars = not args.no_progress and sys.stderr.isatty()
    started = time.perf_counter()
    with _stage_bars(bars) as hook:
        transcript, _ = transcriber.transcribe(source, hook)
    script, cues = transcriber.render(transcript, "ass", source.stem)
    with Console(stderr=True).status("burning the subtitles in (ffmpeg)", spinner="dots") if bars else nullcontext():
        burn_in(source, script, target)
    print(f"voicestream: wrote {target} ({cues} cues burned in, audio copied; language {transcript.language}, "
          f"{transcript.duration_s:.1f} s in {time.perf_counter() - started:.1f} s)", file=sys.stderr)  # fmt: skip
    return 0


def _check_ray_options(args: argparse.Namespace) -> None:
    """Ray's options without ``--ray`` are a mistake, not something to ignore."""
    given = [f for f, v in (("--address", args.address), ("--workers", args.workers),
                            ("--cpus-per-worker", args.cpus_per_worker), ("--gpus-per-worker", args.gpus_per_worker))
             if v is not None]  # fmt: skip
    if given and not args.ray:
        raise OptionError(f"{', '.join(given)} need --ray")


def _output_folder(output: str | None) -> Path | None:
    """The batch's output folder, checked: not a file, nor a name that reads as one."""
    if output is None:
        return None
    if output == "-":
        raise OptionError("a batch writes files: give -o a folder, or no -o to write beside each input")
    folder = Path(output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output is not a folder: {folder}")
    looks_like_file = folder.suffix.lower().lstrip(".") in FORMATS and not output.endswith(("/", os.sep))
    if not folder.exists() and looks_like_file:
        raise OutputError(f"-o {output} names a file, but this is a batch: give a folder (end it with /)")
    return folder


def run_batch_command(args: argparse.Namespace) -> int:
    """Transcribe every file the inputs name into its outputs; a summary table at the end.

    Raises:
        BatchIncompleteError: some files failed (the others were written).
    """
    _check_ray_options(args)
    formats = list(args.format or ["srt"])
    out_dir = _output_folder(args.output)
    jobs = plan(args.input, formats, out_dir)
    media.find_tool("ffmpeg"), media.find_tool("ffprobe")  # missing tools fail the batch at once, not every file
    models, settings = _settings(args)
    check_settings(settings)
    tty = sys.stderr.isatty()
    console = Console(stderr=True, width=None if tty else 160)  # a log keeps a row on one line
    bars = not args.no_progress and tty
    if args.ray:
        cluster = RaySettings(args.address, args.workers, args.cpus_per_worker or 1.0, args.gpus_per_worker or 0.0)
        if cluster.gpus_per_worker > 0 and args.device == "cpu":
            raise OptionError("--gpus-per-worker needs --device cuda (or auto)")
        with BatchBars(console, len(jobs), bars, per_file=False) as progress:
            results = run_on_ray(
                models, settings, jobs, formats, cluster, args.overwrite, progress, needs_speakers(formats)
            )
    else:
        transcriber = FileTranscriber(models, settings, needs_speakers(formats))
        with BatchBars(console, len(jobs), bars) as progress:
            results = run_batch(transcriber, jobs, formats, args.overwrite, progress)
    console.print(summary_table(results))
    found = counts(results)
    console.print(
        f"voicestream: {len(results)} files: {found['done']} transcribed, {found['skipped']} skipped "
        f"(outputs present; --overwrite redoes them), {found['failed']} failed",
        soft_wrap=True,
        highlight=False,
    )
    if found["failed"]:
        raise BatchIncompleteError(f"{found['failed']} of {len(results)} files failed (listed above)")
    return 0
