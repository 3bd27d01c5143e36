"""The bootstrap interval of TAR at FAR (edged.vision.lfw.tar_interval)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from edged.vision.lfw import fold_summary, tar_at_far, tar_interval

GENUINE, IMPOSTOR = NormalDist(0.5, 0.15), NormalDist(0.1, 0.1)


def _pairs(rng: np.random.Generator, genuine: int, impostor: int) -> tuple[np.ndarray, np.ndarray]:
    same = np.repeat([True, False], [genuine, impostor])
    scores = np.where(
        same,
        rng.normal(GENUINE.mean, GENUINE.stdev, len(same)),
        rng.normal(IMPOSTOR.mean, IMPOSTOR.stdev, len(same)),
    )
    return scores, same


def test_the_interval_covers_the_true_tar_about_as_often_as_it_says() -> None:
    """With the threshold re-chosen on each draw's impostors; resampling the genuine pairs alone against
    the sample's threshold covers it in 88 of these 100 draws."""
    far = 0.01
    true_tar = 1 - GENUINE.cdf(IMPOSTOR.inv_cdf(1 - far))
    rng = np.random.default_rng(5)
    covered = 0
    for draw in range(100):
        scores, same = _pairs(rng, 300, 1000)
        low, high = tar_interval(scores, same, far, resamples=400, seed=draw)
        covered += low <= true_tar <= high
    assert covered >= 93


def test_the_interval_brackets_the_figure_narrows_with_more_pairs_and_repeats() -> None:
    rng = np.random.default_rng(1)
    few, many = _pairs(rng, 3000, 3000), _pairs(rng, 30000, 30000)
    for far in (0.01, 0.001):
        tar, _ = tar_at_far(*few, far)
        low, high = tar_interval(*few, far)
        assert low <= tar <= high
        assert low < high
        assert tar_interval(*few, far) == (low, high)
        many_low, many_high = tar_interval(*many, far, resamples=200)
        assert many_high - many_low < (high - low) / 2


def test_separated_scores_give_a_point_and_no_impostors_give_nan() -> None:
    same = np.repeat([True, False], 50)
    scores = np.where(same, 0.9, 0.1)
    assert tar_interval(scores, same, 0.01) == (1.0, 1.0)
    assert all(math.isnan(x) for x in tar_interval(scores[same], same[same], 0.01))


def test_the_summary_carries_the_interval_per_far() -> None:
    scores, same = _pairs(np.random.default_rng(2), 500, 500)
    out = fold_summary([0.9], scores, same, np.ones(len(same), bool))
    assert out["tar_interval_level"] == 0.95
    assert set(out["tar_at_far_interval"]) == set(out["tar_at_far"]) == {"0.01", "0.001"}
    for far, (low, high) in out["tar_at_far_interval"].items():
        assert low <= out["tar_at_far"][far] <= high
