"""The masked-probe embedding adapter: exact gradients, learning on a synthetic task, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.vision.masked.adapter import DIM, AdapterSettings, MaskedProbeAdapter


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    adapter = MaskedProbeAdapter(2 * DIM, AdapterSettings(hidden=8))
    for k in adapter.params:
        adapter.params[k] = adapter.params[k].astype(np.float64)  # type: ignore[assignment]
    adapter.params["w2"] = rng.standard_normal(adapter.params["w2"].shape) * 0.1
    x = rng.standard_normal((6, 2 * DIM))
    u = rng.standard_normal((6, DIM))
    ids = np.array([0, 0, 1, 2, 3, 3])
    _, grads = adapter._loss_and_grads(x, u, ids)
    eps = 1e-6
    for name, index in (
        ("w0", (700, 3)),
        ("w0", (2, 2)),
        ("w1", (3, 2)),
        ("b1", (5,)),
        ("w2", (1, 7)),
        ("b2", (9,)),
        ("g", (4, 4)),
        ("g", (2, 11)),
    ):
        p = adapter.params[name]
        old = p[index]
        p[index] = old + eps
        up, _ = adapter._loss_and_grads(x, u, ids)
        p[index] = old - eps
        down, _ = adapter._loss_and_grads(x, u, ids)
        p[index] = old
        assert np.isclose(grads[name][index], (up - down) / (2 * eps), rtol=1e-3, atol=1e-7), name


def _synthetic(
    n_people: int, per: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People as random unit vectors; the 'masked' view keeps a weak, distorted trace of the identity under a
    strong shared 'mask' direction (masked impostors look alike)."""
    centres = _unit(rng.standard_normal((n_people, DIM)))
    ids = np.repeat(np.arange(n_people), per)
    plain = _unit(centres[ids] + 0.5 * _unit(rng.standard_normal((len(ids), DIM))))
    mask_dir = _unit(rng.standard_normal(DIM))
    mix = np.linalg.qr(np.random.default_rng(99).standard_normal((DIM, DIM)))[0].astype(np.float32)
    masked = _unit(0.3 * plain @ mix + 1.0 * mask_dir + 0.1 * _unit(rng.standard_normal((len(ids), DIM))))
    upper = _unit(0.3 * plain + _unit(rng.standard_normal((len(ids), DIM))))
    return np.hstack([masked, upper]), plain, ids


def _rank1(probe: np.ndarray, gallery: np.ndarray, ids: np.ndarray) -> float:
    """Share of probes whose most similar gallery entry (other than their own image) is their person."""
    s = probe @ gallery.T
    np.fill_diagonal(s, -np.inf)
    return float((ids[np.argmax(s, axis=1)] == ids).mean())


@pytest.mark.slow
def test_training_finds_the_identity_under_the_mask() -> None:
    x, u, ids = _synthetic(150, 4, np.random.default_rng(3))
    xt, ut, idt = _synthetic(50, 2, np.random.default_rng(4))  # people never seen in training
    before = _rank1(_unit(xt[:, :DIM]), ut, idt)
    adapter = MaskedProbeAdapter(2 * DIM, AdapterSettings(hidden=64, epochs=40, batch=100, lr=3e-3))
    losses = adapter.fit(x, u, ids)
    assert losses[-1] < 0.8 * losses[0]
    after = _rank1(adapter.probe(xt), adapter.gallery(ut), idt)
    assert after > before + 0.15


def test_save_and_load_give_the_same_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    adapter = MaskedProbeAdapter(2 * DIM, AdapterSettings(hidden=16))
    adapter.params["w2"] += rng.standard_normal(adapter.params["w2"].shape).astype(np.float32)
    adapter.save(tmp_path / "a.npz")
    other = MaskedProbeAdapter.load(tmp_path / "a.npz")
    x = rng.standard_normal((4, 2 * DIM)).astype(np.float32)
    assert np.allclose(adapter.probe(x), other.probe(x))
    assert np.allclose(adapter.gallery(x[:, :DIM]), other.gallery(x[:, :DIM]))
