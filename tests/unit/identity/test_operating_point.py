"""The operating point: FPIR from a per-comparison rate, and the threshold for a target FPIR."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edged.identity.operating_point import (
    Calibration,
    CalibrationError,
    ImpostorTail,
    far_for_fpir,
    fpir,
    load_calibration,
    passes_margin,
    save_calibration,
    threshold_for_fpir,
)


def _tail() -> ImpostorTail:
    # far falls tenfold every 0.05 from 1e-2 at 0.30 to 1e-6 at 0.50; 10^7 pairs measured
    t = np.array([0.30, 0.35, 0.40, 0.45, 0.50])
    return ImpostorTail(t, 10.0 ** -np.array([2.0, 3.0, 4.0, 5.0, 6.0]), 10_000_000)


def test_fpir_matches_the_independent_comparisons_formula() -> None:
    assert fpir(1e-3, 1000) == pytest.approx(1 - (1 - 1e-3) ** 1000)
    assert fpir(0.0, 1000) == 0.0
    assert fpir(1e-4, 0) == 0.0
    assert far_for_fpir(fpir(2e-5, 4280), 4280) == pytest.approx(2e-5)


def test_threshold_for_fpir_reaches_the_target_and_no_lower() -> None:
    tail = _tail()
    choice = threshold_for_fpir(tail, 1000, 0.01)
    assert choice.resolved
    assert choice.predicted_fpir == pytest.approx(0.01, rel=1e-6)
    assert 0.40 < choice.threshold < 0.45  # needed far is about 1e-5 * 1.005
    # a larger gallery needs a stricter threshold for the same target
    assert threshold_for_fpir(tail, 10_000, 0.01).threshold > choice.threshold


def test_a_target_below_the_calibration_resolution_is_flagged() -> None:
    choice = threshold_for_fpir(_tail(), 1_000_000, 1e-3)
    assert not choice.resolved
    assert choice.threshold == pytest.approx(0.50)


def test_tail_refuses_rising_rates_and_nan() -> None:
    with pytest.raises(CalibrationError):
        ImpostorTail(np.array([0.3, 0.4]), np.array([1e-3, 1e-2]), 100)
    with pytest.raises(CalibrationError):
        ImpostorTail(np.array([0.3, np.nan]), np.array([1e-2, 1e-3]), 100)


def test_calibration_round_trip_and_bad_files(tmp_path: Path) -> None:
    cal = Calibration("fr_feature:abc", _tail(), None, "edged eval openset")
    path = tmp_path / "cal.json"
    save_calibration(cal, path)
    back = load_calibration(path)
    assert back.embedder == cal.embedder and back.masked is None
    np.testing.assert_allclose(back.unmasked.far, cal.unmasked.far)
    path.write_text(json.dumps({"version": 1, "embedder": "x", "unmasked": {"pairs": 5, "points": "no"}}))
    with pytest.raises(CalibrationError, match="points"):
        load_calibration(path)
    path.write_text("[" * 100_000)
    with pytest.raises(CalibrationError):
        load_calibration(path)


def test_margin_over_the_best_other_identity() -> None:
    assert passes_margin(0.60, None, 0.05)
    assert passes_margin(0.60, 0.55, 0.05)
    assert not passes_margin(0.60, 0.56, 0.05)
