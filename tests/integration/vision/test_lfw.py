"""LFW View 2, fold 1 in full (600 pairs), through the CLI's JSON; its threshold comes from folds 2-10."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edged.cli import main
from edged.vision.lfw import best_threshold, evaluate, read_pairs, tar_at_far


def test_fold_one_accuracy_floor(
    shared_data: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "lfw", "--data", str(shared_data / "lfw"), "--folds", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 600
    assert result["missed"] == 0
    assert result["accuracy"] >= 0.99
    assert set(result["tar_at_far"]) == {"0.01", "0.001"}
    assert result["images_per_second"] > 0


def test_pairs_file_is_read_as_ten_folds(shared_data: Path) -> None:
    pairs = read_pairs(shared_data / "lfw")
    assert len(pairs) == 6000
    assert [sum(p.fold == k for p in pairs) for k in range(10)] == [600] * 10
    assert all(p.a.is_file() and p.b.is_file() for p in pairs[:50])
    assert sum(p.same for p in pairs) == 3000


def test_protocol_arithmetic() -> None:
    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 500)
    scores = np.where(same, rng.normal(0.6, 0.1, 1000), rng.normal(0.1, 0.1, 1000))
    t = best_threshold(scores, same)
    assert 0.25 < t < 0.45
    folds = np.tile(np.arange(10), 100)
    out = evaluate(scores, same, folds)
    assert 0.98 < out["accuracy"] <= 1.0
    tar, thr = tar_at_far(scores, same, 0.01)
    assert (scores[~same] >= thr).mean() <= 0.01
    assert tar == (scores[same] >= thr).mean()
    with pytest.raises(ValueError, match="other folds"):
        evaluate(scores[folds == 0], same[folds == 0], folds[folds == 0])
    first = evaluate(scores, same, folds, test_folds=[0])
    assert first["fold_accuracy"] == [out["fold_accuracy"][0]]
