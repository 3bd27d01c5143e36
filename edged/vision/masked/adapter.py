"""Embedding adapter for masked probes: maps what the embedder says about a masked face (full crop and upper
face) into the space of unmasked embeddings, so a masked probe can be compared with unmasked templates.

A linear map plus a one-hidden-layer network (the linear part starts as "take the masked embedding as it
is"), and a linear map on the gallery side, trained with a contrastive (InfoNCE) loss: a masked face must
land closer to the unmasked
embeddings of its own person than to any other person's in the batch. Masked impostors look alike,
and this loss is what pushes them apart. Plain numpy (forward, backward, Adam): no training framework
at run time, and small enough to train per LFW fold inside the evaluation command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 512


def _normalise(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v / norm, norm


@dataclass
class AdapterSettings:
    hidden: int = 256
    epochs: int = 15
    batch: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.05
    seed: int = 7


class MaskedProbeAdapter:
    def __init__(self, in_dim: int, settings: AdapterSettings | None = None):
        self.settings = settings or AdapterSettings()
        rng = np.random.default_rng(self.settings.seed)
        h = self.settings.hidden
        w0 = np.zeros((in_dim, DIM), np.float32)
        w0[:DIM] = np.eye(DIM, dtype=np.float32)
        self.params: dict[str, np.ndarray] = {
            "w0": w0,
            "w1": (rng.standard_normal((in_dim, h)) * np.sqrt(2.0 / in_dim)).astype(np.float32),
            "b1": np.zeros(h, np.float32),
            "w2": (rng.standard_normal((h, DIM)) * 0.01).astype(np.float32),
            "b2": np.zeros(DIM, np.float32),
            "g": np.eye(DIM, dtype=np.float32),
        }

    # inference -----------------------------------------------------------------------------------------
    def probe(self, masked_features: np.ndarray) -> np.ndarray:
        """(N, in_dim) features of masked probes (masked embedding first) → (N, 512) unit vectors."""
        x = np.asarray(masked_features, np.float32)
        p = self.params
        hidden = np.maximum(x @ p["w1"] + p["b1"], 0)
        return _normalise(x @ p["w0"] + hidden @ p["w2"] + p["b2"])[0]

    def gallery(self, plain: np.ndarray) -> np.ndarray:
        """(N, 512) unmasked template embeddings → the space masked probes are compared in."""
        return _normalise(np.asarray(plain, np.float32) @ self.params["g"])[0]

    def save(self, path: Path) -> None:
        np.savez(path, **self.params)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> MaskedProbeAdapter:
        with np.load(path) as z:
            adapter = cls(z["w1"].shape[0], AdapterSettings(hidden=z["w1"].shape[1]))
            adapter.params = {k: z[k].astype(np.float32) for k in adapter.params}
        return adapter

    # training ------------------------------------------------------------------------------------------
    def fit(self, masked_features: np.ndarray, plain: np.ndarray, identity: np.ndarray) -> list[float]:
        """Train on images of known identity: ``masked_features[i]`` and ``plain[i]`` are the same image
        with and without its synthetic mask. Returns the mean loss per epoch."""
        s = self.settings
        rng = np.random.default_rng(s.seed)
        x_all = np.asarray(masked_features, np.float32)
        u_all = np.asarray(plain, np.float32)
        ids = np.asarray(identity)
        m = {k: np.zeros_like(v) for k, v in self.params.items()}
        v2 = {k: np.zeros_like(v) for k, v in self.params.items()}
        step, losses = 0, []
        n = len(x_all)
        for _ in range(s.epochs):
            order = rng.permutation(n)
            total, batches = 0.0, 0
            for start in range(0, n - s.batch // 4, s.batch):
                b = order[start : start + s.batch]
                loss, grads = self._loss_and_grads(x_all[b], u_all[b], ids[b])
                step += 1
                for k, grad in grads.items():
                    if k in ("w1", "w2"):
                        grad = grad + s.weight_decay * self.params[k]
                    m[k] = 0.9 * m[k] + 0.1 * grad
                    v2[k] = 0.999 * v2[k] + 0.001 * grad * grad
                    mhat = m[k] / (1 - 0.9**step)
                    vhat = v2[k] / (1 - 0.999**step)
                    self.params[k] -= (s.lr * mhat / (np.sqrt(vhat) + 1e-8)).astype(np.float32)
                total += loss
                batches += 1
            losses.append(total / max(batches, 1))
        return losses

    def _loss_and_grads(
        self, x: np.ndarray, u: np.ndarray, ids: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        p = self.params
        tau = self.settings.temperature
        pre = x @ p["w1"] + p["b1"]
        hidden = np.maximum(pre, 0)
        z = x @ p["w0"] + hidden @ p["w2"] + p["b2"]
        zn, z_norm = _normalise(z)
        v = u @ p["g"]
        vn, v_norm = _normalise(v)
        logits = zn @ vn.T / tau
        positive = ids[:, None] == ids[None, :]
        n = len(x)

        def side(lg: np.ndarray) -> tuple[float, np.ndarray]:
            lg = lg - lg.max(axis=1, keepdims=True)
            e = np.exp(lg)
            prob = e / e.sum(axis=1, keepdims=True)
            pos = e * positive
            pos_sum = pos.sum(axis=1, keepdims=True)
            loss = float(-np.log(pos_sum[:, 0] / e.sum(axis=1)).mean())
            return loss, (prob - pos / pos_sum) / n

        loss_r, d_rows = side(logits)
        loss_c, d_cols = side(logits.T)
        d_logits = (d_rows + d_cols.T) / (2 * tau)
        d_zn = d_logits @ vn
        d_vn = d_logits.T @ zn
        d_z = (d_zn - zn * (d_zn * zn).sum(axis=1, keepdims=True)) / z_norm
        d_v = (d_vn - vn * (d_vn * vn).sum(axis=1, keepdims=True)) / v_norm
        d_hidden = (d_z @ p["w2"].T) * (pre > 0)
        grads = {
            "w0": x.T @ d_z,
            "w1": x.T @ d_hidden,
            "b1": d_hidden.sum(axis=0),
            "w2": hidden.T @ d_z,
            "b2": d_z.sum(axis=0),
            "g": u.T @ d_v,
        }
        return (loss_r + loss_c) / 2, grads
