"""Skin→oral models and their cross-validated evaluation on the PhysioNet facial/oral temperature data.

Per camera, three things are fitted on each training fold and scored on its test fold:

* the **estimate** of oral temperature (MAE, bias): a Huber-loss ridge regression over every facial reading
  (mean over the measurement rounds), the maxima over rounds of face, canthus, mouth and forehead, ambient
  temperature, humidity, distance and the squares of the face and canthus maxima;
* the **alarm score**: the same features, ridge regression on the oral temperature clipped from below at
  ``ALARM_FLOOR_C``, so the fit spends its capacity on ranking the warm subjects instead of the bulk;
* the **baseline**: a constant skin→oral offset on the face maximum (the literature's single-site method,
  and what the daemon applies at run time).

The alarm threshold is chosen inside each training fold, from out-of-fold scores of an inner cross-
validation, as the (1 − ``target_sensitivity``) quantile of the training fevers' scores (Harrell–Davis:
the plain order statistic is biased towards too high a threshold at n ≈ 90); the test fold never
influences it. Results over several fold splits (``repeats``) show how much the figures move
with the split alone: with 111 fevers, one missed case is 0.9 % of sensitivity. Beside them, as a
reference and never as a result, the best single threshold chosen after the fact with the test labels
(``alarm_ceiling``) shows how much room any threshold rule has with the alarm score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edged.thermal.physionet import FacialOralData

Predictor = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, np.ndarray], Predictor]

FEVER_C = 37.5
ALARM_FLOOR_C = 37.0
_SQUARED = ("T_Max", "canthiMax")
_ROUND_MAXIMA = ("T_Max", "canthiMax", "T_OR_Max", "T_FH_Max")
CEILING_SENSITIVITIES = (0.95, 0.96, 0.97)
_DISTANCE_RANGE_M = (0.2, 3.0)  # the data set has at least one entry in cm (79); such values are imputed


def regression_features(data: FacialOralData) -> np.ndarray:
    distance = data.distance_m.copy()
    bad = np.isnan(distance) | (distance < _DISTANCE_RANGE_M[0]) | (distance > _DISTANCE_RANGE_M[1])
    distance[bad] = float(np.median(distance[~bad]))
    squares = [(data.reading(name) - 36.0) ** 2 for name in _SQUARED]
    maxima = [data.reading_max(name) for name in _ROUND_MAXIMA]
    return np.column_stack([data.readings, data.ambient_c, data.humidity, distance, *squares, *maxima])


def _standardise(x: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-9

    def design(xn: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(xn)), (xn - mean) / scale])

    return design(x), design


def fit_huber_ridge(lam: float = 10.0, delta_c: float = 0.2, iterations: int = 30) -> Fitter:
    """Ridge regression on standardised features with a Huber loss (IRLS): robust to outlying subjects."""

    def fit(x: np.ndarray, y: np.ndarray) -> Predictor:
        design_x, design = _standardise(x)
        penalty = lam * np.eye(design_x.shape[1])
        penalty[0, 0] = 0.0
        weights = np.ones(len(y))
        coef = np.zeros(design_x.shape[1])
        for _ in range(iterations):
            weighted = design_x * weights[:, None]
            new = np.linalg.solve(weighted.T @ design_x + penalty, weighted.T @ y)
            converged = bool(np.abs(new - coef).max() < 1e-7)
            coef = new
            if converged:
                break
            residual = np.abs(y - design_x @ coef)
            weights = np.where(residual <= delta_c, 1.0, delta_c / np.maximum(residual, 1e-9))
        return lambda xn: np.asarray(design(xn) @ coef)

    return fit


def fit_floored_ridge(lam: float = 3.0, floor_c: float = ALARM_FLOOR_C) -> Fitter:
    """Ridge regression on max(oral, floor): accurate above the floor, indifferent below it."""

    def fit(x: np.ndarray, y: np.ndarray) -> Predictor:
        design_x, design = _standardise(x)
        penalty = lam * np.eye(design_x.shape[1])
        penalty[0, 0] = 0.0
        coef = np.linalg.solve(design_x.T @ design_x + penalty, design_x.T @ np.maximum(y, floor_c))
        return lambda xn: np.asarray(design(xn) @ coef)

    return fit


def fit_constant_offset(x: np.ndarray, y: np.ndarray) -> Predictor:
    """Oral = site + c, c the median training difference (``x`` has one column: the site reading)."""
    offset = float(np.median(y - x[:, 0]))
    return lambda xn: np.asarray(xn[:, 0] + offset)


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def harrell_davis_quantile(values: np.ndarray, q: float, grid_points: int = 20001) -> float:
    """Harrell–Davis estimate of the ``q`` quantile: a Beta((n+1)q, (n+1)(1−q))-weighted mean of the order
    statistics. Far less variable than a single order statistic when n is small."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    if n == 1:
        return float(x[0])
    a, b = (n + 1) * q, (n + 1) * (1.0 - q)
    grid = np.linspace(0.0, 1.0, grid_points)[1:-1]
    log_pdf = (a - 1.0) * np.log(grid) + (b - 1.0) * np.log1p(-grid)
    cdf = np.concatenate([[0.0], np.cumsum(np.exp(log_pdf - log_pdf.max())), [np.nan]])
    cdf[-1] = cdf[-2]
    cdf /= cdf[-1]
    edges = np.interp(np.arange(n + 1) / n, np.linspace(0.0, 1.0, grid_points), cdf)
    return float(np.diff(edges) @ x)


def threshold_for_sensitivity(scores: np.ndarray, fever: np.ndarray, target: float) -> float:
    """The threshold t at which ``scores >= t`` is expected to flag ``target`` of the fevers: the
    (1 − target) quantile of the fever scores (Harrell–Davis)."""
    positives = scores[fever]
    if len(positives) == 0:
        raise ValueError("no fever cases in the training fold: cannot choose a threshold")
    return harrell_davis_quantile(positives, 1.0 - target)


def _out_of_fold(fitter: Fitter, x: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    pred = np.zeros(len(y))
    for test in _folds(len(y), k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        pred[test] = fitter(x[train], y[train])(x[test])
    return pred


@dataclass
class CvResult:
    n: int
    n_fever: int
    mae: float
    bias: float
    sensitivity: float
    specificity: float
    thresholds_c: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "n_fever": self.n_fever,
            "mae": round(self.mae, 4),
            "bias": round(self.bias, 4),
            "sensitivity": round(self.sensitivity, 4),
            "specificity": round(self.specificity, 4),
            "alarm_thresholds_c": [round(t, 3) for t in self.thresholds_c],
        }


def cross_validate(
    estimator: Fitter,
    x: np.ndarray,
    oral_c: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    target_sensitivity: float = 0.95,
    fever_c: float = FEVER_C,
    alarm: Fitter | None = None,
) -> CvResult:
    """k-fold CV: MAE/bias of ``estimator``; sensitivity/specificity of ``alarm`` (default: the estimator)
    against a threshold that each fold chooses from its own training part only."""
    alarm = alarm or estimator
    n = len(oral_c)
    fever = oral_c >= fever_c
    estimate = np.zeros(n)
    flagged = np.zeros(n, dtype=bool)
    thresholds: list[float] = []
    for test in _folds(n, folds, seed):
        train = np.setdiff1d(np.arange(n), test)
        estimate[test] = estimator(x[train], oral_c[train])(x[test])
        score = estimate[test] if alarm is estimator else alarm(x[train], oral_c[train])(x[test])
        inner = _out_of_fold(alarm, x[train], oral_c[train], folds, seed + 1)
        threshold = threshold_for_sensitivity(inner, fever[train], target_sensitivity)
        thresholds.append(threshold)
        flagged[test] = score >= threshold
    error = estimate - oral_c
    return CvResult(
        n=n,
        n_fever=int(fever.sum()),
        mae=float(np.abs(error).mean()),
        bias=float(error.mean()),
        sensitivity=float(flagged[fever].mean()),
        specificity=float((~flagged[~fever]).mean()),
        thresholds_c=thresholds,
    )


def specificity_at_sensitivity(
    scores: np.ndarray, fever: np.ndarray, sensitivity: float
) -> tuple[float, float]:
    """The highest threshold that flags at least ``sensitivity`` of the fevers (``scores >= t``), and the
    specificity there."""
    positives = np.sort(scores[fever])[::-1]
    if len(positives) == 0:
        raise ValueError("no fever cases: no sensitivity to reach")
    flagged = max(1, int(np.ceil(sensitivity * len(positives) - 1e-9)))
    threshold = float(positives[flagged - 1])
    return threshold, float((scores[~fever] < threshold).mean())


@dataclass
class Ceiling:
    """The best single threshold for an alarm score on one fold split, chosen with the test labels."""

    specificity: dict[float, float]  # sensitivity → specificity at the after-the-fact threshold
    missed_fevers_oral_c: list[float]  # fevers below that threshold at the first sensitivity

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": "chosen after the fact on the pooled out-of-fold scores: a reference, not a result",
            "specificity_at_sensitivity": {f"{k:g}": round(v, 4) for k, v in self.specificity.items()},
            "missed_fevers_oral_c": [round(v, 2) for v in self.missed_fevers_oral_c],
        }


def alarm_ceiling(
    alarm: Fitter,
    x: np.ndarray,
    oral_c: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    sensitivities: tuple[float, ...] = CEILING_SENSITIVITIES,
    fever_c: float = FEVER_C,
) -> Ceiling:
    """One threshold chosen after the fact, with the test labels, on the pooled out-of-fold scores of the same
    outer folds as ``cross_validate``: what a threshold rule could reach with this score if it knew the
    answers, so an honest rule (choosing inside the training folds) rarely beats it. When the fevers that
    even this threshold misses sit just above the cut, the readings, not the rule, are the limit."""
    scores = _out_of_fold(alarm, x, oral_c, folds, seed)
    fever = oral_c >= fever_c
    found = {target: specificity_at_sensitivity(scores, fever, target) for target in sensitivities}
    missed = fever & (scores < found[sensitivities[0]][0])
    return Ceiling({t: spec for t, (_, spec) in found.items()}, sorted(float(v) for v in oral_c[missed]))


def site_offsets(data: FacialOralData) -> dict[str, float]:
    """Constant skin→oral offsets per measurement site, fitted on all of ``data`` (for the config)."""
    sites = {"inner_canthus": "canthiMax", "face_max": "T_Max", "forehead": "T_FH_Max"}
    return {site: round(float(np.median(data.oral_c - data.reading(col))), 3) for site, col in sites.items()}


def evaluate_camera(
    data: FacialOralData, folds: int = 5, seed: int = 0, target_sensitivity: float = 0.95, repeats: int = 1
) -> dict[str, object]:
    """The model's figures at ``seed`` on top, the offset baseline, the alarm score's after-the-fact ceiling,
    and the spread over ``repeats`` splits."""
    x = regression_features(data)

    def model(s: int) -> CvResult:
        return cross_validate(
            fit_huber_ridge(), x, data.oral_c, folds, s, target_sensitivity, alarm=fit_floored_ridge()
        )

    def baseline(s: int) -> CvResult:
        site = data.reading("T_Max")[:, None]
        return cross_validate(fit_constant_offset, site, data.oral_c, folds, s, target_sensitivity)

    out: dict[str, object] = {"model": "huber_ridge_estimate+floored_ridge_alarm", **model(seed).as_dict()}
    out["offset_face_max"] = baseline(seed).as_dict()
    ceilings = [alarm_ceiling(fit_floored_ridge(), x, data.oral_c, folds, seed + r) for r in range(repeats)]
    out["ceiling"] = ceilings[0].as_dict()
    out["site_offsets_c"] = site_offsets(data)
    if repeats > 1:
        runs = [model(seed + r) for r in range(repeats)]
        first = CEILING_SENSITIVITIES[0]
        out["repeats"] = {
            "seeds": [seed + r for r in range(repeats)],
            "sensitivity": [round(r.sensitivity, 4) for r in runs],
            "specificity": [round(r.specificity, 4) for r in runs],
            "mae": [round(r.mae, 4) for r in runs],
            f"ceiling_specificity_at_{first:g}": [round(c.specificity[first], 4) for c in ceilings],
        }
    return out
