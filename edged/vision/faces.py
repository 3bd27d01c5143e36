"""Typed face records: what the pipeline says about each face in a frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Quality:
    face_px: float  # width of the detector box in pixels
    sharpness: float  # variance of the Laplacian on the aligned grey crop
    yaw_deg: float
    pitch_deg: float
    reasons: list[str] = field(default_factory=list)  # empty = good enough to identify

    @property
    def ok(self) -> bool:
        return not self.reasons

    def score(self) -> float:
        """A single number to pick the best frame of a track (bigger is better)."""
        pose = max(0.0, 1.0 - (abs(self.yaw_deg) + abs(self.pitch_deg)) / 90.0)
        return float(min(self.face_px, 200.0) / 200.0 * pose * min(self.sharpness, 300.0) / 300.0)


@dataclass
class MaskState:
    state: str  # "mask" | "no_mask" | "incorrect"
    score: float  # probability of that state

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "score": round(self.score, 4)}


@dataclass
class Face:
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in frame pixels
    score: float  # detector confidence
    landmarks: np.ndarray | None = None  # (68, 2) frame pixels, iBUG order
    points5: np.ndarray | None = None  # (5, 2) left eye, right eye, nose tip, mouth left, mouth right
    aligned: np.ndarray | None = None  # (112, 112, 3) BGR uint8, similarity-aligned
    quality: Quality | None = None
    liveness: float | None = None  # probability that the face is a live person (RGB model)
    mask: MaskState | None = None
    embedding: np.ndarray | None = None  # (512,) float32, L2-normalised
    embedded_by: str | None = None  # "embedder", or "masked_head" for a face the mask classifier calls masked

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    def to_json(self, *, with_embedding: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
        }
        if self.landmarks is not None:
            out["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks]
        if self.quality is not None:
            q = self.quality
            out["quality"] = {
                "ok": q.ok,
                "face_px": round(q.face_px, 1),
                "sharpness": round(q.sharpness, 1),
                "yaw_deg": round(q.yaw_deg, 1),
                "pitch_deg": round(q.pitch_deg, 1),
                "reasons": list(q.reasons),
            }
        if self.liveness is not None:
            out["liveness"] = round(float(self.liveness), 4)
        if self.mask is not None:
            out["mask"] = self.mask.to_json()
        if self.embedded_by is not None:
            out["embedded_by"] = self.embedded_by
        if with_embedding and self.embedding is not None:
            out["embedding"] = [round(float(v), 6) for v in self.embedding]
        return out
