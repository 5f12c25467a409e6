"""A batch of files on a Ray cluster: Ray Data ``map_batches`` over actors that each load
the models once.

The driver plans the jobs (:mod:`voicestream.files.inputs`), skips finished ones, and hands
the rest to a pool of :class:`FileWorker` actors, one file per call. A file that fails is a
``failed`` row (never retried: a corrupt file stays corrupt); a worker that dies mid-file
is replaced and its file redone once (``max_task_retries=1``); a file whose worker dies
twice is reported failed and the batch goes on. Inputs and outputs are paths that every
node sees (a shared folder).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from voicestream.blas import one_blas_thread
from voicestream.catalog import check_name
from voicestream.cluster.connect import connect
from voicestream.errors import ClusterError, OptionError, VoicestreamError
from voicestream.files.batch import BatchProgress, FileResult, run_job
from voicestream.files.inputs import FileJob
from voicestream.files.transcriber import FileOutcome, FileSettings, FileTranscriber, ModelSettings

log = logging.getLogger(__name__)

WORKER_DIED = "its worker died twice while transcribing it"


@dataclass(frozen=True, slots=True)
class RaySettings:
    """Where and how wide a batch runs on Ray.

    Attributes:
        address: Cluster address (``auto``, ``ray://host:10001``), ``None`` for
            ``$RAY_ADDRESS`` or else a local cluster started for this run.
        workers: Actors (each with its own models), ``None`` for as many as the cluster's
            CPUs allow at ``cpus_per_worker``.
        cpus_per_worker: CPUs reserved per actor (Whisper's threads use them).
        gpus_per_worker: GPUs per actor (fractions share one).
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0


class FileWorker:
    """A Ray Data actor: the models loaded once, then one file per call."""

    def __init__(self, models: ModelSettings, settings: FileSettings, needs_speakers: bool) -> None:
        one_blas_thread()  # a Ray worker process does not run the CLI's main()
        self.transcriber = FileTranscriber(models, settings, needs_speakers)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Rows of :func:`job_row` in, rows of :func:`result_row` out."""
        rows = []
        for source, outputs, formats, name in zip(
            batch["source"], batch["outputs"], batch["formats"], batch["name"], strict=True
        ):
            job = FileJob(Path(source), tuple(Path(p) for p in outputs), str(name))
            rows.append(result_row(run_job(self.transcriber, job, list(formats))))
        return {key: [row[key] for row in rows] for key in RESULT_KEYS}


RESULT_KEYS = ("name", "source", "status", "error", "exit_code", "audio_s", "elapsed_s", "cues", "language", "speakers")


def job_row(job: FileJob, formats: Sequence[str]) -> dict[str, Any]:
    """A job as a dataset row (plain values)."""
    return {
        "source": str(job.source),
        "outputs": [str(p) for p in job.outputs],
        "formats": list(formats),
        "name": job.name,
    }


def result_row(result: FileResult) -> dict[str, Any]:
    """A result as a dataset row (plain values; missing figures are 0 or empty)."""
    o = result.outcome
    return {
        "name": result.name,
        "source": str(result.source),
        "status": result.status,
        "error": result.error or "",
        "exit_code": result.exit_code,
        "audio_s": 0.0 if o is None else o.audio_s,
        "elapsed_s": 0.0 if o is None else o.elapsed_s,
        "cues": 0 if o is None else o.cues,
        "language": "" if o is None else o.language,
        "speakers": 0 if o is None else o.speakers,
    }


def from_row(row: dict[str, Any], outputs: tuple[Path, ...]) -> FileResult:
    """The :class:`FileResult` a result row stands for."""
    if row["status"] != "done":
        return FileResult(
            str(row["name"]), Path(row["source"]), row["status"], error=row["error"] or None,
            exit_code=int(row["exit_code"]),
        )  # fmt: skip
    outcome = FileOutcome(
        audio_s=float(row["audio_s"]),
        elapsed_s=float(row["elapsed_s"]),
        cues=int(row["cues"]),
        language=str(row["language"]),
        speakers=int(row["speakers"]),
        written=outputs,
    )
    return FileResult(str(row["name"]), Path(row["source"]), "done", outcome=outcome)


def _worker_count(settings: RaySettings, files: int) -> int:
    """Actors to start: as asked, else as many as the cluster's CPUs (and GPUs, when asked
    for) allow, never more than the files."""
    import ray

    if settings.cpus_per_worker <= 0 or settings.gpus_per_worker < 0:
        raise OptionError("--cpus-per-worker must be above 0 and --gpus-per-worker at least 0")
    if settings.workers is not None:
        if settings.workers < 1:
            raise OptionError("--workers must be at least 1")
        return min(settings.workers, files)
    resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
    fit = int(float(resources.get("CPU", 1.0)) // settings.cpus_per_worker)
    if settings.gpus_per_worker > 0:
        fit = min(fit, int(float(resources.get("GPU", 0.0)) // settings.gpus_per_worker))
        if fit < 1:
            raise OptionError(f"the cluster has no room for a worker with {settings.gpus_per_worker:g} GPU")
    return max(1, min(files, fit))


def _voicestream_error(error: BaseException) -> VoicestreamError | None:
    """The voicestream error behind a Ray error (an actor that could not start), if any."""
    seen: set[int] = set()
    todo: list[object] = [error]
    while todo:
        e = todo.pop()
        if id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        if isinstance(e, VoicestreamError):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


def run_on_ray(
    models: ModelSettings,
    settings: FileSettings,
    jobs: Sequence[FileJob],
    formats: Sequence[str],
    ray_settings: RaySettings,
    overwrite: bool = False,
    progress: BatchProgress | None = None,
    needs_speakers: bool = False,
    worker: type[FileWorker] = FileWorker,
) -> list[FileResult]:
    """Run ``jobs`` on Ray; one result per job, in the jobs' order.

    Args:
        worker: The actor class (a subclass may add behaviour, e.g. fault injection in tests).

    Raises:
        ModelError: Ray is not installed, or (as any voicestream error) what stopped the
            workers from starting (a model that cannot load, a bad device).
        OptionError: the cluster cannot be reached, or bad worker resources.
        ClusterError: the run failed on the cluster for another reason.
    """
    check_name(models.model)  # a name no worker could load fails here, in one line
    if models.draft_model is not None:
        check_name(models.draft_model)
    results: dict[str, FileResult] = {}
    todo = []
    for job in jobs:
        if not overwrite and job.done():
            results[job.name] = FileResult(job.name, job.source, "skipped")
            if progress is not None:
                progress.end_file(results[job.name])
        else:
            todo.append(job)
    if todo:
        try:
            for result in _run(models, settings, todo, formats, ray_settings, needs_speakers, worker):
                results[result.name] = result
                if progress is not None:
                    progress.end_file(result)
        except VoicestreamError:
            raise
        except Exception as e:  # a worker that cannot start (model, device): one line, its own exit code
            cause = _voicestream_error(e)
            if cause is not None:
                raise cause from None
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ClusterError(f"the Ray run failed: {last}") from e
    ordered = []
    for job in jobs:
        if job.name not in results:  # its block errored: the worker died on it twice
            results[job.name] = FileResult(job.name, job.source, "failed", error=WORKER_DIED, exit_code=1)
            if progress is not None:
                progress.end_file(results[job.name])
        ordered.append(results[job.name])
    return ordered


def _run(
    models: ModelSettings,
    settings: FileSettings,
    jobs: Sequence[FileJob],
    formats: Sequence[str],
    ray_settings: RaySettings,
    needs_speakers: bool,
    worker: type[FileWorker],
) -> Iterator[FileResult]:
    connect(ray_settings.address)
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command shows its own
    context.print_on_execution_start = False
    context.max_errored_blocks = -1  # a file whose worker died twice is reported, the rest goes on
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-run execution reports
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # nor "bars disabled"
    # a block lost to a twice-dead worker is logged there with its traceback; it is reported per file
    logging.getLogger("ray.data._internal.execution.streaming_executor_state").setLevel(logging.CRITICAL)
    by_name = {job.name: job for job in jobs}
    dataset = ray.data.from_items([job_row(job, formats) for job in jobs], override_num_blocks=len(jobs))
    with warnings.catch_warnings():  # Ray 2.60 has no named parameter for these two yet
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated", category=DeprecationWarning)
        threads = max(1, int(ray_settings.cpus_per_worker))  # each actor's Whisper on the CPUs it reserved
        mapped = dataset.map_batches(
            worker,
            batch_size=1,
            fn_constructor_args=(replace(models, cpu_threads=models.cpu_threads or threads), settings, needs_speakers),
            # one file per actor at a time: a file never waits (or dies) behind another's crash
            compute=ray.data.ActorPoolStrategy(
                size=_worker_count(ray_settings, len(jobs)), max_tasks_in_flight_per_actor=1
            ),
            num_cpus=ray_settings.cpus_per_worker,
            num_gpus=ray_settings.gpus_per_worker,
            max_restarts=-1,  # a dead worker is replaced ...
            max_task_retries=1,  # ... and its file redone once
        )
    for row in mapped.iter_rows():
        yield from_row(row, by_name[str(row["name"])].outputs)
