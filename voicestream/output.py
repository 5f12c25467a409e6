"""Writing result files atomically: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from voicestream.errors import OutputError


def check_writable(path: Path) -> None:
    """Raise :class:`OutputError` early when ``path`` cannot be written."""
    parent = path.parent
    if path.is_dir():
        raise OutputError(f"output is a directory: {path}")
    if not parent.is_dir():
        raise OutputError(f"output directory does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output directory is not writable: {parent}")


def write_text(path: Path | None, text: str) -> None:
    """Write ``text`` to ``path`` atomically (``None`` writes to stdout).

    Either the whole file appears under its final name or nothing does.
    """
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        if isinstance(e, OSError):
            raise OutputError(f"could not write {path}: {e.strerror or e}") from None
        raise
