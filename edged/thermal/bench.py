"""Per-face cost of :meth:`ThermalScreener.measure` on synthetic frames (``edged bench thermal``)."""

from __future__ import annotations

import time

import numpy as np

from edged.capture.source import Frame
from edged.thermal.config import ReferenceConfig, ThermalConfig
from edged.thermal.measure import ThermalScreener
from edged.thermal.synthetic import Blackbody, SyntheticFace, face_landmarks, render_thermal_frame


def bench_measure(size: tuple[int, int], repeats: int = 200) -> dict[str, object]:
    width, height = size
    bb = Blackbody(x=width - 10, y=height - 10, width=8, height=8)
    screener = ThermalScreener(
        ThermalConfig(reference=ReferenceConfig(x=bb.x, y=bb.y, width=8, height=8, set_temperature_c=37.0))
    )
    landmarks = face_landmarks((width * 0.5, height * 0.35), 0.4 * width)
    image = render_thermal_frame(size, [SyntheticFace(landmarks)], blackbody=bb)
    screener.measure_thermal(landmarks, Frame(image, 0.0, -1))  # warm-up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        m = screener.measure_thermal(landmarks, Frame(image, 0.0, i))
        times.append(time.perf_counter() - start)
        if m.status != "ok":
            raise RuntimeError(f"benchmark scene did not measure: {m.status} {m.detail}")
    ms = np.asarray(times) * 1000.0
    return {
        "size": [width, height],
        "repeats": repeats,
        "median_ms": round(float(np.median(ms)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }
