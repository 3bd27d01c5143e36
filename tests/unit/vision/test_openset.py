"""The open-set figures on synthetic embeddings, each against a brute-force count or a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from edged.identity.operating_point import threshold_for_fpir
from edged.vision import lfw
from edged.vision import openset as os_


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def people(n_ids: int, per: int, dim: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per`` images of each of ``n_ids`` people: a centre per person plus noise of size ``spread``."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n_ids, dim)))
    ident = np.repeat(np.arange(n_ids), per)
    return unit(centres[ident] + spread * rng.standard_normal((len(ident), dim))), ident


def brute(emb: np.ndarray, ident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = emb @ emb.T
    i, j = np.triu_indices(len(emb), 1)
    same = ident[i] == ident[j]
    return s[i, j][same], s[i, j][~same]


def test_cross_pairs_counts_every_pair_once_and_keeps_the_highest_impostors() -> None:
    emb, ident = people(40, 3, 16, 0.6, seed=1)
    gen, imp = brute(emb, ident)
    ps = os_.cross_pairs(emb, ident, keep_far=0.05)
    assert ps.impostor_pairs == len(imp) and len(ps.genuine) == len(gen)
    assert ps.hist.sum() == len(imp)
    np.testing.assert_allclose(np.sort(ps.genuine), np.sort(gen), atol=1e-5)
    keep = int(np.ceil(0.05 * len(imp)))
    np.testing.assert_allclose(ps.top, np.sort(imp)[::-1][:keep], atol=1e-5)
    # the tail is the share of impostor pairs at or above each threshold (edges away from the scores)
    tail = ps.tail(start_far=0.5)
    for t, f in zip(tail.thresholds[::7], tail.far[::7], strict=False):
        assert f == pytest.approx((imp >= t - 1e-7).mean(), abs=2 / len(imp))


def test_cross_pairs_across_two_sets_skip_an_image_with_itself_and_use_each_probes_threshold() -> None:
    emb, ident = people(20, 3, 16, 0.6, seed=2)
    rng = np.random.default_rng(3)
    probe = unit(emb + 0.3 * rng.standard_normal(emb.shape))  # "masked" versions of the same images
    offset = np.where(np.arange(len(emb)) % 2 == 0, 0.3, 0.4).astype(np.float32)
    ps = os_.cross_pairs(emb, ident, probe=probe, probe_id=ident, probe_offset=offset, probe_image=None)
    s = probe @ emb.T - offset[:, None]
    not_self = ~np.eye(len(emb), dtype=bool)
    same = ident[:, None] == ident[None, :]
    assert ps.impostor_pairs == int((~same).sum())
    np.testing.assert_allclose(np.sort(ps.genuine), np.sort(s[same & not_self]), atol=1e-5)
    assert ps.top[0] == pytest.approx(s[~same].max(), abs=1e-5)


def test_tar_at_far_follows_the_lfw_rule() -> None:
    emb, ident = people(150, 3, 24, 0.9, seed=4)
    gen, imp = brute(emb, ident)
    ps = os_.cross_pairs(emb, ident, keep_far=0.02)
    scores = np.concatenate([gen, imp])
    same = np.concatenate([np.ones(len(gen), bool), np.zeros(len(imp), bool)])
    for far in (1e-2, 1e-3):
        tar, _ = lfw.tar_at_far(scores, same, far)
        got = os_.tar_at_far(ps, far)
        assert got["resolved"] and got["tar"] == pytest.approx(tar)
        lo, hi = got["interval"]
        assert lo <= got["tar"] <= hi
    # 1e-6 of ~100,000 impostor pairs is not a single pair: unresolved, not a number
    assert os_.tar_at_far(ps, 1e-6)["resolved"] is False
    assert os_.tar_at_far(ps, 1e-6)["tar"] is None


def test_search_finds_best_and_best_other() -> None:
    rng = np.random.default_rng(5)
    g, p = unit(rng.standard_normal((50, 8))), unit(rng.standard_normal((30, 8)))
    row, best, second = os_.search(g, p, block=7)
    s = p @ g.T
    order = np.sort(s, axis=1)
    np.testing.assert_array_equal(row, s.argmax(axis=1))
    np.testing.assert_allclose(best, order[:, -1], atol=1e-6)
    np.testing.assert_allclose(second, order[:, -2], atol=1e-6)


def trials(best: list[float], second: list[float], genuine: list[bool], correct: list[bool]) -> os_.Trials:
    n = len(best)
    return os_.Trials(
        gallery_size=10,
        ident=np.arange(n),
        genuine=np.array(genuine),
        correct=np.array(correct),
        best=np.array(best, np.float32),
        second=np.array(second, np.float32),
        offset=np.full(n, 0.5, np.float32),
    )


def test_rates_apply_threshold_and_margin_over_the_best_other() -> None:
    t = trials(
        best=[0.6, 0.55, 0.4, 0.7, 0.52, 0.9, 0.3],
        second=[0.3, 0.54, 0.1, 0.2, 0.5, 0.1, 0.1],
        genuine=[False, False, False, True, True, True, True],
        correct=[False, False, False, True, True, False, True],
    )
    r = os_.rates_at(t, t.offset, 0.0, 7, None)
    assert (r["fpir"], r["false_positives"]) == (pytest.approx(2 / 3), 2)
    assert r["fnir"] == pytest.approx(2 / 4)  # 0.9 went to someone else, 0.3 is below the threshold
    r = os_.rates_at(t, t.offset, 0.05, 7, None)  # 0.55 leads 0.54 by 0.01; 0.52 leads 0.50 by 0.02
    assert r["fpir"] == pytest.approx(1 / 3) and r["fnir"] == pytest.approx(3 / 4)


def test_fnir_at_fpir_sets_the_threshold_on_the_strangers() -> None:
    rng = np.random.default_rng(6)
    n_s, n_g = 5000, 1000
    best = np.concatenate([rng.normal(0.2, 0.08, n_s), rng.normal(0.6, 0.1, n_g)])
    t = os_.Trials(
        gallery_size=100,
        ident=np.arange(n_s + n_g),
        genuine=np.arange(n_s + n_g) >= n_s,
        correct=np.ones(n_s + n_g, bool),
        best=best.astype(np.float32),
        second=np.full(n_s + n_g, -1.0, np.float32),
        offset=np.zeros(n_s + n_g, np.float32),
    )
    got = os_.fnir_at_fpir(t, 1e-2, 0.0, n_s + n_g, None)
    d = got["shift"]
    assert (best[:n_s] >= d).sum() <= 50 < (best[:n_s] >= d - 1e-4).sum()  # lowest such threshold
    assert got["fnir"] == pytest.approx((best[n_s:] < d).mean())
    assert os_.fnir_at_fpir(t, 1e-3, 0.0, n_s + n_g, None)["resolved"] is False  # 5 strangers: too few


def test_identity_intervals_cover_a_known_truth_where_image_intervals_do_not() -> None:
    """Strangers come in people: all images of one person are accepted or none is (the worst case of
    look-alikes). The true FPIR is the mean acceptance probability, 0.025. Over 120 repeated experiments the
    interval from resampling identities covers it near its 95 %; resampling images (as if independent) is
    too narrow and covers it far less often."""
    rng = np.random.default_rng(7)
    truth = 0.025
    covered_id = covered_img = 0
    runs = 120
    for _ in range(runs):
        n_ids = 300
        per = 1 + rng.poisson(3, n_ids)
        hit_person = rng.random(n_ids) < truth
        ident = np.repeat(np.arange(n_ids), per)
        n = len(ident)
        t = os_.Trials(
            gallery_size=10,
            ident=ident,
            genuine=np.zeros(n, bool),
            correct=np.zeros(n, bool),
            best=np.where(hit_person[ident], 0.9, 0.1).astype(np.float32),
            second=np.full(n, -1.0, np.float32),
            offset=np.full(n, 0.5, np.float32),
        )
        w = os_.identity_draws(n_ids, 200, seed=int(rng.integers(1 << 30))).astype(float)
        lo, hi = os_.rates_at(t, t.offset, 0.0, n_ids, w)["fpir_interval"]
        covered_id += lo <= truth <= hi
        w_img = os_.identity_draws(n, 200, seed=int(rng.integers(1 << 30))).astype(float)
        t.ident = np.arange(n)
        lo, hi = os_.rates_at(t, t.offset, 0.0, n, w_img)["fpir_interval"]
        covered_img += lo <= truth <= hi
    assert covered_id / runs >= 0.88
    assert covered_img / runs < covered_id / runs - 0.1


def test_calibrated_threshold_predicts_the_measured_fpir() -> None:
    """Independent strangers: the tail from one set of impostor pairs, applied to a gallery of other people,
    gives the FPIR the independence model predicts."""
    rng = np.random.default_rng(8)
    dim = 24
    calib = unit(rng.standard_normal((800, dim)))
    tail = os_.cross_pairs(calib, np.arange(800)).tail(start_far=0.5)
    size, target = 50, 0.05
    choice = threshold_for_fpir(tail, size, target)
    gallery = unit(rng.standard_normal((size, dim)))
    strangers = unit(rng.standard_normal((20000, dim)))
    _, best, _ = os_.search(gallery, strangers)
    measured = float((best >= choice.threshold).mean())
    assert choice.resolved
    assert os_.predicted_fpir(tail, choice.threshold, size) == pytest.approx(target, rel=0.1)
    assert measured == pytest.approx(target, rel=0.25)
