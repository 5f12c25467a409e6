"""Many files, one set of models: the batch loop and its summary.

One file's failure is recorded and the batch goes on; a finished file (every output present)
is skipped unless ``overwrite``. Outputs are written atomically, so a file interrupted
half-way leaves nothing under its output names and is redone by the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from voicestream.errors import OutputError, VoicestreamError
from voicestream.files.inputs import FileJob
from voicestream.files.transcriber import FileOutcome, FileTranscriber, StageHook
from voicestream.output import check_writable

FileStatus = Literal["done", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class FileResult:
    """What became of one :class:`FileJob`.

    Attributes:
        name: The input as the summary names it.
        source: Absolute path of the input.
        status: ``done``, ``skipped`` (its outputs existed) or ``failed``.
        outcome: Figures of a ``done`` file.
        error: One-line reason of a ``failed`` file.
        exit_code: The exit code its error has on its own (0 unless failed; see
            :mod:`voicestream.errors`).
    """

    name: str
    source: Path
    status: FileStatus
    outcome: FileOutcome | None = None
    error: str | None = None
    exit_code: int = 0


class BatchProgress(Protocol):
    """Where the batch reports (a progress bar, log lines, nothing)."""

    def start_file(self, job: FileJob, index: int, total: int) -> None:
        """File ``index`` (0-based) of ``total`` starts."""

    def stage(self, stage: str, done_s: float, total_s: float) -> None:
        """Progress within the current file (see :data:`StageHook`)."""

    def end_file(self, result: FileResult) -> None:
        """The current file ended."""


def run_job(
    transcriber: FileTranscriber, job: FileJob, formats: Sequence[str], hook: StageHook | None = None
) -> FileResult:
    """Transcribe one job into its outputs; a failure becomes a ``failed`` result (never raised)."""
    try:
        for path in job.outputs:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"cannot create output folder {path.parent}: {e.strerror}") from e
            check_writable(path)  # a read-only folder fails before the transcription, not after
        outcome = transcriber.run(job.source, list(zip(job.outputs, formats, strict=True)), hook)
    except VoicestreamError as e:
        return FileResult(job.name, job.source, "failed", error=str(e), exit_code=e.exit_code)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # one bad file must not end the batch: it is reported
        return FileResult(job.name, job.source, "failed", error=f"internal error: {type(e).__name__}: {e}", exit_code=1)
    return FileResult(job.name, job.source, "done", outcome=outcome)


def run_batch(
    transcriber: FileTranscriber,
    jobs: Sequence[FileJob],
    formats: Sequence[str],
    overwrite: bool = False,
    progress: BatchProgress | None = None,
) -> list[FileResult]:
    """Run ``jobs`` in order; returns one result per job, in the same order."""
    results = []
    for index, job in enumerate(jobs):
        if progress is not None:
            progress.start_file(job, index, len(jobs))
        if not overwrite and job.done():
            result = FileResult(job.name, job.source, "skipped")
        else:
            result = run_job(transcriber, job, formats, None if progress is None else progress.stage)
        results.append(result)
        if progress is not None:
            progress.end_file(result)
    return results


def counts(results: Sequence[FileResult]) -> dict[FileStatus, int]:
    """How many results have each status."""
    found: dict[FileStatus, int] = {"done": 0, "skipped": 0, "failed": 0}
    for r in results:
        found[r.status] += 1
    return found
