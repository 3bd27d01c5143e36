"""``bench gallery --real``: the split of the people, the exact top-2 search, and the distractor fit."""

from __future__ import annotations

import numpy as np

from edged.identity import bench_real as br


def test_people_split_three_ways_without_overlap() -> None:
    rng = np.random.default_rng(0)
    ident = rng.integers(0, 200, 600)
    ident = np.unique(ident, return_inverse=True)[1]
    model, enrolled, strangers = br.split_people(ident, seed=1)
    n = int(ident.max()) + 1
    assert sorted(np.concatenate([model, enrolled, strangers]).tolist()) == list(range(n))
    counts = np.bincount(ident)
    assert (counts[enrolled] >= 2).all()


def test_top2_over_blocks_is_the_exact_top2() -> None:
    rng = np.random.default_rng(2)
    q = rng.standard_normal((40, 8)).astype(np.float32)
    g = rng.standard_normal((95, 8)).astype(np.float32)
    row, best, second = br._top2(q, iter([g[:1], g[1:30], g[30:]]))
    s = q @ g.T
    np.testing.assert_array_equal(row, s.argmax(axis=1))
    np.testing.assert_allclose(best, s.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(second, np.sort(s, axis=1)[:, -2], rtol=1e-5)


def test_distractor_fit_recovers_the_tail_of_data_drawn_from_the_model() -> None:
    """When the "real" faces are themselves drawn from the distractor family, the fitted distractors
    reproduce their impostor tail."""
    rng = np.random.default_rng(3)
    dim = 32
    truth = br.DistractorModel(
        mean=0.6 * rng.standard_normal(dim) / np.sqrt(dim),
        factor=np.eye(dim) / np.sqrt(dim),
        alpha=1.0,
        sigma=1.0,
    )
    real = truth.sample(6000, seed=5, chunk=0)
    fitted = br.DistractorModel.fit(real[:3000])
    target = br.upper_quantiles(real[3000:3300] @ real[:3000].T)
    own = real[:1500] @ real[:1500].T
    br.fit_spread(
        fitted,
        real[3000:],
        target,
        seed=7,
        distinct=br.upper_quantiles(own[np.triu_indices(1500, 1)])["1e-3"] + 0.02,
    )
    got = br.upper_quantiles(real[3000:3300] @ fitted.sample(3000, seed=8, chunk=0).T)
    for key in ("1e-2", "1e-3", "1e-4"):
        assert abs(got[key] - target[key]) < 0.03, (key, got, target)
