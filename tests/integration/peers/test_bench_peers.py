"""The reduced ``edged bench peers`` CI runs (one LFW fold, a slice of its pairs, 50 clip frames): every
pipeline for real on the real data, so the benchmark cannot rot. Figures are checked for sanity only;
the timings are reported by the command, never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.cli import main
from edged.peers.files import default_peers_dir, missing_peer_files
from tests.conftest import need

pytestmark = pytest.mark.slow


def test_reduced_run_reports_every_pipeline(
    shared_data: Path, models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peers = default_peers_dir()
    need(not missing_peer_files(peers), "peer model files (run scripts/fetch-peers)")
    pytest.importorskip("dlib", reason="dlib-bin (scripts/fetch-peers)")
    argv = ["bench", "peers", "--json", "--data", str(shared_data), "--models-dir", str(models_dir)]
    argv += ["--folds", "1", "--pairs-per-fold", "60", "--masked-folds", "1", "--frames", "50"]
    argv += ["--mask-images", "30", "--plot", str(tmp_path / "img")]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    for name in ("edged", "face_recognition", "mtcnn", "opencv_ssd"):
        r = report[name]
        assert r["ms_per_image"] > 0 and r["video_frames"] == 50
        assert 0.0 <= r["mask_detection_recall"] <= 1.0
        assert r["lfw_images"] > 0
    for name in ("edged", "face_recognition", "mtcnn"):
        r = report[name]
        assert 0.5 <= r["lfw_accuracy"] <= 1.0 and 0.0 <= r["lfw_tar_at_far_1e-3"] <= 1.0
        assert r["masked_lfw_pairs"] == 60 and r["lfw_pairs"] == 60
    assert report["opencv_ssd"]["lfw_accuracy"] is None  # a detector only
    assert report["edged"]["lfw_faces_missed"] == 0
    assert set(report["ratios"]) == {"face_recognition", "mtcnn", "opencv_ssd"}
    assert report["ratios"]["face_recognition"]["ms_per_image"] > 0
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["peers-latency.png", "peers-roc.png"]
