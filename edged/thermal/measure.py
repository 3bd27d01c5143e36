"""Temperature of one face from one thermal frame: the daemon's entry point to thermal screening.

Usage (the caller knows nothing of thermal internals)::

    screener = ThermalScreener(config.thermal)
    m = screener.measure(face.landmarks, thermal_frame)      # landmarks: (68, 2) RGB pixels, iBUG order
    if m.status == "ok": m.core_c, m.site, m.live_skin ...
    verdict = FeverDecider(config.thermal.fever).decide(m)    # once per person, not per frame

Statuses, checked in this order; only ``ok`` carries temperatures:

* ``bad_frame``: not a 2-D float32 °C image of the configured size, or non-finite / impossible values;
* ``bad_landmarks``: not 68 finite (x, y) points;
* ``reference_fault``: the blackbody is out of frame, occluded or unstable (``detail`` says which);
* ``outside_thermal_fov``: the face does not lie wholly inside the thermal frame;
* ``insufficient_resolution``: fewer than ``min_face_pixels`` thermal pixels on the face;
* ``ok``: ``skin_c`` at ``site`` (inner_canthus, else forehead when the eyes are occluded, else face_max),
  ``core_c`` = skin + the site's offset, ``live_skin`` from :mod:`edged.thermal.liveness`.

The blackbody history advances once per thermal frame, however many faces are measured on it. The capture
thread may call :meth:`ThermalScreener.observe_frame` on every frame (so the reference is followed when nobody
passes); :meth:`measure` reuses that frame's reading, and a late measurement on an older frame gets that
frame's own reading.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from edged.capture.source import Frame
from edged.thermal import regions
from edged.thermal.config import Site, ThermalConfig
from edged.thermal.liveness import check_skin
from edged.thermal.reference import BlackbodyReference, ReferenceReading
from edged.thermal.registration import Registration

Status = Literal[
    "ok", "bad_frame", "bad_landmarks", "reference_fault", "outside_thermal_fov", "insufficient_resolution"
]

_GLASS_BELOW_MEDIAN_C = 2.0
_GLASS_FRACTION = 0.3
_STATISTICS_SAMPLE = 4096
_RECENT_READINGS = 8


def _spread_sample(values: np.ndarray) -> np.ndarray:
    """At most ~4096 evenly spaced values: medians and percentiles of a large face need no more."""
    step = max(1, len(values) // _STATISTICS_SAMPLE)
    return values[::step]


@dataclass(frozen=True)
class Measurement:
    status: Status
    detail: str = ""
    site: Site | None = None
    skin_c: float | None = None  # corrected reading at the site
    core_c: float | None = None  # estimated core (oral) temperature
    live_skin: bool | None = None
    liveness_detail: str = ""
    reference_offset_c: float | None = None  # applied blackbody correction; None = no reference configured
    face_pixels: int = 0
    sites_c: dict[str, float] = field(default_factory=dict)  # every site that could be read

    @property
    def temperature_c(self) -> float | None:
        """The figure to show and decide on: the estimated core temperature."""
        return self.core_c

    def to_json(self) -> dict[str, object]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)

        return {
            "status": self.status,
            "detail": self.detail,
            "site": self.site,
            "skin_c": r(self.skin_c),
            "core_c": r(self.core_c),
            "live_skin": self.live_skin,
            "liveness_detail": self.liveness_detail,
            "reference_offset_c": r(self.reference_offset_c),
            "face_pixels": self.face_pixels,
        }


class ThermalScreener:
    def __init__(self, config: ThermalConfig):
        self.config = config
        self.registration = Registration(config.registration) if config.registration is not None else None
        self.reference = BlackbodyReference(config.reference) if config.reference is not None else None
        # Readings of the recent frames, keyed by (index, timestamp): the capture thread may observe a frame
        # while the vision thread measures faces on it or on the one before.
        self._readings: OrderedDict[tuple[int, float], ReferenceReading] = OrderedDict()
        self._newest_timestamp = float("-inf")
        self._lock = threading.Lock()

    def check_frame(self, image: np.ndarray) -> str | None:
        """Why ``image`` cannot be measured, or None."""
        if not isinstance(image, np.ndarray) or image.ndim != 2:
            return f"expected a 2-D °C image, got shape {getattr(image, 'shape', None)}"
        if image.dtype != np.float32:
            return f"expected float32 °C, got {image.dtype}"
        if self.registration is not None:
            width, height = self.registration.thermal_size
            if image.shape != (height, width):
                return f"frame is {image.shape[1]}x{image.shape[0]}, registration is for {width}x{height}"
        if not np.isfinite(image).all():
            return f"{int((~np.isfinite(image)).sum())} non-finite pixels"
        low, high = self.config.measurement.valid_range_c
        if float(image.min()) < low or float(image.max()) > high:
            return f"values outside {low} … {high} °C (not a °C image?)"
        return None

    def observe_frame(self, frame: Frame) -> ReferenceReading | None:
        """Advance the blackbody reference with this frame; a frame seen before gets its earlier reading.
        Safe to call from the capture thread while another thread measures."""
        if self.reference is None:
            return None
        key = (frame.index, frame.timestamp)
        with self._lock:
            cached = self._readings.get(key)
            if cached is not None:
                return cached
            newest = frame.timestamp >= self._newest_timestamp
            reading = self.reference.update(frame.image, remember=newest)
            if newest:
                self._newest_timestamp = frame.timestamp
            self._readings[key] = reading
            while len(self._readings) > _RECENT_READINGS:
                self._readings.popitem(last=False)
            return reading

    def measure(
        self, landmarks68_rgb: np.ndarray, thermal: Frame, eyes_visible: bool | None = None
    ) -> Measurement:
        """Landmarks in RGB pixels; mapped through the configured registration (identity when none)."""
        problem = self.check_frame(thermal.image)
        if problem:
            return Measurement("bad_frame", problem)
        points = np.asarray(landmarks68_rgb, dtype=np.float64)
        if points.shape != (68, 2) or not np.isfinite(points).all():
            return Measurement("bad_landmarks", f"expected 68 finite (x, y) points, got shape {points.shape}")
        thermal_points = self.registration.to_thermal(points) if self.registration is not None else points
        return self._measure_mapped(thermal_points, thermal, eyes_visible)

    def measure_thermal(
        self, landmarks68_thermal: np.ndarray, thermal: Frame, eyes_visible: bool | None = None
    ) -> Measurement:
        """As :meth:`measure`, with landmarks already in thermal pixels."""
        problem = self.check_frame(thermal.image)
        if problem:
            return Measurement("bad_frame", problem)
        points = np.asarray(landmarks68_thermal, dtype=np.float64)
        if points.shape != (68, 2) or not np.isfinite(points).all():
            return Measurement("bad_landmarks", f"expected 68 finite (x, y) points, got shape {points.shape}")
        return self._measure_mapped(points, thermal, eyes_visible)

    def _measure_mapped(self, points: np.ndarray, thermal: Frame, eyes_visible: bool | None) -> Measurement:
        cfg = self.config.measurement
        offset: float | None = None
        reading = self.observe_frame(thermal)
        if reading is not None:
            if reading.status != "ok" or reading.offset_c is None:
                return Measurement("reference_fault", f"blackbody {reading.status}: {reading.detail}")
            offset = reading.offset_c
        image = thermal.image
        height, width = image.shape
        face_poly = regions.face_polygon(points)
        m = cfg.fov_margin_px
        if (
            (face_poly[:, 0] < m).any()
            or (face_poly[:, 1] < m).any()
            or ((face_poly[:, 0] > width - 1 - m).any() or (face_poly[:, 1] > height - 1 - m).any())
        ):
            return Measurement("outside_thermal_fov", "the face is not wholly inside the thermal frame")
        # Work on the face's bounding box only: the cost then follows the face, not the frame.
        x0, y0 = (max(0, int(np.floor(v)) - 2) for v in face_poly.min(axis=0))
        x1, y1 = (int(np.ceil(v)) + 3 for v in face_poly.max(axis=0))
        image = image[y0 : min(y1, height), x0 : min(x1, width)]
        origin = np.array([x0, y0], dtype=np.float64)
        points = points - origin
        face_poly = face_poly - origin.astype(np.float32)
        face_mask = regions.polygon_mask(image.shape, face_poly)
        face_pixels = int(face_mask.sum())
        if face_pixels < cfg.min_face_pixels:
            return Measurement(
                "insufficient_resolution",
                f"{face_pixels} thermal pixels on the face, at least {cfg.min_face_pixels} needed",
                face_pixels=face_pixels,
            )
        corrected = image + np.float32(offset or 0.0)
        local_mean = cv2.blur(corrected, (cfg.hot_spot_px, cfg.hot_spot_px), borderType=cv2.BORDER_REPLICATE)
        face_max = float(local_mean[face_mask].max())
        face_values = _spread_sample(corrected[face_mask])
        face_median = float(np.median(face_values))
        sites: dict[str, float] = {"face_max": face_max}
        radius = max(1.5, cfg.canthus_radius * regions.inter_ocular(points))
        canthus_values = []
        for idx in regions.INNER_CANTHI:
            disk = regions.disk_mask(image.shape, points[idx], radius) & face_mask
            if int(disk.sum()) < cfg.min_canthus_pixels:
                continue
            # Glasses are opaque to long-wave infrared: much of the region then reads far below the skin.
            if float(np.mean(corrected[disk] < face_median - _GLASS_BELOW_MEDIAN_C)) > _GLASS_FRACTION:
                continue
            canthus_values.append(float(local_mean[disk].max()))
        forehead_mask = regions.polygon_mask(image.shape, regions.forehead_polygon(points)) & face_mask
        if int(forehead_mask.sum()) >= cfg.min_canthus_pixels:
            sites["forehead"] = float(local_mean[forehead_mask].max())
        if eyes_visible is not False and len(canthus_values) == 2:
            sites["inner_canthus"] = max(canthus_values)
        site: Site = (
            "inner_canthus" if "inner_canthus" in sites else "forehead" if "forehead" in sites else "face_max"
        )
        skin = sites[site]
        live = check_skin(face_values, face_max, self.config.liveness)
        return Measurement(
            "ok",
            "" if site == "inner_canthus" else f"inner canthus not readable, used {site}",
            site=site,
            skin_c=skin,
            core_c=skin + self.config.core.site_offsets_c[site],
            live_skin=live.live_skin,
            liveness_detail=live.reason,
            reference_offset_c=offset,
            face_pixels=face_pixels,
            sites_c=sites,
        )
