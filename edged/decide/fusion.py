"""The identity evidence of one track on one embedding path: the embeddings taken so far, and which
person each one found first. The normalised mean of the newest ``k`` is what gets searched (one frame of
a stranger who happens to resemble somebody is averaged with the next), and the policy asks how many
of those ``k`` found that same person on their own. The newest, because the lane embeds a track's
frames as they get better (the person walks closer): the window holds the best frame and the frames
taken right after it to corroborate it, not the blurred far-away ones of the start."""

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

    def adopt(self, other: TrackIdentity, k: int) -> None:
        """Take the newest ``k`` embeddings of ``other`` (a track that split) as older than this one's."""
        self.vectors = other.vectors[-k:] + self.vectors
        self.firsts = other.firsts[-k:] + self.firsts

    def mean(self, k: int) -> np.ndarray:
        """The fused embedding: mean of the newest ``k`` normalised embeddings, normalised again."""
        m = np.mean(np.stack(self.vectors[-k:]), axis=0)
        return (m / max(float(np.linalg.norm(m)), 1e-12)).astype(np.float32)

    def agreeing(self, person_id: str, k: int) -> int:
        """How many of the newest ``k`` embeddings found ``person_id`` first on their own."""
        return sum(1 for p in self.firsts[-k:] if p == person_id)
