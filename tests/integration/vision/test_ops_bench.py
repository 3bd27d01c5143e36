"""``edged bench ops``: ONNX Runtime's own profile of a real model, by operator type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.cli import main
from edged.vision.ops_bench import profile_ops


def test_profile_shows_the_prelu_rewrite(models_dir: Path) -> None:
    before = profile_ops(models_dir / "fr_feature.onnx", runs=3, prelu_split=False)
    after = profile_ops(models_dir / "fr_feature.onnx", runs=3)
    assert before["ops"]["PRelu"]["nodes"] == 33 and "PRelu" not in after["ops"]
    assert after["ops"]["Relu"]["nodes"] == 33
    for result in (before, after):
        assert sum(r["share"] for r in result["ops"].values()) == pytest.approx(1.0)
        assert result["ms_per_run"] > 0


def test_cli_names_the_known_models(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "edged.yaml"
    config.write_text(f"models:\n  dir: {models_dir}\n")
    assert main(["bench", "ops", "--model", "fr_landmark", "--runs", "2", "--json", "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "fr_landmark.onnx"
    assert main(["bench", "ops", "--model", "fr_nothing"]) == 2
    assert "not one of fr_detect, fr_feature" in capsys.readouterr().err
