"""The operating point of a 1:N match: the similarity a probe must reach so that strangers are taken for
somebody at no more than a target rate (FPIR) against a gallery of N people.

A stranger is compared with all N enrolled people and is falsely identified if any comparison passes.
With a per-comparison false-accept rate ``far(t)`` at threshold ``t``, that happens with probability about
``1 - (1 - far(t))**N``. ``far`` comes from a calibration: the upper tail of impostor similarities measured
by ``edged eval openset`` (tens of millions of pairs) and written by ``edged calibrate threshold``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_CALIBRATION_BYTES = 1_000_000
MAX_TAIL_POINTS = 10_000


class CalibrationError(ValueError):
    """A calibration file that is missing, malformed, oversize or for another embedder."""


@dataclass(frozen=True)
class ImpostorTail:
    """Per-comparison false-accept rate at each threshold (thresholds ascending, rates non-increasing).

    ``pairs`` is how many impostor pairs were measured: no rate below ``1 / pairs`` is resolved.
    """

    thresholds: np.ndarray
    far: np.ndarray
    pairs: int

    def __post_init__(self) -> None:
        t, f = np.asarray(self.thresholds, float), np.asarray(self.far, float)
        if t.ndim != 1 or t.shape != f.shape or not 2 <= len(t) <= MAX_TAIL_POINTS:
            raise CalibrationError(f"an impostor tail needs 2..{MAX_TAIL_POINTS} (threshold, far) points")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(f))):
            raise CalibrationError("impostor tail: thresholds and rates must be finite")
        if np.any(np.diff(t) <= 0) or np.any(np.diff(f) > 0) or f.min() < 0 or f.max() > 1:
            raise CalibrationError("impostor tail: thresholds must ascend and rates (0..1) must not rise")
        if self.pairs < 1:
            raise CalibrationError("impostor tail: pairs must be at least 1")

    @property
    def resolution(self) -> float:
        """The smallest per-comparison rate this many pairs can show."""
        return 1.0 / self.pairs

    def far_at(self, threshold: float) -> float:
        """Interpolated in log(rate); below the first point the first rate, past the last point the last
        (the measurement says nothing smaller there, so the estimate stays conservative)."""
        t, f = self.thresholds, np.maximum(self.far, self.resolution * 1e-3)
        return float(np.exp(np.interp(threshold, t, np.log(f))))


def fpir(far: float, gallery_size: int) -> float:
    """Probability that a stranger passes at least one of ``gallery_size`` independent comparisons."""
    if gallery_size <= 0 or far <= 0.0:
        return 0.0
    if far >= 1.0:
        return 1.0
    return -math.expm1(gallery_size * math.log1p(-far))


def far_for_fpir(target_fpir: float, gallery_size: int) -> float:
    """The per-comparison rate that gives ``target_fpir`` against ``gallery_size`` people."""
    if not 0.0 < target_fpir < 1.0:
        raise ValueError(f"target FPIR must be in (0, 1), got {target_fpir}")
    return -math.expm1(math.log1p(-target_fpir) / max(gallery_size, 1))


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    predicted_fpir: float  # at this threshold and gallery size, from the tail
    resolved: bool  # False: the target lies below what the calibration's pairs can show


def threshold_for_fpir(tail: ImpostorTail, gallery_size: int, target_fpir: float) -> ThresholdChoice:
    """The lowest threshold whose predicted FPIR is at most ``target_fpir`` for this gallery size.

    When the target needs a rate finer than the calibration resolves, the threshold where the measured
    tail ends is returned with ``resolved=False``: the caller decides whether that is acceptable.
    """
    needed = far_for_fpir(target_fpir, gallery_size)
    resolved = needed >= tail.resolution
    t, f = tail.thresholds, tail.far
    ok = np.nonzero(f <= needed)[0]
    if len(ok) == 0:
        chosen = float(t[-1])
    else:
        i = int(ok[0])
        chosen = float(t[i])
        if i > 0 and f[i - 1] > needed and f[i] > 0:
            # log-linear interpolation between the last point above and the first point at or below
            lo, hi = math.log(f[i - 1]), math.log(max(f[i], tail.resolution * 1e-3))
            frac = (lo - math.log(needed)) / (lo - hi) if lo != hi else 1.0
            chosen = float(t[i - 1] + frac * (t[i] - t[i - 1]))
    return ThresholdChoice(chosen, fpir(tail.far_at(chosen), gallery_size), resolved)


@dataclass(frozen=True)
class Calibration:
    """Impostor tails for one embedder: unmasked probes, and probes embedded by the masked-face path."""

    embedder: str
    unmasked: ImpostorTail
    masked: ImpostorTail | None
    source: str  # the command (and data) that produced it

    def tail(self, masked: bool) -> ImpostorTail:
        if masked and self.masked is not None:
            return self.masked
        return self.unmasked

    def to_json(self) -> dict[str, Any]:
        def one(t: ImpostorTail | None) -> dict[str, Any] | None:
            if t is None:
                return None
            return {
                "pairs": t.pairs,
                "points": [[float(a), float(b)] for a, b in zip(t.thresholds, t.far, strict=True)],
            }

        return {
            "version": 1,
            "embedder": self.embedder,
            "source": self.source,
            "unmasked": one(self.unmasked),
            "masked": one(self.masked),
        }


def _tail(raw: Any, where: str) -> ImpostorTail:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("points"), list)
        or not isinstance(raw.get("pairs"), int)
    ):
        raise CalibrationError(f"{where}: needs 'pairs' (an integer) and 'points' (a list)")
    points = raw["points"]
    if len(points) > MAX_TAIL_POINTS or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in points
    ):
        raise CalibrationError(f"{where}: 'points' must be at most {MAX_TAIL_POINTS} [threshold, far] pairs")
    arr = np.array(points, dtype=float).reshape(-1, 2)
    try:
        return ImpostorTail(arr[:, 0], arr[:, 1], int(raw["pairs"]))
    except CalibrationError as exc:
        raise CalibrationError(f"{where}: {exc}") from None


def calibration_from_json(raw: Any) -> Calibration:
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise CalibrationError("not a version-1 calibration object")
    embedder, source = raw.get("embedder"), raw.get("source", "")
    if not isinstance(embedder, str) or not isinstance(source, str):
        raise CalibrationError("'embedder' and 'source' must be strings")
    masked = raw.get("masked")
    return Calibration(
        embedder=embedder,
        unmasked=_tail(raw.get("unmasked"), "unmasked"),
        masked=None if masked is None else _tail(masked, "masked"),
        source=source,
    )


def load_calibration(path: Path) -> Calibration:
    try:
        size = path.stat().st_size
        if size > MAX_CALIBRATION_BYTES:
            raise CalibrationError(f"{path}: {size} bytes, more than {MAX_CALIBRATION_BYTES}")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        if isinstance(exc, CalibrationError):
            raise
        raise CalibrationError(f"{path}: {exc}") from None
    try:
        return calibration_from_json(raw)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def save_calibration(cal: Calibration, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(cal.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def passes_margin(best: float, second_other: float | None, margin: float) -> bool:
    """The best identity must lead the best *other* identity by ``margin`` (no other identity: it does)."""
    return second_other is None or best - second_other >= margin - 1e-9  # 1e-9: float rounding


@dataclass(frozen=True)
class OperatingPoint:
    """What a match was judged against; stated in every passage event."""

    threshold: float
    margin: float
    gallery_size: int
    masked: bool
    target_fpir: float | None  # None: an explicit threshold from config
    predicted_fpir: float | None  # from the calibration at this gallery size (None without one)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 4),
            "margin": round(self.margin, 4),
            "gallery_size": self.gallery_size,
            "masked": self.masked,
            "target_fpir": self.target_fpir,
            "predicted_fpir": None if self.predicted_fpir is None else float(f"{self.predicted_fpir:.3g}"),
        }
