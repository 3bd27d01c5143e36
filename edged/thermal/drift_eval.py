"""Synthetic check of the blackbody correction: one person per frame walks through a scene while the
whole camera's offset drifts slowly from −D to +D °C; the inner-canthus estimate is compared with the
rendered truth, with and without the reference (``edged eval thermal-drift``)."""

from __future__ import annotations

import numpy as np

from edged.capture.source import Frame
from edged.thermal.config import ReferenceConfig, ThermalConfig
from edged.thermal.measure import ThermalScreener
from edged.thermal.synthetic import Blackbody, SyntheticFace, face_landmarks, render_thermal_frame


def _summary(errors: list[float], statuses: dict[str, int]) -> dict[str, object]:
    arr = np.asarray(errors, dtype=np.float64)
    return {
        "measured": int(arr.size),
        "max_abs_error_c": round(float(np.abs(arr).max()), 4) if arr.size else None,
        "mean_error_c": round(float(arr.mean()), 4) if arr.size else None,
        "rms_error_c": round(float(np.sqrt((arr**2).mean())), 4) if arr.size else None,
        "statuses": statuses,
    }


def run_drift_scene(
    frames: int = 81, drift_c: float = 2.0, seed: int = 0, size: tuple[int, ...] = (160, 120)
) -> dict[str, object]:
    width, height = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    bb = Blackbody(x=width - 10, y=height - 10, width=8, height=8, temperature_c=37.0)
    reference = ReferenceConfig(x=bb.x, y=bb.y, width=bb.width, height=bb.height, set_temperature_c=37.0)
    with_ref = ThermalScreener(ThermalConfig(reference=reference))
    without_ref = ThermalScreener(ThermalConfig())
    errors: dict[str, list[float]] = {"with_reference": [], "without_reference": []}
    statuses: dict[str, dict[str, int]] = {"with_reference": {}, "without_reference": {}}
    face_width = 0.4 * width
    for i, drift in enumerate(np.linspace(-drift_c, drift_c, frames)):
        centre = (width * rng.uniform(0.35, 0.6), height * rng.uniform(0.3, 0.4))
        truth = float(rng.uniform(35.0, 37.0))
        landmarks = face_landmarks(centre, face_width)
        face = SyntheticFace(landmarks, skin_c=truth - 1.6, canthus_c=truth)
        image = render_thermal_frame((width, height), [face], blackbody=bb, drift_c=float(drift), rng=rng)
        observed = landmarks + rng.normal(0.0, 0.5, landmarks.shape)  # landmark / registration jitter
        frame = Frame(image=image, timestamp=float(i), index=i)
        for key, screener in (("with_reference", with_ref), ("without_reference", without_ref)):
            m = screener.measure_thermal(observed, frame)
            statuses[key][m.status] = statuses[key].get(m.status, 0) + 1
            if m.status == "ok" and m.site == "inner_canthus" and m.skin_c is not None:
                errors[key].append(m.skin_c - truth)
    return {
        "frames": frames,
        "drift_c": [-drift_c, drift_c],
        "size": [width, height],
        "with_reference": _summary(errors["with_reference"], statuses["with_reference"]),
        "without_reference": _summary(errors["without_reference"], statuses["without_reference"]),
    }
