"""Incremental speaker clustering for live streams. Sans-I/O: numpy in, labels out.

Each step brings the embeddings of the local speakers of one audio window. They are
matched to the session's speaker centroids under the constraint that two local
speakers are never the same global speaker (an optimal assignment on cosine
distance); a local speaker farther than ``new_speaker_distance`` from every free
centroid opens a new speaker while fewer than ``max_speakers`` exist. Memory is one
running sum per speaker, so it is bounded by ``max_speakers`` whatever the session's
length, and speaker ``k`` keeps its label for the whole session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True, slots=True)
class OnlineSettings:
    """Tuning of :class:`OnlineClustering`.

    Attributes:
        new_speaker_distance: Cosine distance (0..2) beyond which an embedding is a new speaker.
        max_speakers: Most speakers a session can have; later voices join the nearest.
        update_weight_cap: A centroid's running sum is rescaled to at most this much
            weight (s of speech), so a speaker's voice can drift slowly (a cold, a new mic).
        min_new_weight: Least weight (s of clean speech) that may open a new speaker;
            less joins the nearest existing one.
        min_update_weight: Least weight (s) that moves a centroid (short snippets give
            noisy embeddings).
    """

    new_speaker_distance: float = 0.5
    max_speakers: int = 8
    update_weight_cap: float = 60.0
    min_new_weight: float = 1.5
    min_update_weight: float = 1.0


class OnlineClustering:
    """Session-long speaker centroids; see the module docstring."""

    def __init__(self, settings: OnlineSettings | None = None) -> None:
        self.settings = settings or OnlineSettings()
        self._sums: list[npt.NDArray[np.float64]] = []
        self._weights: list[float] = []

    @property
    def num_speakers(self) -> int:
        """Speakers seen so far."""
        return len(self._sums)

    def centroids(self) -> npt.NDArray[np.float64]:
        """Unit-norm centroids ``(num_speakers, dimension)``."""
        if not self._sums:
            return np.zeros((0, 0))
        stacked = np.stack(self._sums)
        unit: npt.NDArray[np.float64] = stacked / np.maximum(np.linalg.norm(stacked, axis=1, keepdims=True), 1e-12)
        return unit

    def assign(
        self, embeddings: npt.NDArray[np.floating], weights: npt.NDArray[np.floating] | None = None
    ) -> list[int]:
        """Global speaker index for each row of ``embeddings`` ``(k, dimension)``; ``weights``
        ``(k,)`` (seconds of clean speech behind each) scale their centroid updates."""
        k = embeddings.shape[0]
        if k == 0:
            return []
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        weight = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
        labels = [-1] * k
        if self._sums:
            distance = 1.0 - unit @ self.centroids().T  # (k, num_speakers)
            rows, cols = linear_sum_assignment(distance)
            for r, c in zip(rows, cols, strict=True):
                if distance[r, c] <= self.settings.new_speaker_distance:
                    labels[r] = int(c)
        for r in np.argsort(-weight):  # the best-supported new voices first
            if labels[r] >= 0:
                continue
            if self.num_speakers < self.settings.max_speakers and (
                weight[r] >= self.settings.min_new_weight or not self._sums
            ):
                self._sums.append(np.zeros(unit.shape[1]))
                self._weights.append(0.0)
                labels[r] = self.num_speakers - 1
            else:  # full, or too little speech to be sure: the nearest speaker not taken in this window
                taken = set(labels)
                distance = 1.0 - self.centroids() @ unit[r]
                free = [c for c in np.argsort(distance) if int(c) not in taken]
                labels[r] = int(free[0]) if free else int(np.argmin(distance))
        for r, c in enumerate(labels):
            if weight[r] >= self.settings.min_update_weight or self._weights[c] == 0.0:
                self._update(c, unit[r], float(weight[r]))
        return labels

    def _update(self, speaker: int, unit: npt.NDArray[np.floating], weight: float) -> None:
        total = self._weights[speaker] + weight
        scale = min(1.0, self.settings.update_weight_cap / total) if total > 0 else 1.0
        self._sums[speaker] = (self._sums[speaker] + weight * unit) * scale
        self._weights[speaker] = total * scale
