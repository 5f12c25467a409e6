"""Which files a batch transcribes and where each one's outputs go.

Inputs are files, folders (searched recursively for media by extension) and glob patterns
(``**`` recurses). Every input becomes one :class:`FileJob`; its outputs are named after
it, in the output folder when one is given (keeping the path below a folder input, so two
``talk.mp4`` in different folders never write the same file), else beside the input.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
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
        name: How the summary names the input (its path as given or below its folder).
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

    Returns:
        ``(file, base)`` pairs: the absolute file and the folder its output name is taken
        relative to (the folder input, the glob's fixed leading folder, or its own folder).

    Raises:
        InputNotFoundError: an input that does not exist, or a folder or pattern that holds
            no media file.
    """
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for text in inputs:
        for file, base in _one(text):
            if file not in seen:
                seen.add(file)
                found.append((file, base))
    return found


def _one(text: str) -> Iterable[tuple[Path, Path]]:
    path = Path(text).expanduser()
    if is_glob(text):
        base = _fixed_prefix(path).resolve()
        matches = sorted(Path(m).resolve() for m in glob.glob(str(path), recursive=True))  # noqa: PTH207 (absolute patterns)
        files = [m for m in matches if m.is_file() and (m.suffix.lower().lstrip(".") in MEDIA_EXTENSIONS)]
        if not files:
            raise InputNotFoundError(f"no media file matches '{text}'")
        return [(f, base) for f in files]
    if path.is_dir():
        base = path.resolve()
        files = sorted(
            p.resolve()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower().lstrip(".") in MEDIA_EXTENSIONS
        )
        if not files:
            raise InputNotFoundError(f"no media file in folder '{text}'")
        return [(f, base) for f in files]
    if not path.is_file():
        raise InputNotFoundError(f"input file not found: {text}")
    resolved = path.resolve()
    return [(resolved, resolved.parent)]


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
        out_dir: Folder for the outputs (kept structure below folder inputs and globs), or
            ``None`` for beside each input.

    Raises:
        InputNotFoundError: see :func:`expand`.
        OutputError: two inputs whose outputs would have the same name (``a.mp3`` and
            ``a.wav`` in one folder): name them apart or give them separate runs.
    """
    jobs: list[FileJob] = []
    owner: dict[Path, Path] = {}
    for file, base in expand(inputs):
        relative = Path(os.path.relpath(file, base))
        if relative.parts[0] == "..":  # a link out of the folder: its own name
            relative = Path(file.name)
        stem = relative.with_suffix("") if out_dir is not None else Path(file.stem)
        folder = out_dir.resolve() if out_dir is not None else file.parent
        outputs = tuple(folder / stem.parent / f"{stem.name}.{fmt}" for fmt in formats)
        for out in outputs:
            if out in owner:
                raise OutputError(f"'{owner[out]}' and '{file}' would both write {out}")
            owner[out] = file
        jobs.append(FileJob(file, outputs, str(relative) if out_dir is not None else str(file)))
    return jobs
