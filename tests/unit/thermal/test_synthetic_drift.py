"""With the camera drifting ±2 °C, the blackbody-corrected canthus stays within ±0.1 °C of the truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edged.thermal.drift_eval import run_drift_scene
from edged.thermal.synthetic import SyntheticFace, face_landmarks, render_thermal_frame
from tests.unit.thermal.cli import run


@pytest.mark.parametrize("size", [(160, 120), (320, 240)])
def test_corrected_canthus_within_a_tenth_of_a_degree(size: tuple[int, int]) -> None:
    result = run_drift_scene(frames=41, drift_c=2.0, seed=1, size=size)
    corrected, raw = result["with_reference"], result["without_reference"]
    assert isinstance(corrected, dict) and isinstance(raw, dict)
    assert corrected["measured"] == 41
    assert corrected["max_abs_error_c"] <= 0.1
    assert raw["max_abs_error_c"] >= 1.8  # the drift is really there without the reference


def test_command_reports_both_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["eval", "thermal-drift", "--frames", "11", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"with_reference", "without_reference"}


def test_render_puts_the_truth_at_the_canthus_and_the_drift_everywhere() -> None:
    lm = face_landmarks((80, 50), 64)
    face = SyntheticFace(lm, canthus_c=36.4)
    clean = render_thermal_frame((160, 120), [face], noise_c=0.0)
    drifted = render_thermal_frame((160, 120), [face], noise_c=0.0, drift_c=1.5)
    x, y = np.round(lm[39]).astype(int)
    assert clean[y, x] == pytest.approx(36.4)
    assert np.allclose(drifted - clean, 1.5, atol=1e-4)
    assert clean.dtype == np.float32 and clean.shape == (120, 160)


def test_rgb_faces_render_through_the_registration() -> None:
    from edged.thermal.config import RegistrationConfig
    from edged.thermal.registration import Registration
    from edged.thermal.synthetic import render_for_rgb_faces

    reg = Registration(
        RegistrationConfig(
            homography=[[0.25, 0, 0], [0, 0.25, 0], [0, 0, 1]], rgb_size=(640, 480), thermal_size=(160, 120)
        )
    )
    thermal_lm = face_landmarks((80, 50), 60)
    image = render_for_rgb_faces(reg, [thermal_lm * 4.0], [36.9], noise_c=0.0)
    x, y = np.round(thermal_lm[42]).astype(int)
    assert image.shape == (120, 160) and image[y, x] == pytest.approx(36.9)
    with pytest.raises(ValueError, match="one canthus temperature per face"):
        render_for_rgb_faces(reg, [thermal_lm * 4.0], [36.9, 35.0])


def test_bench_command_runs_and_reports_each_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["bench", "thermal", "--repeats", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["size"] for r in out["measure_per_face"]] == [[160, 120], [320, 240], [640, 480]]
