"""Skin→oral estimate and fever alarm on PhysioNet, 5-fold CV, threshold chosen inside the training folds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.thermal.fever_eval import (
    cross_validate,
    fit_constant_offset,
    harrell_davis_quantile,
    specificity_at_sensitivity,
    threshold_for_sensitivity,
)
from edged.thermal.physionet import DatasetError, load_camera
from tests.unit.thermal.cli import run as main

PHYSIONET = "thermal/physionet_facial_oral_temperature_v1.0.0"


@pytest.fixture(scope="module")
def fever_json(shared_data: Path) -> dict[str, dict[str, Any]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["eval", "fever", "--data", str(shared_data / PHYSIONET), "--json"])
    assert code == 0
    result: dict[str, dict[str, Any]] = json.loads(out.getvalue())
    return result


def test_loader_reads_both_cameras_with_the_fever_count(shared_data: Path) -> None:
    for camera, expected_n in (("FLIR", 1020), ("ICI", 1008)):
        data = load_camera(shared_data / PHYSIONET, camera)
        assert len(data) == expected_n
        assert int((data.oral_c >= 37.5).sum()) == 111
        assert np.isfinite(data.readings).all()
        face_max = data.reading("T_Max")
        assert 33.0 < float(np.median(face_max)) < 37.0


def test_json_has_the_required_keys_per_camera(fever_json: dict[str, dict[str, Any]]) -> None:
    for camera in ("FLIR", "ICI"):
        r = fever_json[camera]
        for key in ("sensitivity", "specificity", "mae", "bias", "n"):
            assert isinstance(r[key], (int, float)), key
        thresholds = r["alarm_thresholds_c"]
        assert isinstance(thresholds, list) and len(thresholds) == 5


def test_ici_meets_the_issue_floors_on_the_default_split(fever_json: dict[str, dict[str, Any]]) -> None:
    # Seed 0 was the default before any result was seen; other splits move these figures by about ±0.015
    # (the spread is in the JSON and in docs/thermal.md).
    r = fever_json["ICI"]
    assert r["sensitivity"] >= 0.95
    assert r["specificity"] >= 0.90
    assert r["mae"] <= 0.21


def test_mae_meets_the_floor_on_every_split(fever_json: dict[str, dict[str, Any]]) -> None:
    # FLIR's sensitivity/specificity floor is not reached on the default split: reported in docs/thermal.md.
    for camera in ("FLIR", "ICI"):
        assert len(fever_json[camera]["repeats"]["mae"]) == 5
        assert max(fever_json[camera]["repeats"]["mae"]) <= 0.21


def test_regression_beats_the_constant_offset_on_mae(fever_json: dict[str, dict[str, Any]]) -> None:
    for camera in ("FLIR", "ICI"):
        offset = fever_json[camera]["offset_face_max"]
        assert isinstance(offset, dict)
        assert fever_json[camera]["mae"] < offset["mae"]


def test_threshold_is_the_lower_quantile_of_the_fever_scores() -> None:
    scores = np.arange(100, dtype=float)
    fever = np.zeros(100, dtype=bool)
    fever[80:] = True  # 20 fevers, scores 80..99
    t = threshold_for_sensitivity(scores, fever, 0.95)
    assert 80.0 < t < 81.0  # between the lowest and second-lowest fever score
    assert (scores[fever] >= t).mean() == 0.95
    normal = np.random.default_rng(0).normal(size=2000)
    assert harrell_davis_quantile(normal, 0.05) == pytest.approx(-1.645, abs=0.06)
    with pytest.raises(ValueError):
        threshold_for_sensitivity(scores, np.zeros(100, dtype=bool), 0.95)


def test_specificity_at_sensitivity_takes_the_highest_threshold_that_reaches_it() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    fever = np.array([False, False, True, False, False, True, False, True, True, True])
    # 5 fevers: 0.8 of them means the top 4 (≥ 0.6); negatives below 0.6: 0.1, 0.2, 0.4, 0.5 of 5
    assert specificity_at_sensitivity(scores, fever, 0.8) == (0.6, 0.8)
    # all of them: down to 0.3, which leaves 2 of 5 negatives below
    assert specificity_at_sensitivity(scores, fever, 1.0) == (0.3, 0.4)
    with pytest.raises(ValueError):
        specificity_at_sensitivity(scores, np.zeros(10, dtype=bool), 0.95)


def test_ceiling_is_reported_beside_the_result(fever_json: dict[str, dict[str, Any]]) -> None:
    for camera in ("FLIR", "ICI"):
        ceiling = fever_json[camera]["ceiling"]
        spec = ceiling["specificity_at_sensitivity"]
        assert list(spec) == ["0.95", "0.96", "0.97"]
        assert spec["0.95"] >= spec["0.96"] >= spec["0.97"]
        missed = ceiling["missed_fevers_oral_c"]
        assert len(missed) <= 5 and all(t >= 37.5 for t in missed)  # 106 of 111 fevers flagged
        assert len(fever_json[camera]["repeats"]["ceiling_specificity_at_0.95"]) == 5


def test_test_fold_labels_never_move_the_thresholds() -> None:
    rng = np.random.default_rng(3)
    oral = rng.normal(36.9, 0.4, 300)
    x = (oral - 1.0 + rng.normal(0, 0.2, 300))[:, None]
    base = cross_validate(fit_constant_offset, x, oral, folds=5, seed=0)
    # Change the labels of the first fold's test part only: that fold's threshold must not move.
    order = np.random.default_rng(0).permutation(300)
    first_test = np.sort(order[0::5])
    changed = oral.copy()
    changed[first_test] += 5.0
    again = cross_validate(fit_constant_offset, x, changed, folds=5, seed=0)
    assert again.thresholds_c[0] == base.thresholds_c[0]
    assert again.thresholds_c[1] != base.thresholds_c[1]  # the others did train on those rows


def test_missing_data_dir_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DatasetError):
        load_camera(tmp_path, "FLIR")
    assert main(["eval", "fever", "--data", str(tmp_path), "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FLIR_groups1and2.csv" in err[0]
