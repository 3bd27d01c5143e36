from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from edged.thermal.config import RegistrationConfig
from edged.thermal.registration import (
    Registration,
    RegistrationError,
    estimate_homography,
    focal_px_from_fov,
    map_points,
    parallax_px,
    usable_range_m,
)
from tests.unit.thermal.cli import run

TRUE_H = np.array([[0.128, 0.004, -12.0], [-0.003, 0.131, -6.5], [1.0e-6, 2.0e-6, 1.0]])


def _grid_pairs(noise_px: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.linspace(150, 1150, 6), np.linspace(100, 650, 5))
    rgb = np.column_stack([xs.ravel(), ys.ravel()])
    thermal = map_points(TRUE_H, rgb) + np.random.default_rng(seed).normal(0, noise_px, rgb.shape)
    return rgb, thermal


def test_homography_is_recovered_from_noisy_pairs() -> None:
    rgb, thermal = _grid_pairs(noise_px=0.2)
    fit = estimate_homography(rgb, thermal)
    probe = np.array([[640.0, 360.0], [200.0, 600.0], [1100.0, 150.0]])
    assert np.abs(map_points(fit.matrix, probe) - map_points(TRUE_H, probe)).max() < 0.3
    assert 0.05 < fit.rms_px < 0.4


def test_bad_pairs_are_refused() -> None:
    rgb, thermal = _grid_pairs()
    with pytest.raises(RegistrationError, match="at least 4"):
        estimate_homography(rgb[:3], thermal[:3])
    with pytest.raises(RegistrationError, match="collinear"):
        line = np.column_stack([np.linspace(0, 100, 6), np.linspace(0, 50, 6)])
        estimate_homography(line, line * 0.2)
    with pytest.raises(RegistrationError, match="RGB points but"):
        estimate_homography(rgb, thermal[:-1])
    with pytest.raises(RegistrationError, match="finite"):
        bad = thermal.copy()
        bad[0, 0] = np.nan
        estimate_homography(rgb, bad)


def test_parallax_follows_f_b_inverse_depth() -> None:
    f = focal_px_from_fov(160, 57.0)
    assert f == pytest.approx(147.3, abs=0.1)
    assert parallax_px(f, 0.03, 1.0, 1.0) == 0.0
    assert parallax_px(f, 0.03, 1.0, 0.5) == pytest.approx(f * 0.03 * 1.0)
    near, far = usable_range_m(f, 0.03, 1.0, 2.0)
    assert parallax_px(f, 0.03, 1.0, near) == pytest.approx(2.0)
    assert far is not None and parallax_px(f, 0.03, 1.0, far) == pytest.approx(2.0)
    assert usable_range_m(f, 0.0, 1.0, 2.0) == (0.0, None)


def test_registration_config_rejects_a_singular_matrix() -> None:
    with pytest.raises(ValueError, match="singular"):
        RegistrationConfig(
            homography=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], rgb_size=(640, 480), thermal_size=(160, 120)
        )
    with pytest.raises(ValueError, match="3 rows"):
        RegistrationConfig(homography=[[1, 0], [0, 1]], rgb_size=(640, 480), thermal_size=(160, 120))


def test_calibrate_command_prints_config_and_parallax(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rgb, thermal = _grid_pairs(noise_px=0.1)
    spec = {
        "rgb_size": [1280, 720],
        "thermal_size": [160, 120],
        "calibrated_distance_m": 1.0,
        "baseline_m": 0.03,
        "thermal_hfov_deg": 57,
        "pairs": [[*map(float, a), *map(float, b)] for a, b in zip(rgb, thermal, strict=True)],
    }
    path = tmp_path / "pairs.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert run(["calibrate", "registration", "--pairs", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cfg = RegistrationConfig(**report["registration"])
    reg = Registration(cfg)
    assert np.abs(reg.to_thermal(rgb) - map_points(TRUE_H, rgb)).max() < 0.3
    assert report["parallax_px_at_m"]["1"] == 0.0
    assert report["parallax_px_at_m"]["0.5"] == pytest.approx(4.42, abs=0.02)
    near, far = report["usable_range_m"]
    assert near < 1.0 < far

    assert run(["calibrate", "registration", "--pairs", str(path)]) == 0
    text = capsys.readouterr().out
    snippet = yaml.safe_load(text)  # comments + YAML: pastes straight into edged.yaml
    assert RegistrationConfig(**snippet["thermal"]["registration"]).thermal_size == (160, 120)


def test_calibrate_command_reports_bad_files_in_one_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pairs.yaml"
    path.write_text("rgb_size: [1280, 720]\nthermal_size: [160, 120]\npairs:\n  - [1, 2, 3]\n")
    assert run(["calibrate", "registration", "--pairs", str(path)]) == 1
    err = capsys.readouterr().err
    assert "pairs.yaml:" in err and "Traceback" not in err
    collinear = {
        "rgb_size": [1280, 720],
        "thermal_size": [160, 120],
        "pairs": [[i, i, i / 8, i / 8] for i in range(0, 50, 10)],
    }
    path.write_text(yaml.safe_dump(collinear))
    assert run(["calibrate", "registration", "--pairs", str(path)]) == 1
    assert "collinear" in capsys.readouterr().err
