"""How a ``transcribe`` batch shows itself: progress bars on a terminal, a line per file
otherwise, and the summary table."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from voicestream.files.batch import FileResult
from voicestream.files.inputs import FileJob

_STYLE = {"done": "green", "skipped": "dim", "failed": "bold red"}


class BatchBars:
    """A :class:`~voicestream.files.batch.BatchProgress`: one bar over the files and (when
    ``per_file``: files done one after another) one for the current file's audio when
    ``bars`` (a terminal), else one line per finished file."""

    def __init__(self, console: Console, total: int, bars: bool, per_file: bool = True) -> None:
        self.console = console
        self.total = total
        self._progress: Progress | None = None
        self._files: TaskID | None = None
        self._file: TaskID | None = None
        self._ended = 0
        self._per_file = per_file
        if bars:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=console, transient=True,
            )  # fmt: skip

    def __enter__(self) -> BatchBars:
        if self._progress is not None:
            self._progress.start()
            self._files = self._progress.add_task("files", total=self.total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_file(self, job: FileJob, index: int, total: int) -> None:
        if self._progress is not None and self._per_file:
            if self._file is not None:
                self._progress.remove_task(self._file)
            self._file = self._progress.add_task(escape(job.name), total=None)

    def stage(self, stage: str, done_s: float, total_s: float) -> None:
        if self._progress is not None and self._file is not None:
            self._progress.update(self._file, completed=done_s, total=total_s, refresh=True)

    def end_file(self, result: FileResult) -> None:
        self._ended += 1
        if self._progress is not None and self._files is not None:
            self._progress.advance(self._files)
            return
        self.console.print(
            f"voicestream: [{self._ended}/{self.total}] {result.name}: {_describe(result)}",
            highlight=False,
            soft_wrap=True,
            markup=False,  # names and ffmpeg's messages hold brackets
        )


def _describe(result: FileResult) -> str:
    if result.status == "failed":
        return f"failed (exit {result.exit_code}): {result.error}"
    if result.outcome is None:
        return "skipped (outputs present)"
    o = result.outcome
    return f"{o.cues} cues, language {o.language}, {o.audio_s:.1f} s of audio in {o.elapsed_s:.1f} s"


def summary_table(results: Sequence[FileResult]) -> Table:
    """One row per file: status, audio length, time, language, cues or the error."""
    table = Table(title="voicestream transcribe", title_justify="left")
    for name, justify in (("file", "left"), ("status", "left"), ("audio s", "right"), ("time s", "right"),
                          ("language", "left"), ("cues", "right"), ("error", "left")):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in results:
        o = r.outcome
        table.add_row(
            Text(r.name),
            Text(r.status, style=_STYLE[r.status]),
            "" if o is None else f"{o.audio_s:.1f}",
            "" if o is None else f"{o.elapsed_s:.1f}",
            "" if o is None else o.language,
            "" if o is None else str(o.cues),
            Text(r.error or ""),
        )
    return table
