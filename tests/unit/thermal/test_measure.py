"""Statuses and sites of ThermalScreener.measure on synthetic scenes of known truth."""

from __future__ import annotations

import numpy as np
import pytest

from edged.capture.source import Frame
from edged.thermal.config import MeasurementConfig, ReferenceConfig, RegistrationConfig, ThermalConfig
from edged.thermal.measure import ThermalScreener
from edged.thermal.synthetic import Blackbody, SyntheticFace, face_landmarks, render_thermal_frame

SIZE = (160, 120)
BB = Blackbody(x=150, y=110, width=8, height=8, temperature_c=37.0)
REF = ReferenceConfig(x=150, y=110, width=8, height=8, set_temperature_c=37.0)
# RGB is 4× the thermal resolution and shifted by (8, 4) thermal pixels.
H_RGB_TO_THERMAL = [[0.25, 0.0, 8.0], [0.0, 0.25, 4.0], [0.0, 0.0, 1.0]]
REG = RegistrationConfig(homography=H_RGB_TO_THERMAL, rgb_size=(608, 464), thermal_size=SIZE)


def _scene(face: SyntheticFace, drift: float = 0.0, seed: int = 0) -> Frame:
    image = render_thermal_frame(SIZE, [face], blackbody=BB, drift_c=drift, rng=np.random.default_rng(seed))
    return Frame(image=image, timestamp=0.0, index=seed)


def _rgb(thermal_landmarks: np.ndarray) -> np.ndarray:
    return (thermal_landmarks - np.array([8.0, 4.0])) * 4.0


def test_rgb_landmarks_are_mapped_and_the_canthus_is_read() -> None:
    lm = face_landmarks((80, 50), 64)
    screener = ThermalScreener(ThermalConfig(registration=REG, reference=REF))
    m = screener.measure(_rgb(lm), _scene(SyntheticFace(lm, canthus_c=36.2), drift=1.3))
    assert m.status == "ok" and m.site == "inner_canthus"
    assert m.skin_c is not None and abs(m.skin_c - 36.2) <= 0.1
    assert m.core_c == pytest.approx(m.skin_c + 1.22)
    assert m.temperature_c == m.core_c
    assert m.live_skin is True
    assert m.reference_offset_c is not None and abs(m.reference_offset_c + 1.3) < 0.05


def test_glasses_fall_back_to_the_forehead_and_say_so() -> None:
    lm = face_landmarks((80, 50), 64)
    m = ThermalScreener(ThermalConfig()).measure_thermal(lm, _scene(SyntheticFace(lm, glasses=True)))
    assert m.status == "ok" and m.site == "forehead" and "forehead" in m.detail
    assert m.core_c == pytest.approx(m.skin_c + 1.58)  # type: ignore[operator]


def test_caller_reported_occluded_eyes_fall_back_too() -> None:
    lm = face_landmarks((80, 50), 64)
    m = ThermalScreener(ThermalConfig()).measure_thermal(lm, _scene(SyntheticFace(lm)), eyes_visible=False)
    assert m.site == "forehead"


def test_face_max_is_the_last_resort() -> None:
    lm = face_landmarks((80, 50), 30)
    cfg = ThermalConfig(measurement=MeasurementConfig(min_face_pixels=50, min_canthus_pixels=500))
    m = ThermalScreener(cfg).measure_thermal(lm, _scene(SyntheticFace(lm)))
    assert m.status == "ok" and m.site == "face_max"


def test_small_face_gives_insufficient_resolution_and_no_number() -> None:
    lm = face_landmarks((80, 50), 10)
    m = ThermalScreener(ThermalConfig()).measure_thermal(lm, _scene(SyntheticFace(lm)))
    assert m.status == "insufficient_resolution"
    assert m.core_c is None and m.skin_c is None and m.temperature_c is None


def test_face_outside_the_thermal_view() -> None:
    lm = face_landmarks((150, 50), 64)  # the right half lies beyond x = 160
    m = ThermalScreener(ThermalConfig()).measure_thermal(
        lm, _scene(SyntheticFace(face_landmarks((80, 50), 64)))
    )
    assert m.status == "outside_thermal_fov" and m.core_c is None


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.full((120, 160), 30.0, np.float64), "float32"),
        (np.full((120, 160, 3), 30.0, np.float32), "2-D"),
        (np.full((240, 320), 30.0, np.float32), "registration is for 160x120"),
        (np.full((120, 160), 30000.0, np.float32), "outside"),
    ],
)
def test_bad_frames_are_refused(image: np.ndarray, words: str) -> None:
    lm = face_landmarks((80, 50), 64)
    m = ThermalScreener(ThermalConfig(registration=REG)).measure(_rgb(lm), Frame(image, 0.0, 0))
    assert m.status == "bad_frame" and words in m.detail and m.core_c is None


def test_nan_pixels_are_a_bad_frame() -> None:
    lm = face_landmarks((80, 50), 64)
    frame = _scene(SyntheticFace(lm))
    frame.image[50, 80] = np.nan
    m = ThermalScreener(ThermalConfig()).measure_thermal(lm, frame)
    assert m.status == "bad_frame" and "non-finite" in m.detail


def test_wrong_landmarks_are_refused() -> None:
    lm = face_landmarks((80, 50), 64)
    m = ThermalScreener(ThermalConfig()).measure_thermal(lm[:5], _scene(SyntheticFace(lm)))
    assert m.status == "bad_landmarks"


def test_reference_patch_out_of_frame_is_a_config_error_or_a_fault() -> None:
    with pytest.raises(ValueError, match="outside the 160x120"):
        ThermalConfig(registration=REG, reference=ReferenceConfig(x=155, y=0, width=10, height=10))
    lm = face_landmarks((80, 50), 64)
    far = ThermalScreener(ThermalConfig(reference=ReferenceConfig(x=300, y=0, width=10, height=10)))
    m = far.measure_thermal(lm, _scene(SyntheticFace(lm)))
    assert m.status == "reference_fault" and "out_of_frame" in m.detail and m.core_c is None


def test_covered_blackbody_gives_no_number() -> None:
    lm = face_landmarks((80, 50), 64)
    frame = _scene(SyntheticFace(lm))
    frame.image[110:118, 150:158] = 24.0
    m = ThermalScreener(ThermalConfig(reference=REF)).measure_thermal(lm, frame)
    assert m.status == "reference_fault" and m.core_c is None


@pytest.mark.parametrize("kind", ["photo", "screen"])
def test_spoofs_are_not_live_skin(kind: str) -> None:
    lm = face_landmarks((80, 50), 64)
    m = ThermalScreener(ThermalConfig()).measure_thermal(lm, _scene(SyntheticFace(lm, kind=kind)))  # type: ignore[arg-type]
    assert m.status == "ok" and m.live_skin is False and m.liveness_detail


def test_the_reference_advances_once_per_frame_and_older_frames_keep_their_reading() -> None:
    lm = face_landmarks((80, 50), 64)
    screener = ThermalScreener(ThermalConfig(reference=REF))
    frames = [
        Frame(_scene(SyntheticFace(lm), drift=0.1 * i, seed=i).image, timestamp=float(i), index=i)
        for i in range(3)
    ]
    first = screener.observe_frame(frames[0])
    screener.observe_frame(frames[1])
    assert screener.observe_frame(frames[0]) is first  # a face measured late on the previous frame
    # several faces on one frame: the reference moves once, so its offset is the same for each
    a = screener.measure_thermal(lm, frames[2])
    b = screener.measure_thermal(lm, frames[2])
    assert a.reference_offset_c == b.reference_offset_c
    assert a.reference_offset_c is not None and abs(a.reference_offset_c + 0.2) < 0.05
    # after a reconnect the source counts from 0 again: a new timestamp is a new frame
    again = Frame(_scene(SyntheticFace(lm), drift=0.25, seed=9).image, timestamp=10.0, index=0)
    reading = screener.observe_frame(again)
    assert reading is not None and reading is not first and reading.offset_c is not None
    assert abs(reading.offset_c + 0.25) < 0.05
