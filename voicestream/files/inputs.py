"""Which files a batch transcribes and where each one's outputs go.

Inputs are files, folders (searched recursively for media by extension, hidden files and
folders left out) and glob patterns (``**`` recurses). Every file becomes one
:class:`FileJob`; its outputs are named after it, in the output folder when one is given
(keeping its path below the folder all inputs share, so two ``talk.mp4`` in different
folders never write the same file), else beside the input.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voicestream.errors import InputNotFoundError, OutputError

MEDIA_EXTENSIONS = frozenset(
    {
        # audio
        "wav", "flac", "mp3", "m4a", "aac", "ogg", "oga", "opus", "wma", "aif", "aiff", "amr", "ac3", "mka",
        # video
        "mp4", "m4v", "mkv", "mov", "webm", "avi", "wmv", "flv", "mpg", "mpeg", "ts", "mts", "m2ts", "3gp", "ogv",
    }
)  # fmt: skip
"""Extensions (lower case, no dot) a folder input picks up; files named directly are taken
whatever their extension (ffmpeg decides)."""


@dataclass(frozen=True, slots=True)
class FileJob:
    """One input file and the output files it becomes.

    Attributes:
        source: Absolute path of the input.
        outputs: Absolute output paths, one per format, in the order the formats were given.
        name: How the summary names the input (its path below the folder all inputs share).
    """

    source: Path
    outputs: tuple[Path, ...]
    name: str

    def done(self) -> bool:
        """Whether every output already exists (a finished earlier run)."""
        return all(path.is_file() for path in self.outputs)


def is_glob(text: str) -> bool:
    """Whether ``text`` holds glob wildcards."""
    return glob.has_magic(text)


def expand(inputs: Sequence[str]) -> list[tuple[Path, Path]]:
    """The media files ``inputs`` name, in order and without repeats.

    A name that exists is taken as it is, even with ``[``, ``?`` or ``*`` in it; only a
    name that does not exist is read as a pattern. Links are kept as named (a link's
    output is named after the link and placed beside it, not beside its target).

    Returns:
        ``(file, base)`` pairs: the absolute file and the folder its output name is taken
        relative to (the folder input, the pattern's fixed leading folder, or its own folder).

    Raises:
        InputNotFoundError: an input that does not exist, or a folder or pattern that holds
            no media file.
    """
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for text in inputs:
        for file, base in _one(text):
            key = file.resolve()  # the same file named twice (or through a link) is done once
            if key not in seen:
                seen.add(key)
                found.append((file, base))
    return found


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))  # noqa: PTH100 (keeps links as named; resolve() follows them)


def _is_media(path: Path) -> bool:
    return path.is_file() and path.suffix.lower().lstrip(".") in MEDIA_EXTENSIONS


def _one(text: str) -> list[tuple[Path, Path]]:
    path = Path(text).expanduser()
    if path.is_dir():
        base = _absolute(path)
        files = sorted(
            p
            for p in base.rglob("*")
            if _is_media(p) and not any(part.startswith(".") for part in p.relative_to(base).parts)
        )  # hidden files and folders (.Trash, .git) are left out
        if not files:
            raise InputNotFoundError(f"no media file in folder '{text}'")
        return [(f, base) for f in files]
    if path.is_file():
        file = _absolute(path)
        return [(file, file.parent)]
    if is_glob(text):
        base = _absolute(_fixed_prefix(path))
        matches = sorted(_absolute(Path(m)) for m in glob.glob(str(path), recursive=True))  # noqa: PTH207 (absolute patterns)
        files = [m for m in matches if _is_media(m)]
        if not files:
            raise InputNotFoundError(f"no media file matches '{text}'")
        return [(f, base) for f in files]
    raise InputNotFoundError(f"input file not found: {text}")


def _fixed_prefix(pattern: Path) -> Path:
    """The leading folders of ``pattern`` before its first wildcard."""
    parts: list[str] = []
    for part in pattern.parts[:-1]:
        if is_glob(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()


def plan(inputs: Sequence[str], formats: Sequence[str], out_dir: Path | None) -> list[FileJob]:
    """One :class:`FileJob` per media file ``inputs`` name.

    Args:
        inputs: Files, folders and glob patterns, as typed.
        formats: Output formats (``srt``, ``vtt``, ...): each output is the input's name
            with the format's extension.
        out_dir: Folder for the outputs, or ``None`` for beside each input. In the folder,
            outputs keep the inputs' paths below the folder all inputs share
            (``season1/ep1.mp4`` and ``season2/ep1.mp4`` -> ``OUT/season1/ep1.srt`` and
            ``OUT/season2/ep1.srt``; one folder input: the paths below it).

    Raises:
        InputNotFoundError: see :func:`expand`.
        OutputError: two inputs whose outputs would have the same name (``a.mp3`` and
            ``a.wav`` in one folder): name them apart or give them separate runs.
    """
    found = expand(inputs)
    common = Path(os.path.commonpath([str(base) for _, base in found]))
    jobs: list[FileJob] = []
    owner: dict[Path, Path] = {}
    for file, _ in found:
        relative = Path(os.path.relpath(file, common))
        if out_dir is not None:
            folder, stem = _absolute(out_dir) / relative.parent, file.stem
        else:
            folder, stem = file.parent, file.stem
        outputs = tuple(folder / f"{stem}.{fmt}" for fmt in formats)
        for out in outputs:
            if out in owner:
                raise OutputError(f"'{owner[out]}' and '{file}' would both write {out}")
            owner[out] = file
        jobs.append(FileJob(file, outputs, str(relative)))
    return jobs
