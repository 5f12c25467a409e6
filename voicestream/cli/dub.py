"""``voicestream dub``: a translated, re-voiced copy of a video or audio file."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from voicestream import media, registry
from voicestream.asr import DecodeOptions, language_codes
from voicestream.catalog import default_model
from voicestream.cli import diarize
from voicestream.diarize.engine import load_diarizer
from voicestream.dub.cache import default_root
from voicestream.dub.fetch import fetch, is_url
from voicestream.dub.job import BACKGROUNDS, DubEngines, DubJob, DubOptions, TextFrom, temporary_root
from voicestream.dub.loudness import LoudnessTarget
from voicestream.dub.mux import check_output
from voicestream.dub.progress import Quiet, StageProgress, rich_stages
from voicestream.dub.timing import FitSettings
from voicestream.errors import InputNotFoundError, OptionError
from voicestream.output import check_writable
from voicestream.pipeline import check_language
from voicestream.subtitles.burn import check_burn_output
from voicestream.subtitles.read import SUBTITLE_SUFFIXES, read_cues
from voicestream.translate.choose import choose
from voicestream.tts.cast import parse_voice_option

ENGINES = ("piper", "kokoro", "espeak", "xtts")


def add_parser(sub: Any) -> None:
    """Register the ``dub`` sub-command."""
    p = sub.add_parser("dub", help="translate and re-voice a video or audio file (dubbing)")
    p.add_argument("input", nargs="?", help="video or audio file, or a URL (fetched with yt-dlp when online)")
    p.add_argument("--to", required=True, metavar="LANG", help="language of the dub (ISO 639-1 code, e.g. es)")
    p.add_argument("-o", "--output", default=None,
                   help="output file; the extension picks the container (.mp4 .mkv .mov .webm, or .m4a .mp3 "
                        ".wav .flac .opus for audio); default: INPUT.LANG.mp4 (or .m4a)")  # fmt: skip
    p.add_argument("--voice", default=None,
                   help="voices: auto (default), an engine (piper, kokoro, espeak, xtts = cloning, online), "
                        "ENGINE:NAME per speaker in order, or SPEAKER=ENGINE:NAME; comma-separated")  # fmt: skip
    p.add_argument("--keep-original-track", action="store_true", help="add the original audio as a second track")
    p.add_argument("--subtitles", nargs="?", const=True, default=False, metavar="SUBS",
                   help="add the translated subtitles as a soft track; given an .srt/.vtt/.ass file, also dub "
                   "from that file's text, timing and speakers instead of a fresh transcription "
                   "(its language: --language, else detected from the audio)")  # fmt: skip
    p.add_argument("--burn-subtitles", action="store_true",
                   help="burn the translated subtitles into the picture (styled per speaker; the video is "
                        "re-encoded, the audio tracks kept as muxed)")  # fmt: skip
    p.add_argument("-m", "--model", default=None, help=f"Whisper model (default: {default_model()})")
    p.add_argument("-l", "--language", default="auto", help="language of the speech, or auto (default)")
    p.add_argument("--translator", default=None, metavar="NAME",
                   help="whisper, apertium or opus-mt:MODEL (default: the first that has the pair)")  # fmt: skip
    p.add_argument("--no-diarize", action="store_true", help="one voice for everybody (no speaker labels)")
    diarize.add_arguments(p)
    p.add_argument("--background", choices=BACKGROUNDS, default="separate",
                   help="separate: keep music and effects, remove the voices (default); duck: the original "
                        "audio, turned down under the dub; none: the dub alone")  # fmt: skip
    p.add_argument("--duck-db", type=float, default=8.0, help="background attenuation under speech, dB (default: 8)")
    p.add_argument("--loudness", type=float, default=-14.0, help="integrated loudness, LUFS (default: -14)")
    p.add_argument("--max-stretch", type=float, default=1.35,
                   help="fastest pitch-preserving speed-up within quality bounds (default: 1.35)")  # fmt: skip
    p.add_argument("--min-similarity", type=float, default=0.6,
                   help="self-check: re-transcribed clip vs its text, 0..1; 0 turns it off (default: 0.6)")  # fmt: skip
    p.add_argument("--cache-dir", default=None, help=f"job cache for resuming (default: {default_root()})")
    p.add_argument("--no-cache", action="store_true", help="work in a temporary folder, deleted afterwards")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="inference device (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run, diarize=True)


def _output(args: argparse.Namespace, source: Path, has_video: bool) -> Path:
    if args.output:
        return Path(args.output).expanduser().resolve()
    return source.with_name(f"{source.stem}.{args.to}{'.mp4' if has_video else '.m4a'}").resolve()


def _input_and_subtitles(args: argparse.Namespace) -> None:
    """``--subtitles`` takes an optional file, so ``dub --subtitles talk.mp4 --to es`` reads
    the video as its value: a value that is not a subtitle file is the input then."""
    if args.input is not None:
        return
    if isinstance(args.subtitles, str) and Path(args.subtitles).suffix.lower() not in SUBTITLE_SUFFIXES:
        args.input, args.subtitles = args.subtitles, True
        return
    raise OptionError("dub needs an INPUT: a video or audio file, or a URL")


def _options(args: argparse.Namespace) -> DubOptions:
    _input_and_subtitles(args)
    if isinstance(args.subtitles, str) and args.translator == "whisper":
        raise OptionError("--translator whisper translates the speech, not the text of --subtitles SUBS")
    target = str(args.to).lower()
    if target not in language_codes():
        raise OptionError(f"unknown --to language '{args.to}'")
    if not 1.0 <= args.max_stretch <= 2.0:
        raise OptionError("--max-stretch must be between 1.0 and 2.0")
    if not 0.0 <= args.min_similarity <= 1.0:
        raise OptionError("--min-similarity must be between 0 and 1")
    if not -40.0 <= args.loudness <= -5.0:
        raise OptionError("--loudness must be between -40 and -5 LUFS")
    language = None if args.language in ("auto", "", None) else args.language
    return DubOptions(
        target=target, source_language=language, request=parse_voice_option(args.voice, ENGINES),
        diarize=not args.no_diarize, speakers=diarize.speaker_count(args), background=args.background,
        duck_db=args.duck_db, loudness=LoudnessTarget(integrated=args.loudness),
        keep_original=args.keep_original_track, subtitles=bool(args.subtitles), burn_subtitles=args.burn_subtitles,
        text_from=_text_from(args.subtitles),
        fit=FitSettings(max_tempo=args.max_stretch, hard_max_tempo=max(1.8, args.max_stretch)),
        min_similarity=args.min_similarity, decode=DecodeOptions(language=language),
    )  # fmt: skip


def _text_from(subtitles: bool | str) -> TextFrom | None:
    """The cues of ``--subtitles SUBS`` (read before any model loads)."""
    if isinstance(subtitles, bool):
        return None
    path = Path(subtitles).expanduser()
    if not path.is_file():
        raise InputNotFoundError(f"--subtitles {subtitles}: no such file")
    return TextFrom(str(path), tuple(read_cues(path)))


def run(args: argparse.Namespace) -> int:
    """Dub ``args.input`` into ``args.output``."""
    started = time.perf_counter()
    options = _options(args)
    with temporary_root() if args.no_cache else nullcontext(None) as tmp:
        root = Path(tmp) if tmp else Path(args.cache_dir or default_root()).expanduser()
        source = fetch(args.input, root / "downloads") if is_url(args.input) else media.check_input(args.input)
        info = media.probe(source)
        output = _output(args, source, info.has_video)
        check_output(output, info.has_video)
        if options.burn_subtitles:
            if not info.has_video:
                raise OptionError(f"--burn-subtitles needs a video: {source.name} has no picture")
            check_burn_output(output)
        check_writable(output)
        engines = _engines(args, options)
        bars = not args.no_progress and sys.stderr.isatty()
        with rich_stages() if bars else nullcontext(Quiet()) as progress:
            stages: StageProgress = progress
            result = DubJob(engines, options, root, stages).run(source, output)
    failed = f", {len(result.failed)} clips failed their checks (see the report)" if result.failed else ""
    print(
        f"voicestream: wrote {result.output} ({len(result.utterances)} utterances, voices "
        f"{', '.join(f'{s}={v}' for s, v in result.voices.items())}{failed}) and {result.report.name} "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


def _engines(args: argparse.Namespace, options: DubOptions) -> DubEngines:
    engine = registry.create_asr_engine(args.model, args.device)
    check_language(engine, options.decode)
    checker = engine
    if options.target != "en" and not engine.multilingual and options.min_similarity > 0:
        checker = registry.create_asr_engine("base", args.device)
    diarizer = None
    if options.diarize:
        diarizer = load_diarizer(args.diarize_model, args.hf_token, args.device)
    synthesizers = registry.create_synthesizers()
    if "xtts" in options.request.engines or any(v.startswith("xtts") for v in options.request.ordered):
        synthesizers.insert(0, registry.create_cloning_synthesizer(args.device))
    separator = registry.create_separator() if options.background == "separate" else None

    def translator_for(source: str, target: str) -> Any:
        # a subtitle file's text is translated as written: no speech translator
        return choose(source, target, args.translator, None if options.text_from is not None else engine)

    return DubEngines(engine, registry.create_vad(), translator_for, synthesizers, diarizer, separator, checker)
