"""LFW View 2: the pairs file and the standard 10-fold protocol; and View 1, the development view.

Accuracy: for each test fold, the threshold that maximises accuracy on the other nine folds is applied
to the test fold; we report the mean and standard deviation over the test folds. TAR at FAR: over all
evaluated pairs pooled, the lowest threshold whose false-accept rate on the impostor pairs is at most
the target, and the fraction of genuine pairs accepted there, with a bootstrap interval for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FARS = (0.01, 0.001)
INTERVAL_LEVEL = 0.95
INTERVAL_RESAMPLES = 1000
INTERVAL_SEED = 20261129  # fixed, so that a rerun prints the same interval


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int


class LfwError(Exception):
    pass


def _image(root: Path, name: str, index: str) -> Path:
    return root / "lfw-deepfunneled" / name / f"{name}_{int(index):04d}.jpg"


def _pair(data_dir: Path, parts: list[str], fold: int) -> Pair | None:
    """``Name i j`` (same person) or ``Name1 i Name2 j`` (different); ``None`` for any other field count."""
    if len(parts) == 3:
        return Pair(_image(data_dir, parts[0], parts[1]), _image(data_dir, parts[0], parts[2]), True, fold)
    if len(parts) == 4:
        return Pair(_image(data_dir, parts[0], parts[1]), _image(data_dir, parts[2], parts[3]), False, fold)
    return None


def read_pairs(data_dir: Path) -> list[Pair]:
    path = Path(data_dir) / "pairs.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise LfwError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        n_folds, per = (int(v) for v in lines[0].split())
    except (IndexError, ValueError):
        raise LfwError(f"{path}:1: expected '<folds> <pairs per class>'") from None
    pairs: list[Pair] = []
    for i, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if not parts:
            continue
        pair = _pair(data_dir, parts, len(pairs) // (2 * per))
        if pair is None:
            raise LfwError(f"{path}:{i}: expected 3 or 4 fields, got {len(parts)}")
        pairs.append(pair)
    if len(pairs) != n_folds * 2 * per:
        raise LfwError(f"{path}: expected {n_folds * 2 * per} pairs, found {len(pairs)}")
    return pairs


DEV_FILES = ("pairsDevTrain.txt", "pairsDevTest.txt")


def read_dev_pairs(data_dir: Path, name: str) -> list[Pair]:
    """One View 1 file: ``<n>``, then n same-person pairs, then n different-person pairs (fold 0)."""
    path = Path(data_dir) / name
    try:
        lines = [line.split() for line in path.read_text().splitlines()]
    except OSError as exc:
        raise LfwError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        per = int(lines[0][0])
    except (IndexError, ValueError):
        raise LfwError(f"{path}:1: expected '<pairs per class>'") from None
    pairs: list[Pair] = []
    for i, parts in enumerate(lines[1:], start=2):
        if not parts:
            continue
        pair = _pair(data_dir, parts, 0)
        if pair is None or pair.same != (len(pairs) < per):
            raise LfwError(
                f"{path}:{i}: expected {per} same pairs (3 fields) then {per} different (4 fields)"
            )
        pairs.append(pair)
    if len(pairs) != 2 * per:
        raise LfwError(f"{path}: expected {2 * per} pairs, found {len(pairs)}")
    return pairs


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy (score >= t means same); midpoints between sorted scores."""
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # accepting everything from index i upwards: correct = genuines at/after i + impostors before i
    gen_after = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    imp_before = np.concatenate([[0], np.cumsum(~y)])
    correct = gen_after + imp_before
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the lowest threshold with false accepts <= far × impostors."""
    imp = np.sort(scores[~same])[::-1]
    gen = scores[same]
    if len(imp) == 0 or len(gen) == 0:
        return float("nan"), float("nan")
    threshold = float(_far_threshold(imp, far))
    return float((gen >= threshold).mean()), threshold


def _far_threshold(imp_desc: np.ndarray, far: float) -> np.ndarray:
    """The lowest threshold with false accepts <= far × impostors, from impostor scores sorted high to low
    along the last axis (one row, or one row per bootstrap draw)."""
    n = imp_desc.shape[-1]
    allowed = int(np.floor(far * n))
    return imp_desc[..., allowed] + 1e-9 if allowed < n else imp_desc[..., -1]


def tar_interval(
    scores: np.ndarray,
    same: np.ndarray,
    far: float,
    *,
    resamples: int = INTERVAL_RESAMPLES,
    seed: int = INTERVAL_SEED,
    level: float = INTERVAL_LEVEL,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``tar_at_far``: genuine and impostor pairs are drawn again with
    replacement (each set keeping its size) and the threshold is re-chosen on every draw's impostors.

    At FAR 1e-3 over LFW's 3,000 impostors the threshold is the third-highest impostor score, so a few
    pairs decide it; this says how far the figure could move with other pairs of the same kind. It treats
    pairs as independent (LFW's people recur within a fold) and holds the model fixed, so it covers the
    pairs' sampling and not training noise (another seed, another head)."""
    imp, gen = scores[~same], scores[same]
    if len(imp) == 0 or len(gen) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    imp_draws = -np.sort(-imp[rng.integers(0, len(imp), (resamples, len(imp)))], axis=1)
    thresholds = _far_threshold(imp_draws, far)
    gen_draws = gen[rng.integers(0, len(gen), (resamples, len(gen)))]
    tars = (gen_draws >= thresholds[:, None]).mean(axis=1)
    low, high = np.quantile(tars, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def evaluate(
    scores: np.ndarray,
    same: np.ndarray,
    folds: np.ndarray,
    test_folds: Iterable[int] | None = None,
    fixed_threshold: float | None = None,
) -> dict:
    """Accuracy per test fold with the threshold chosen on all other folds; TAR at FAR pooled over the
    test folds' pairs (with the thresholds that give that FAR on them). With a single fold there are no
    other folds: then ``fixed_threshold`` (chosen elsewhere) is required."""
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    folds = np.asarray(folds)
    all_folds = sorted(set(folds.tolist()))
    if len(all_folds) < 2 and fixed_threshold is None:
        raise ValueError("the threshold must come from other folds than the test fold, or be given")
    tests = list(all_folds if test_folds is None else test_folds)
    accs, thresholds = [], []
    for k in tests:
        test = folds == k
        if len(all_folds) > 1:
            t = best_threshold(scores[~test], same[~test])
        else:
            assert fixed_threshold is not None
            t = fixed_threshold
        accs.append(float(((scores[test] >= t) == same[test]).mean()))
        thresholds.append(t)
    out = fold_summary(accs, scores, same, np.isin(folds, tests))
    out["thresholds"] = thresholds
    out["threshold_source"] = (
        "the other folds" if len(all_folds) > 1 else "given (not tuned on the test fold)"
    )
    return out


def fold_summary(accs: list[float], scores: np.ndarray, same: np.ndarray, tested: np.ndarray) -> dict:
    """Mean and spread of the per-fold accuracies, and TAR at each FAR pooled over the ``tested`` pairs
    (scores ≥ threshold mean "same person") with its bootstrap interval (``tar_interval``)."""
    out: dict = {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "fold_accuracy": accs,
        "tar_at_far": {},
        "tar_at_far_interval": {},
        "tar_interval_level": INTERVAL_LEVEL,
        "far_thresholds": {},
    }
    pooled, pooled_same = scores[tested], same[tested]
    for far in FARS:
        tar, thr = tar_at_far(pooled, pooled_same, far)
        out["tar_at_far"][str(far)] = tar
        out["tar_at_far_interval"][str(far)] = list(tar_interval(pooled, pooled_same, far))
        out["far_thresholds"][str(far)] = thr
    return out
