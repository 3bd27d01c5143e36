"""Synthetic radiometric scenes with known ground truth, for tests and for the demo's thermal stream.

:func:`render_thermal_frame` draws faces given their 68 landmarks in thermal pixels: skin with cooler nose and
cheeks, a warmer forehead band and eyes, a hot inner-canthus plateau at exactly ``canthus_c`` (the truth),
an optional blackbody patch, Gaussian sensor noise and a whole-camera offset (``drift_c``) that the blackbody
sees too. Spoofs: ``kind="photo"`` (a print at room temperature) and ``kind="screen"`` (warm and flat).
:func:`face_landmarks` places a generic 68-point face, so a scene needs only centres and sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from edged.thermal import regions
from edged.thermal.registration import Registration

# A generic frontal face in iBUG order, face width 1, origin between the eyes, y down.
_JAW = [(-0.5 * np.cos(np.pi * i / 16), 0.05 + 0.85 * np.sin(np.pi * i / 16)) for i in range(17)]
_BROWS = [(-0.38, -0.10), (-0.31, -0.14), (-0.23, -0.15), (-0.15, -0.14), (-0.08, -0.12)]
_BROWS += [(-x, y) for x, y in reversed(_BROWS)]
_NOSE = [(0.0, -0.02), (0.0, 0.08), (0.0, 0.19), (0.0, 0.30)] + [
    (x, 0.36) for x in (-0.1, -0.05, 0.0, 0.05, 0.1)
]
_RIGHT_EYE = [(-0.28, 0.05), (-0.23, 0.02), (-0.17, 0.02), (-0.12, 0.05), (-0.17, 0.08), (-0.23, 0.08)]
_LEFT_EYE = [(-x, y) for x, y in [_RIGHT_EYE[i] for i in (3, 2, 1, 0, 5, 4)]]
_MOUTH_OUTER = [(0.18 * np.cos(a), 0.6 + 0.07 * np.sin(a)) for a in np.linspace(np.pi, -np.pi, 13)[:12]]
_MOUTH_INNER = [(0.12 * np.cos(a), 0.6 + 0.03 * np.sin(a)) for a in np.linspace(np.pi, -np.pi, 9)[:8]]
TEMPLATE = np.array(
    _JAW + _BROWS + _NOSE + _RIGHT_EYE + _LEFT_EYE + _MOUTH_OUTER + _MOUTH_INNER, dtype=np.float64
)
assert TEMPLATE.shape == (68, 2)


def face_landmarks(centre_xy: tuple[float, float], face_width_px: float) -> np.ndarray:
    """68 landmarks of a frontal face of the given width whose eye line centre is at ``centre_xy``."""
    return TEMPLATE * face_width_px + np.asarray(centre_xy, dtype=np.float64)


@dataclass(frozen=True)
class SyntheticFace:
    landmarks: np.ndarray  # (68, 2) thermal pixels
    skin_c: float = 34.0
    canthus_c: float = 35.6  # ground truth of the inner-canthus reading
    kind: Literal["skin", "photo", "screen"] = "skin"
    glasses: bool = False


@dataclass(frozen=True)
class Blackbody:
    x: int
    y: int
    width: int
    height: int
    temperature_c: float = 37.0


def _fill(image: np.ndarray, polygon: np.ndarray, value: float) -> None:
    image[regions.polygon_mask(image.shape, polygon)] = value


def _draw_face(image: np.ndarray, face: SyntheticFace, ambient_c: float) -> None:
    lm = face.landmarks
    if face.kind == "photo":
        _fill(image, regions.face_polygon(lm), ambient_c + 0.3)
        return
    if face.kind == "screen":
        _fill(image, regions.face_polygon(lm), 31.0)
        return
    skin = face.skin_c
    _fill(image, regions.face_polygon(lm), skin)
    _fill(image, regions.forehead_polygon(lm), skin + 0.4)
    cheek = regions.JAW[2:15]
    _fill(image, np.vstack([lm[cheek], lm[[35, 33, 31]]]), skin - 1.2)
    _fill(image, lm[[27, 31, 33, 35]], skin - 2.5)  # the nose is the coolest part of the face
    _fill(image, lm[48:60], skin - 0.3)
    iod = regions.inter_ocular(lm)
    for eye in (lm[36:42], lm[42:48]):
        _fill(image, eye, skin + 0.6)
    for idx in regions.INNER_CANTHI:
        plateau = regions.disk_mask(image.shape, lm[idx], max(2.0, 0.1 * iod))
        image[plateau] = face.canthus_c
    if face.glasses:
        for eye in (lm[36:42], lm[42:48]):
            centre = eye.mean(axis=0)
            axes = (int(round(0.17 * iod)) + 2, int(round(0.1 * iod)) + 2)
            cv2.ellipse(image, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, ambient_c + 3.0, -1)


def render_thermal_frame(
    size: tuple[int, int],
    faces: Sequence[SyntheticFace] = (),
    *,
    ambient_c: float = 22.0,
    blackbody: Blackbody | None = None,
    noise_c: float = 0.05,
    drift_c: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One float32 °C frame of ``size`` = (width, height) as the camera would read it (drift included)."""
    width, height = size
    rng = rng if rng is not None else np.random.default_rng(0)
    yy = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    image = np.repeat(np.float32(ambient_c) + np.float32(0.8) * yy, width, axis=1).astype(
        np.float32
    )  # warmer floor, cooler ceiling
    for face in faces:
        _draw_face(image, face, ambient_c)
    if blackbody is not None:
        b = blackbody
        image[b.y : b.y + b.height, b.x : b.x + b.width] = b.temperature_c
    if noise_c > 0:
        image += rng.normal(0.0, noise_c, image.shape).astype(np.float32)
    image += np.float32(drift_c)
    return image


def render_for_rgb_faces(
    registration: Registration,
    rgb_landmark_sets: Sequence[np.ndarray],
    canthus_c: Sequence[float] | None = None,
    **scene: object,
) -> np.ndarray:
    """The thermal frame matching one RGB frame: each face's 68 RGB landmarks are mapped through the
    installation's registration (for the demo: a thermal stream for an RGB clip with known landmarks).
    ``scene`` takes the keyword arguments of :func:`render_thermal_frame`."""
    temps = list(canthus_c) if canthus_c is not None else [35.6] * len(rgb_landmark_sets)
    if len(temps) != len(rgb_landmark_sets):
        raise ValueError("give one canthus temperature per face")
    faces = [
        SyntheticFace(registration.to_thermal(np.asarray(lm, dtype=np.float64)), skin_c=t - 1.6, canthus_c=t)
        for lm, t in zip(rgb_landmark_sets, temps, strict=True)
    ]
    return render_thermal_frame(registration.thermal_size, faces, **scene)  # type: ignore[arg-type]
