"""Stage progress for long dubbing jobs: a Protocol, and rich bars for the terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[float], None]
"""Called with the amount done so far in the stage's unit."""


class StageProgress(Protocol):
    """Reports the stages of a job."""

    def stage(self, name: str, total: float, unit: str) -> Advance:
        """Start a stage of ``total`` units; returns the function to report progress with."""
        ...

    def note(self, text: str) -> None:
        """A one-line remark (a stage reused from the cache, a clip that failed its check)."""
        ...


class Quiet:
    """No output."""

    def stage(self, name: str, total: float, unit: str) -> Advance:
        """See :class:`StageProgress`."""
        return lambda done: None

    def note(self, text: str) -> None:
        """See :class:`StageProgress`."""


class RichStages:
    """One rich progress bar per stage, on stderr."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def stage(self, name: str, total: float, unit: str) -> Advance:
        """See :class:`StageProgress`."""
        task = self._bar.add_task(name, total=max(total, 1e-9), unit=unit)

        def advance(done: float) -> None:
            self._bar.update(task, completed=done, refresh=True)

        return advance

    def note(self, text: str) -> None:
        """See :class:`StageProgress`."""
        self._bar.console.print(f"voicestream: {text}")


@contextmanager
def rich_stages() -> Iterator[RichStages]:
    """A :class:`RichStages` on a live rich display."""

    with Progress(
        TextColumn("{task.description:<13}"), BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"), TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:  # fmt: skip
        yield RichStages(bar)
