"""Skin→oral models and their cross-validated evaluation on the PhysioNet facial/oral temperature data.

Two estimators are compared per camera:

* ``offset``: the constant skin→oral offset on one site (the face maximum by default), the method the
  literature recommends for a single reading and the one the daemon applies at run time;
* ``regression``: a Huber-loss ridge regression over every facial reading of the data set, ambient temperature,
  humidity, distance and the squares of the face and canthus maxima.

The alarm threshold on the estimated oral temperature is chosen inside each training fold, from out-of-fold
predictions of an inner cross-validation, as the highest value that still flags ``target_sensitivity`` of
the training fevers; the test fold never influences it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edged.thermal.physionet import FacialOralData

Predictor = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, np.ndarray], Predictor]

FEVER_C = 37.5
_SQUARED = ("T_Max", "canthiMax")
_DISTANCE_RANGE_M = (0.2, 3.0)  # the data set has at least one entry in cm (79); such values are imputed


def regression_features(data: FacialOralData) -> np.ndarray:
    distance = data.distance_m.copy()
    bad = np.isnan(distance) | (distance < _DISTANCE_RANGE_M[0]) | (distance > _DISTANCE_RANGE_M[1])
    distance[bad] = float(np.median(distance[~bad]))
    squares = [(data.reading(name) - 36.0) ** 2 for name in _SQUARED]
    return np.column_stack([data.readings, data.ambient_c, data.humidity, distance, *squares])


def fit_huber_ridge(lam: float = 10.0, delta_c: float = 0.2, iterations: int = 30) -> Fitter:
    """Ridge regression on standardised features with a Huber loss (IRLS), robust to the data set's outliers."""

    def fit(x: np.ndarray, y: np.ndarray) -> Predictor:
        mean = x.mean(axis=0)
        scale = x.std(axis=0) + 1e-9
        design = np.column_stack([np.ones(len(x)), (x - mean) / scale])
        penalty = lam * np.eye(design.shape[1])
        penalty[0, 0] = 0.0
        weights = np.ones(len(y))
        coef = np.zeros(design.shape[1])
        for _ in range(iterations):
            weighted = design * weights[:, None]
            coef = np.linalg.solve(weighted.T @ design + penalty, weighted.T @ y)
            residual = np.abs(y - design @ coef)
            weights = np.where(residual <= delta_c, 1.0, delta_c / np.maximum(residual, 1e-9))

        def predict(xn: np.ndarray) -> np.ndarray:
            return np.asarray(np.column_stack([np.ones(len(xn)), (xn - mean) / scale]) @ coef)

        return predict

    return fit


def fit_constant_offset(x: np.ndarray, y: np.ndarray) -> Predictor:
    """Oral = site + c, c the median training difference (``x`` has one column: the site reading)."""
    offset = float(np.median(y - x[:, 0]))
    return lambda xn: np.asarray(xn[:, 0] + offset)


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def threshold_for_sensitivity(scores: np.ndarray, fever: np.ndarray, target: float) -> float:
    """Highest threshold t such that ``scores >= t`` flags at least ``target`` of the fevers."""
    positives = np.sort(scores[fever])
    if len(positives) == 0:
        raise ValueError("no fever cases in the training fold: cannot choose a threshold")
    misses_allowed = int(np.floor((1.0 - target) * len(positives) + 1e-9))
    return float(positives[misses_allowed])


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
    fitter: Fitter,
    x: np.ndarray,
    oral_c: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    target_sensitivity: float = 0.95,
    fever_c: float = FEVER_C,
) -> CvResult:
    """k-fold CV of an oral estimator; the alarm threshold of each fold comes from its training part only."""
    n = len(oral_c)
    fever = oral_c >= fever_c
    estimate = np.zeros(n)
    flagged = np.zeros(n, dtype=bool)
    thresholds: list[float] = []
    for test in _folds(n, folds, seed):
        train = np.setdiff1d(np.arange(n), test)
        estimate[test] = fitter(x[train], oral_c[train])(x[test])
        inner = _out_of_fold(fitter, x[train], oral_c[train], folds, seed + 1)
        threshold = threshold_for_sensitivity(inner, fever[train], target_sensitivity)
        thresholds.append(threshold)
        flagged[test] = estimate[test] >= threshold
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


def site_offsets(data: FacialOralData) -> dict[str, float]:
    """Constant skin→oral offsets per measurement site, fitted on all of ``data`` (for the config)."""
    sites = {"inner_canthus": "canthiMax", "face_max": "T_Max", "forehead": "T_FH_Max"}
    return {site: round(float(np.median(data.oral_c - data.reading(col))), 3) for site, col in sites.items()}


def evaluate_camera(
    data: FacialOralData, folds: int = 5, seed: int = 0, target_sensitivity: float = 0.95
) -> dict[str, object]:
    """Both estimators on one camera; the regression is the headline (its figures are at the top level)."""
    regression = cross_validate(
        fit_huber_ridge(), regression_features(data), data.oral_c, folds, seed, target_sensitivity
    )
    offset = cross_validate(
        fit_constant_offset, data.reading("T_Max")[:, None], data.oral_c, folds, seed, target_sensitivity
    )
    out: dict[str, object] = {"model": "regression", **regression.as_dict()}
    out["offset_face_max"] = offset.as_dict()
    out["site_offsets_c"] = site_offsets(data)
    return out
