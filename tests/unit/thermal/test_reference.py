from __future__ import annotations

import numpy as np

from edged.thermal.config import ReferenceConfig
from edged.thermal.reference import BlackbodyReference

CFG = ReferenceConfig(x=140, y=100, width=10, height=10, set_temperature_c=37.0)


def _frame(patch_c: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = (22.0 + rng.normal(0, 0.05, (120, 160))).astype(np.float32)
    image[100:110, 140:150] = patch_c + rng.normal(0, 0.05, (10, 10))
    return image


def test_offset_cancels_the_camera_drift() -> None:
    ref = BlackbodyReference(CFG)
    reading = ref.update(_frame(38.3))
    assert reading.status == "ok"
    assert reading.offset_c is not None and abs(reading.offset_c - (-1.3)) < 0.03


def test_out_of_frame_patch_is_a_fault() -> None:
    reading = BlackbodyReference(CFG).update(np.full((100, 140), 22.0, np.float32))
    assert reading.status == "out_of_frame" and reading.offset_c is None


def test_partly_covered_patch_is_occluded() -> None:
    image = _frame(37.0)
    image[100:105, 140:150] = 30.0  # a hand in front of the upper half
    reading = BlackbodyReference(CFG).update(image)
    assert reading.status == "occluded" and reading.offset_c is None


def test_wholly_covered_or_switched_off_reference_is_occluded() -> None:
    reading = BlackbodyReference(CFG).update(_frame(24.0))
    assert reading.status == "occluded" and "set to 37.00" in reading.detail


def test_a_jump_between_frames_is_unstable_but_slow_drift_is_not() -> None:
    ref = BlackbodyReference(CFG)
    for i, value in enumerate(np.linspace(37.0, 38.0, 21)):
        assert ref.update(_frame(float(value), seed=i)).status == "ok"
    jumped = ref.update(_frame(39.0, seed=99))
    assert jumped.status == "unstable" and jumped.offset_c is None


def test_non_finite_patch_is_bad_values() -> None:
    image = _frame(37.0)
    image[104, 144] = np.nan
    assert BlackbodyReference(CFG).update(image).status == "bad_values"
