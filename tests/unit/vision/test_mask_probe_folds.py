"""The fold plan of the masked-probe evaluation: the test fold is never trained on or calibrated on."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.vision.lfw_mask_probe import N_FOLDS, _other_folds, run_mask_probe


@pytest.mark.parametrize("train_folds", [1, 2, 8])
def test_every_test_fold_gets_a_distinct_calibration_fold_and_training_folds(train_folds: int) -> None:
    for k in range(N_FOLDS):
        plan = _other_folds(k, train_folds)
        assert k not in plan
        assert len(plan) == len(set(plan)) == train_folds + 1
        assert plan[0] == (k + 1) % N_FOLDS


@pytest.mark.parametrize("train_folds", [0, 9])
def test_impossible_training_plans_are_refused(train_folds: int) -> None:
    with pytest.raises(ValueError, match="train_folds"):
        run_mask_probe(None, Path("."), 1, train_folds=train_folds)  # type: ignore[arg-type]
