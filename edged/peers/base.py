"""What every benchmarked pipeline offers: detection on a frame, and (where it can) the embedding of the
face an identity check would use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass
class Detection:
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in frame pixels, in the detector's own convention
    score: float


class Pipeline(ABC):
    name: str
    describe: str  # one line for the report: detector, embedder, settings
    can_embed: bool
    # Similarity at or above which two faces match, used only when a run has a single LFW fold and so no
    # other folds to choose a threshold on. Scores are similarities: bigger means more alike.
    match_threshold: float | None = None

    @abstractmethod
    def detect(self, bgr: np.ndarray) -> list[Detection]:
        """Every face in a BGR frame."""

    def identify(self, bgr: np.ndarray) -> np.ndarray | None:
        """Embedding of the central face (LFW centres the named person), ``None`` when no face is found."""
        raise NotImplementedError(f"{self.name} has no embedder")

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the pipeline holds."""


def central(boxes: list[np.ndarray], w: int, h: int) -> int | None:
    """Index of the box whose centre is nearest the image centre."""
    if not boxes:
        return None
    centre = np.array([w / 2.0, h / 2.0])
    dists = [float(np.linalg.norm((b[:2] + b[2:]) / 2.0 - centre)) for b in boxes]
    return int(np.argmin(dists))
