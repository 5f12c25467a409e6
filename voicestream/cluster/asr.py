"""Whisper as a Ray Serve deployment, and an :class:`~voicestream.asr.AsrEngine` that calls it.

The deployment's replicas hold the models and no session state: each call ships a window
of audio, its options and the previous hypothesis, and gets the words back with the
drafting counts of that call (the caller adds them to its session's counters). So any
replica can serve any update, and a replica that dies costs the updates it was decoding,
which :class:`RemoteAsrEngine` sends again (to a live replica) instead of failing the session.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import numpy.typing as npt

from voicestream import registry
from voicestream.asr import AsrSegment, DecodeOptions, DraftPolicy
from voicestream.asr.speculative import DraftSettings, SpeculativeStats
from voicestream.blas import one_blas_thread
from voicestream.catalog import default_model
from voicestream.cluster import calls
from voicestream.cluster.calls import RETRY_FOR_S
from voicestream.cluster.connect import connect
from voicestream.cluster.metrics import Decoded, ReplicaMetrics
from voicestream.errors import ModelError, OptionError
from voicestream.files.transcriber import ModelSettings

log = logging.getLogger(__name__)

APP_NAME = "voicestream-asr"
DEPLOYMENT_NAME = "asr"


class AsrReplica:
    """One replica: a Whisper engine decoding one window at a time on as many CPU threads
    as the CPUs its actor reserved (``num_cpus``; at least one)."""

    def __init__(self, models: ModelSettings) -> None:
        import ray

        one_blas_thread()  # a Ray worker process does not run the CLI's main()
        resources = ray.get_runtime_context().get_assigned_resources()  # type: ignore[no-untyped-call]
        cpus = float(resources.get("CPU", 1.0))
        self.engine = registry.create_asr_engine(
            models.model,
            models.device,
            models.compute_type,
            draft_model=models.draft_model,
            draft=models.draft,
            draft_policy=models.draft_policy,
            cpu_threads=max(1, round(cpus)),
        )

    def describe(self) -> tuple[str, bool, bool, int]:
        """``(name, multilingual, speculative, pid)`` of this replica's engine and process."""
        return self.engine.name, self.engine.multilingual, self.engine.speculative, os.getpid()

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """As :meth:`AsrEngine.detect_language`."""
        return self.engine.detect_language(samples)

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None,
        counted: bool,
    ) -> tuple[list[AsrSegment], SpeculativeStats | None, Decoded]:
        """As :meth:`AsrEngine.transcribe`; the drafting counts of this call come back
        (when ``counted``) instead of being added to a caller's counters, with this
        replica's process id and decode time."""
        stats = SpeculativeStats() if counted else None
        started = time.perf_counter()
        segments = self.engine.transcribe(samples, offset_s, options, hypothesis, stats)
        return segments, stats, Decoded(os.getpid(), time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class AsrReplicas:
    """How the ASR deployment is sized.

    Attributes:
        replicas: Replicas, or ``None`` to autoscale between 1 and what the cluster's CPUs
            allow at ``cpus_per_replica``.
        cpus_per_replica: CPUs each replica reserves; its Whisper runs that many threads.
        gpus_per_replica: GPUs each replica reserves (fractions share one).

    Raises:
        OptionError: a replica count below 1, no CPUs per replica, or negative GPUs.
    """

    replicas: int | None = 1
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0

    def __post_init__(self) -> None:
        if self.replicas is not None and self.replicas < 1:
            raise OptionError("--asr-replicas must be at least 1 or auto")
        if self.cpus_per_replica <= 0 or self.gpus_per_replica < 0:
            raise OptionError("--cpus-per-replica must be above 0 and --gpus-per-replica at least 0")


def deployment_options(sizing: AsrReplicas, cluster_cpus: float | None) -> dict[str, Any]:
    """Ray Serve options of the ``asr`` deployment (as in a Serve config's ``deployments``);
    ``auto`` scales between 1 and the replicas ``cluster_cpus`` hold (8 when unknown)."""
    options: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "max_ongoing_requests": 1,  # one window at a time: the router sends the next to a free replica
        "health_check_period_s": 2.0,
        "ray_actor_options": {"num_cpus": sizing.cpus_per_replica, "num_gpus": sizing.gpus_per_replica},
    }
    if sizing.replicas is None:
        most = 8 if cluster_cpus is None else max(1, int(cluster_cpus // sizing.cpus_per_replica))
        options["autoscaling_config"] = {"min_replicas": 1, "max_replicas": most, "target_ongoing_requests": 1}
    else:
        options["num_replicas"] = sizing.replicas
    return options


def app_args(models: ModelSettings) -> dict[str, Any]:
    """:func:`build_app`'s arguments for ``models``: plain values, as in a Serve config file."""
    draft = models.draft or DraftSettings()
    return {
        "model": models.model or default_model(),
        "device": models.device,
        "compute_type": models.compute_type,
        "draft_model": models.draft_model,
        "draft_policy": models.draft_policy,
        "draft_tokens": draft.num_tokens,
        "draft_min_tokens": draft.min_tokens,
        "draft_max_tokens": draft.max_tokens,
    }


def models_from_args(args: Mapping[str, Any]) -> ModelSettings:
    """The models :func:`app_args` describes (missing keys take their defaults).

    Raises:
        OptionError: an unknown key, or a value of the wrong kind.
    """
    known = set(app_args(ModelSettings()))
    unknown = sorted(set(args) - known)
    if unknown:
        raise OptionError(
            f"unknown ASR application arguments: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    d = DraftSettings()
    try:
        draft = DraftSettings(
            int(args.get("draft_tokens", d.num_tokens)),
            int(args.get("draft_min_tokens", d.min_tokens)),
            int(args.get("draft_max_tokens", d.max_tokens)),
        )
    except (TypeError, ValueError) as e:
        raise OptionError(f"ASR application arguments: draft tokens: {e}") from None
    policy = args.get("draft_policy", "auto")
    if policy not in get_args(DraftPolicy):
        raise OptionError(f"ASR application arguments: draft_policy must be one of {', '.join(get_args(DraftPolicy))}")
    return ModelSettings(
        model=args.get("model"), device=str(args.get("device", "cpu")),
        compute_type=str(args.get("compute_type", "default")), draft_model=args.get("draft_model"),
        draft=draft, draft_policy=policy,
    )  # fmt: skip


def build_app(args: dict[str, Any]) -> Any:
    """The ASR application (a Serve application builder: ``import_path:
    voicestream.cluster.asr:build_app`` with :func:`app_args` as ``args``). Sizing comes
    from the config's ``deployments`` entry, else one replica on one CPU."""
    from ray import serve

    defaults = deployment_options(AsrReplicas(), None)
    return serve.deployment(**defaults)(AsrReplica).bind(models_from_args(args))


def deploy(address: str | None, models: ModelSettings, sizing: AsrReplicas, http: tuple[str, int] | None = None) -> Any:
    """Start (or update) the ASR deployment on the cluster; returns its handle. With ``http``
    (host, port) Serve's proxy listens there for a gateway deployment
    (:mod:`voicestream.cluster.gateway`): on every node of a cluster given by address, on
    this machine for a local one; without, Serve runs no proxy (this process is the gateway).

    Raises:
        ModelError: Ray Serve is not installed.
        OptionError: the cluster cannot be reached, or a bad replica count.
    """
    connect(address)
    try:
        import ray
        from ray import serve
    except ImportError as e:
        raise ModelError("--ray needs Ray Serve: install voicestream's 'ray' extra (uv sync --extra ray)") from e
    cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
    options = deployment_options(sizing, cpus)
    if http is None:
        serve.start(proxy_location="Disabled")  # no HTTP proxy: the gateway is voicestream's own server
    else:
        local = address is None and "RAY_ADDRESS" not in os.environ
        where = "HeadOnly" if local else "EveryNode"
        serve.start(proxy_location=where, http_options={"host": http[0], "port": http[1]})
    app = serve.deployment(**options)(AsrReplica).bind(models)
    return serve.run(app, name=APP_NAME, route_prefix=None, blocking=False)


def attach(address: str | None, wait_s: float = RETRY_FOR_S, app: str = APP_NAME) -> Any:
    """The handle of application ``app`` deployed on the cluster (by ``serve deploy`` of a
    :func:`serve_config` file, or by another server), waiting up to ``wait_s`` for it to
    appear (``serve deploy`` returns before the application exists).

    Raises:
        ModelError: Ray Serve is not installed.
        OptionError: the cluster cannot be reached, or holds no such application in time.
    """
    connect(address)
    from ray import serve
    from ray.serve.exceptions import RayServeException

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return serve.get_app_handle(app)
        except RayServeException as e:
            if time.monotonic() > deadline:
                raise OptionError(
                    f"the cluster has no {app!r} application after {wait_s:.0f} s ({e}); deploy it with "
                    "`voicestream ray-config -o asr.yaml && serve deploy asr.yaml` (with the same --diarize "
                    "options), or drop --no-deploy"
                ) from None
            time.sleep(1.0)


def serve_config(models: ModelSettings, sizing: AsrReplicas, speakers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Ray Serve config (for ``serve deploy``) of the ASR application sized by ``sizing``,
    and the speaker application when ``speakers`` (its entry,
    :func:`voicestream.cluster.speakers.app_config`) is given."""
    asr = {
        "name": APP_NAME,
        "route_prefix": None,
        "import_path": f"{__name__}:build_app",
        "args": app_args(models),
        "deployments": [deployment_options(sizing, None)],
    }
    return {
        "proxy_location": "Disabled",  # voicestream serve --ray --no-deploy is the gateway
        "applications": [asr] if speakers is None else [asr, speakers],
    }


def undeploy(remove: bool = True, apps: tuple[str, ...] = (APP_NAME,)) -> None:
    """Take the applications ``apps`` down (with ``remove``) and leave the cluster (a local
    cluster stops with it); nothing when this process never connected."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        return
    if remove:
        for app in apps:
            try:
                serve.delete(app)
            except Exception as e:  # a cluster that is gone already: nothing left to free
                if "no Serve instance" in str(e):
                    break  # nothing was deployed (a start refused before any)
                log.warning("could not remove the %s application: %s", app, e)
    ray.shutdown()


class RemoteAsrEngine:
    """An :class:`~voicestream.asr.AsrEngine` whose decodes run on the ASR deployment.

    Calls block the calling worker thread until a replica answers; a call whose replica
    died or was unreachable is sent again for up to :data:`RETRY_FOR_S`.
    """

    def __init__(self, handle: Any, retry_for_s: float = RETRY_FOR_S) -> None:
        self.handle = handle
        self.retry_for_s = retry_for_s
        self.load = ReplicaMetrics()
        """Decodes by replica, calls sent again, round-trip overhead (``GET /metrics``)."""
        self.name, self.multilingual, self._speculative, _ = self._call("describe")

    @property
    def speculative(self) -> bool:
        """Whether the replicas' greedy windows use the step decoder."""
        return bool(self._speculative)

    def replica_pids(self, calls: int = 8) -> set[int]:
        """Process ids of the replicas that answer ``calls`` describe calls (a sample)."""
        return {int(self._call("describe")[3]) for _ in range(calls)}

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """As :meth:`AsrEngine.detect_language`, on a replica."""
        language, probability = self._call("detect_language", samples)
        return str(language), float(probability)

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None = None,
        stats: SpeculativeStats | None = None,
    ) -> list[AsrSegment]:
        """As :meth:`AsrEngine.transcribe`, on a replica; its drafting counts are added to ``stats``."""
        started = time.monotonic()
        segments, counts, decoded = self._call("transcribe", samples, offset_s, options, hypothesis, stats is not None)
        now = time.monotonic()
        self.load.record(now, decoded, now - started)
        if stats is not None and counts is not None:
            stats.add(counts)
        return list(segments)

    @property
    def retries(self) -> int:
        """Calls sent again after a replica failed them."""
        return self.load.retries

    def metrics(self) -> dict[str, Any]:
        """The replicas' figures for ``GET /metrics`` (:meth:`ReplicaMetrics.summary`)."""
        return self.load.summary(time.monotonic())

    def _call(self, method: str, *args: Any) -> Any:
        return calls.call(self.handle, method, args, "ASR", self.retry_for_s, self.load.retried)
