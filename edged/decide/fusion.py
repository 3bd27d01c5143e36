"""The identity evidence of one track on one embedding path: every embedding taken so far, and which
person each one found first. Their normalised mean is what gets searched (one sharp frame of a stranger
who happens to resemble somebody is averaged with the others), and the policy asks how many frames
found that same person on their own."""

from __future__ import annotations

import numpy as np


class TrackIdentity:
    def __init__(self) -> None:
        self.vectors: list[np.ndarray] = []
        self.firsts: list[str] = []  # the best person of each embedding on its own

    @property
    def frames(self) -> int:
        return len(self.vectors)

    def add(self, embedding: np.ndarray, first: str) -> None:
        v = np.asarray(embedding, np.float32).reshape(-1)
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm < 1e-6:
            raise ValueError("embedding is empty, zero or not finite")
        self.vectors.append(v / norm)
        self.firsts.append(first)

    def mean(self) -> np.ndarray:
        """The fused embedding: mean of the normalised embeddings, normalised again."""
        m = np.mean(np.stack(self.vectors), axis=0)
        return (m / max(float(np.linalg.norm(m)), 1e-12)).astype(np.float32)

    def agreeing(self, person_id: str) -> int:
        """How many of the embeddings found ``person_id`` first on their own."""
        return sum(1 for p in self.firsts if p == person_id)
