"""The operating point a face is judged at: the threshold and margin of each embedding path.

With ``vision.target_fpir`` (default 0.01) the threshold is derived from the embedder's calibration (the
impostor tail of ``edged eval openset``) and the gallery's current size: a larger gallery gives a stranger
more people to be taken for, so it needs a higher threshold. The explicit thresholds from config are
floors, so a small gallery is never judged more loosely than configured; with ``target_fpir: null`` they
are the thresholds. The point is recomputed only when the number of enrolled people changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from edged.decide.config import PolicyConfig
from edged.identity.operating_point import (
    Calibration,
    CalibrationError,
    OperatingPoint,
    fpir,
    load_calibration,
    threshold_for_fpir,
)
from edged.vision.config import VisionConfig

log = logging.getLogger(__name__)

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "vision" / "data"
MAX_PACKAGED = 32  # calibration files looked at in the package at most


def find_calibration(
    vision: VisionConfig, embedder: str, packaged: Path = PACKAGED_DIR
) -> Calibration | None:
    """The calibration for ``embedder`` (the gallery's template tag, ``model_id@version``).

    ``vision.calibration`` must be for that embedder (else ``CalibrationError``); without it, the packaged
    ``calibration-*.json`` made for that embedder is taken, if there is one. ``vision.target_fpir`` without
    any calibration is an error too: there is nothing to derive the threshold from.
    """
    cal: Calibration | None = None
    chosen = "target_fpir" in vision.model_fields_set  # the operator's own target, not the default
    if vision.calibration is not None:
        cal = load_calibration(vision.calibration)
        if cal.embedder != embedder:
            raise CalibrationError(
                f"vision.calibration {vision.calibration} was made for embedder {cal.embedder}, but the "
                f"gallery's templates are {embedder}: run 'edged calibrate threshold' for this embedder"
            )
    else:
        for path in sorted(packaged.glob("calibration-*.json"))[:MAX_PACKAGED]:
            try:
                found = load_calibration(path)
            except CalibrationError as exc:
                log.warning("packaged calibration skipped: %s", exc)
                continue
            if found.embedder == embedder:
                cal = found
                break
    if vision.target_fpir is not None and cal is None and not chosen:
        log.warning(
            "no calibration for embedder %s: the default target FPIR is not applied, the explicit match "
            "thresholds are (run 'edged calibrate threshold' and set vision.calibration)",
            embedder,
        )
    elif vision.target_fpir is not None and cal is None:
        raise CalibrationError(
            f"vision.target_fpir needs a calibration for embedder {embedder}: none is packaged; set "
            "vision.calibration (edged calibrate threshold) or use explicit thresholds (target_fpir: null)"
        )
    return cal


class OperatingPoints:
    """The operating point of each embedding path (plain, masked) at the gallery's current size.

    ``fixed`` paths keep their explicit threshold even with a target FPIR (a lane's own
    ``policy.match_threshold`` / ``masked_match_threshold``).
    """

    def __init__(
        self,
        thresholds: tuple[float, float],
        margin: float,
        *,
        target_fpir: float | None = None,
        calibration: Calibration | None = None,
        gallery_size: Callable[[], int] | None = None,
        fixed: tuple[bool, bool] = (False, False),
    ) -> None:
        if target_fpir is not None and calibration is None:
            raise CalibrationError("a target FPIR needs a calibration")
        self.thresholds = thresholds
        self.margin = margin
        self.target_fpir = target_fpir
        self.calibration = calibration
        self.gallery_size = gallery_size
        self.fixed = fixed
        self._cache: dict[tuple[int, bool], OperatingPoint] = {}

    @classmethod
    def from_config(
        cls,
        policy: PolicyConfig,
        vision: VisionConfig,
        calibration: Calibration | None = None,
        gallery_size: Callable[[], int] | None = None,
    ) -> OperatingPoints:
        plain = policy.match_threshold if policy.match_threshold is not None else vision.match_threshold
        masked = (
            policy.masked_match_threshold
            if policy.masked_match_threshold is not None
            else vision.masked_match_threshold
        )
        return cls(
            (plain, masked),
            vision.match_margin,
            # the default target needs a calibration; without one (find_calibration said so) the floors rule
            target_fpir=vision.target_fpir if calibration is not None else None,
            calibration=calibration,
            gallery_size=gallery_size,
            fixed=(policy.match_threshold is not None, policy.masked_match_threshold is not None),
        )

    def point(self, masked: bool) -> OperatingPoint:
        n = max(int(self.gallery_size()), 0) if self.gallery_size is not None else 0
        key = (n, masked)
        found = self._cache.get(key)
        if found is not None:
            return found
        if self._cache and next(iter(self._cache))[0] != n:
            self._cache.clear()  # the gallery changed size: the old points are stale
        found = self._compute(n, masked)
        self._cache[key] = found
        return found

    def _compute(self, n: int, masked: bool) -> OperatingPoint:
        cal, target = self.calibration, self.target_fpir
        if target is not None and cal is not None and not self.fixed[int(masked)]:
            choice = threshold_for_fpir(cal.tail(masked), n, target)
            if not choice.resolved:
                log.warning(
                    "target FPIR %g at %d people needs a rate finer than the calibration's %d impostor pairs"
                    " show: threshold %.3f (where the measurement ends), predicted FPIR %.3g",
                    target,
                    n,
                    cal.tail(masked).pairs,
                    choice.threshold,
                    choice.predicted_fpir,
                )
            # the explicit threshold is a floor: a small gallery never matches more loosely than configured
            floored = max(choice.threshold, self.thresholds[int(masked)])
            return OperatingPoint(
                floored, self.margin, n, masked, target, fpir(cal.tail(masked).far_at(floored), n)
            )
        threshold = self.thresholds[int(masked)]
        predicted = fpir(cal.tail(masked).far_at(threshold), n) if cal is not None else None
        return OperatingPoint(threshold, self.margin, n, masked, None, predicted)
