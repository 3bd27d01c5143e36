from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.peers import bench
from edged.peers.runner import rotation
from edged.vision.lfw import Pair


def _pair(i: int, same: bool, fold: int = 0) -> Pair:
    return Pair(Path(f"a{i}.jpg"), Path(f"b{i}.jpg"), same, fold)


def test_a_missed_face_scores_below_every_real_pair() -> None:
    pairs = [_pair(0, True), _pair(1, False), _pair(2, True)]
    a = {"a0.jpg": np.array([1.0, 0.0]), "a1.jpg": np.array([1.0, 0.0]), "a2.jpg": None}
    b = {"b0.jpg": np.array([1.0, 0.0]), "b1.jpg": np.array([-1.0, 0.0]), "b2.jpg": np.array([1.0, 0.0])}
    scores, missed = bench.pair_scores("edged", pairs, a, b)
    assert missed == 1
    assert scores[0] == 1.0 and scores[1] == -1.0 and scores[2] < -1.0


def test_face_recognition_scores_are_minus_the_distance() -> None:
    pairs = [_pair(0, True)]
    scores, _ = bench.pair_scores(
        "face_recognition", pairs, {"a0.jpg": np.array([0.0, 0.0])}, {"b0.jpg": np.array([3.0, 4.0])}
    )
    assert scores[0] == pytest.approx(-5.0)


def test_subsample_keeps_both_classes_of_every_fold() -> None:
    pairs = [_pair(i, i % 2 == 0, fold=i // 10) for i in range(30)]
    kept = bench.subsample(pairs, 4)
    assert len(kept) == 12
    for fold in range(3):
        assert sum(p.same for p in kept if p.fold == fold) == 2
        assert sum(not p.same for p in kept if p.fold == fold) == 2
    assert bench.subsample(pairs, None) == pairs


def test_ratios_are_edged_over_peer_and_skip_what_a_detector_cannot_do() -> None:
    out = {
        "edged": {"ms_per_image": 20.0, "mask_photo_detect_ms": 5.0, "video_detect_ms": 8.0},
        "face_recognition": {"ms_per_image": 200.0, "mask_photo_detect_ms": 50.0, "video_detect_ms": 4.0},
        "opencv_ssd": {"ms_per_image": 10.0, "mask_photo_detect_ms": 10.0, "video_detect_ms": 16.0},
    }
    r = bench.ratios(out)
    assert r["face_recognition"]["ms_per_image"] == pytest.approx(0.1)
    assert r["face_recognition"]["speedup_per_image"] == pytest.approx(10.0)
    assert r["face_recognition"]["video_detect_ms"] == pytest.approx(2.0)
    assert "ms_per_image" not in r["opencv_ssd"]  # detection only: not the same work as edged's
    assert r["opencv_ssd"]["mask_photo_detect_ms"] == pytest.approx(0.5)


def test_stats_of_nothing_is_none() -> None:
    assert bench.stats([])["mean"] is None
    assert bench.stats([1.0, 3.0])["mean"] == 2.0


def test_rotation_puts_every_pipeline_first_in_turn() -> None:
    names = ["a", "b", "c"]
    firsts = [rotation(names, k)[0] for k in range(3)]
    assert sorted(firsts) == names
    assert all(sorted(rotation(names, k)) == names for k in range(5))


def test_missing_data_and_bad_options_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(bench.BenchError, match="pairs.txt: missing"):
        bench.check_data(bench.Options(tmp_path, ["edged"]))
    good = tmp_path / "d"
    for rel in (Path("lfw/pairs.txt"), bench.MASKS / "annotations", bench.VIDEO):
        (good / rel).parent.mkdir(parents=True, exist_ok=True)
        (good / rel).touch()
    with pytest.raises(bench.BenchError, match="must include edged"):
        bench.check_data(bench.Options(good, ["face_recognition"]))
    with pytest.raises(bench.BenchError, match="--folds"):
        bench.check_data(bench.Options(good, ["edged"], folds=11))
    with pytest.raises(bench.BenchError, match="--pairs-per-fold"):
        bench.check_data(bench.Options(good, ["edged"], pairs_per_fold=1))
