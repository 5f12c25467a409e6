"""The speaker models as a Ray Serve deployment, and :class:`RemoteSpeakerModels` that call it.

Live speaker labelling keeps each session's state (its audio, its clusters of voices) on
the gateway and calls stateless models: segmentation of a window, embeddings under masks,
and the whole pipeline once at the end of a session. Those calls run on the ``speakers``
deployment's replicas, so a gateway need not load PyTorch or the pyannote models, and a
replica that dies costs the calls it was serving, which are sent again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.blas import one_blas_thread
from voicestream.cluster import calls
from voicestream.cluster.calls import RETRY_FOR_S
from voicestream.diarize.base import SpeakerCount
from voicestream.errors import OptionError
from voicestream.messages import Diarization

APP_NAME = "voicestream-speakers"
DEPLOYMENT_NAME = "speakers"


class SpeakerReplica:
    """One replica: the diarization pipeline's models on as many PyTorch threads as the
    CPUs its actor reserved. Hub pipelines read ``$HF_TOKEN`` from the node's environment."""

    def __init__(self, diarize_model: str | None) -> None:
        import ray
        import torch  # PyTorch comes with the diarize extra

        from voicestream.diarize.engine import load_diarizer
        from voicestream.diarize.live import DiarizationModels

        one_blas_thread()  # a Ray worker process does not run the CLI's main()
        cpus = float(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
        torch.set_num_threads(max(1, round(cpus)))
        self.models = DiarizationModels(load_diarizer(diarize_model, None, "cpu"))

    def describe(self) -> tuple[str, float, float, int]:
        """``(name, frame_step_s, frame_start_s, pid)`` of this replica's pipeline and process."""
        m = self.models
        return m.name, m.frame_step_s, m.frame_start_s, os.getpid()

    def segment(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """As :meth:`~voicestream.diarize.live.SpeakerModels.segment`."""
        return self.models.segment(samples)

    def embed(self, samples: npt.NDArray[np.float32], masks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """As :meth:`~voicestream.diarize.live.SpeakerModels.embed`."""
        return self.models.embed(samples, masks)

    def diarize(self, samples: npt.NDArray[np.float32], speakers: SpeakerCount | None) -> Diarization:
        """As :meth:`~voicestream.diarize.live.SpeakerModels.diarize`."""
        return self.models.diarize(samples, speakers)


@dataclass(frozen=True, slots=True)
class SpeakerReplicas:
    """How the speaker deployment is sized: ``replicas`` of ``cpus_per_replica`` CPUs each.

    Raises:
        OptionError: fewer than one replica, or no CPUs per replica.
    """

    replicas: int = 1
    cpus_per_replica: float = 1.0

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.cpus_per_replica <= 0:
            raise OptionError("--speaker-replicas must be at least 1, with more than 0 CPUs each")


def deployment_options(sizing: SpeakerReplicas) -> dict[str, Any]:
    """Ray Serve options of the ``speakers`` deployment (as in a Serve config's ``deployments``)."""
    return {
        "name": DEPLOYMENT_NAME,
        # calls are short (a window's segmentation or embeddings) except a session's end-of-stream
        # pass; two at a time keep a replica busy without queueing windows behind a long pass
        "max_ongoing_requests": 2,
        "health_check_period_s": 2.0,
        "num_replicas": sizing.replicas,
        "ray_actor_options": {"num_cpus": sizing.cpus_per_replica},
    }


def app_config(diarize_model: str | None, sizing: SpeakerReplicas) -> dict[str, Any]:
    """The speaker application's entry of a Serve config file."""
    return {
        "name": APP_NAME,
        "route_prefix": None,
        "import_path": f"{__name__}:build_app",
        "args": {"diarize_model": diarize_model},
        "deployments": [deployment_options(sizing)],
    }


def build_app(args: dict[str, Any]) -> Any:
    """The speaker application (a Serve application builder: ``import_path:
    voicestream.cluster.speakers:build_app`` with ``{"diarize_model": NAME}`` as ``args``).

    Raises:
        OptionError: unknown arguments.
    """
    from ray import serve

    unknown = sorted(set(args) - {"diarize_model"})
    if unknown:
        raise OptionError(f"unknown speaker application arguments: {', '.join(unknown)} (known: diarize_model)")
    options = deployment_options(SpeakerReplicas())
    return serve.deployment(**options)(SpeakerReplica).bind(args.get("diarize_model"))


def deploy(diarize_model: str | None, sizing: SpeakerReplicas) -> Any:
    """Start (or update) the speaker deployment on the cluster this process joined
    (:func:`voicestream.cluster.asr.deploy` joins it); returns its handle."""
    from ray import serve

    serve.start(proxy_location="Disabled")  # no HTTP proxy: the gateway is voicestream's own server
    app = serve.deployment(**deployment_options(sizing))(SpeakerReplica).bind(diarize_model)
    return serve.run(app, name=APP_NAME, route_prefix=None, blocking=False)


class RemoteSpeakerModels:
    """:class:`~voicestream.diarize.live.SpeakerModels` whose forward passes run on the
    speaker deployment. Calls block the calling worker thread until a replica answers; a
    call whose replica died is sent again for up to :data:`~voicestream.cluster.calls.RETRY_FOR_S`."""

    def __init__(self, handle: Any, retry_for_s: float = RETRY_FOR_S) -> None:
        self.handle = handle
        self.retry_for_s = retry_for_s
        self.retries = 0
        """Calls sent again after a replica failed them."""
        name, step, start, _ = self._call("describe")
        self.name, self.frame_step_s, self.frame_start_s = str(name), float(step), float(start)

    def replica_pids(self, count: int = 8) -> set[int]:
        """Process ids of the replicas that answer ``count`` describe calls (a sample)."""
        return {int(self._call("describe")[3]) for _ in range(count)}

    def segment(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """As :meth:`~voicestream.diarize.live.SpeakerModels.segment`, on a replica."""
        return np.asarray(self._call("segment", samples), dtype=np.float32)

    def embed(self, samples: npt.NDArray[np.float32], masks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """As :meth:`~voicestream.diarize.live.SpeakerModels.embed`, on a replica."""
        return np.asarray(self._call("embed", samples, masks), dtype=np.float32)

    def diarize(self, samples: npt.NDArray[np.float32], speakers: SpeakerCount | None = None) -> Diarization:
        """As :meth:`~voicestream.diarize.live.SpeakerModels.diarize`, on a replica."""
        result: Diarization = self._call("diarize", samples, speakers)
        return result

    def _retried(self) -> None:
        self.retries += 1

    def _call(self, method: str, *args: Any) -> Any:
        return calls.call(self.handle, method, args, "speaker", self.retry_for_s, self._retried)
