import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edged.cli import main
from edged.vision.engines.trt_profiles import BatchProfile
from edged.vision.engines.trt_trtexec import trtexec_command

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None and importlib.util.find_spec("pycuda") is not None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text(text)
    return path


def test_nothing_to_build_for_onnxruntime(capsys):
    assert main(["build-engines", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "onnxruntime"


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here: the missing-TensorRT message cannot show")
def test_missing_tensorrt_is_one_clear_line(tmp_path, capsys):
    assert main(["build-engines", "--config", str(write(tmp_path, "engine:\n  type: tensorrt\n"))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "TensorRT" in err and "Traceback" not in err


def test_int8_without_calibration_is_refused(tmp_path, capsys):
    cfg = write(tmp_path, "engine:\n  type: tensorrt\n")
    assert main(["build-engines", "--config", str(cfg), "--precision", "int8"]) == 2
    assert "int8_calibration_dir" in capsys.readouterr().err


def test_unknown_engine_key_is_a_config_error(tmp_path, capsys):
    cfg = write(tmp_path, "engine:\n  type: tensorrt\n  fp8: true\n")
    assert main(["build-engines", "--config", str(cfg)]) == 2
    assert "edged.yaml:3" in capsys.readouterr().err


def test_trtexec_line_for_a_per_face_model():
    line = trtexec_command(
        Path("/x/fr_feature.prepared.onnx"),
        Path("/x/fr_feature.fp16.engine"),
        "input",
        (None, 3, 112, 112),
        (BatchProfile(1, 1, 1), BatchProfile(2, 4, 8)),
        "fp16",
        512,
    )
    assert line.split() == [
        "trtexec",
        "--onnx=/x/fr_feature.prepared.onnx",
        "--saveEngine=/x/fr_feature.fp16.engine",
        "--memPoolSize=workspace:512M",
        "--fp16",
        "--minShapes=input:1x3x112x112",
        "--optShapes=input:4x3x112x112",
        "--maxShapes=input:8x3x112x112",
    ]


def test_fp32_trtexec_line_has_no_reduced_precision():
    line = trtexec_command(
        Path("a.onnx"), Path("a.engine"), "input", (1, 3, 240, 320), (BatchProfile(1, 1, 1),), "fp32", 1024
    )
    assert "--fp16" not in line and "--int8" not in line
    assert "--maxShapes=input:1x3x240x320" in line


def test_print_trtexec_writes_the_graph_both_backends_build_from(models_dir, tmp_path, capsys):
    out = tmp_path / "prepared"
    code = main(["build-engines", "--models-dir", str(models_dir), "--print-trtexec", str(out), "--json"])
    assert code == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert set(rows) == {"fr_detect", "fr_landmark", "fr_feature", "fr_liveness"}
    assert "--maxShapes=input:8x3x112x112" in rows["fr_feature"]["trtexec"]
    assert "--maxShapes=input:1x3x240x320" in rows["fr_detect"]["trtexec"]
    # the written graph takes a batch of faces and gives per-row the same as the original file
    prepared = ort.InferenceSession(rows["fr_feature"]["prepared_onnx"])
    original = ort.InferenceSession(str(models_dir / "fr_feature.onnx"))
    x = np.random.default_rng(3).uniform(-1, 1, (3, 3, 112, 112)).astype(np.float32)
    batched = prepared.run(None, {"input": x})[0]
    singles = np.concatenate([original.run(None, {"input": x[i : i + 1]})[0] for i in range(3)])
    cos = (batched * singles).sum(1) / np.linalg.norm(batched, axis=1) / np.linalg.norm(singles, axis=1)
    assert batched.shape == (3, 512)
    assert cos.min() > 0.9999


def test_fp32_models_override_the_precision(models_dir, tmp_path, capsys):
    cfg = write(tmp_path, "engine:\n  type: tensorrt\n  fp32_models: [fr_detect]\n")
    args = ["build-engines", "--config", str(cfg), "--models-dir", str(models_dir), "--json"]
    assert main([*args, "--print-trtexec", str(tmp_path / "out")]) == 0
    rows = {r["model"]: r["trtexec"] for r in json.loads(capsys.readouterr().out)["models"]}
    assert "--fp16" not in rows["fr_detect"] and "fr_detect.fp32.engine" in rows["fr_detect"]
    assert "--fp16" in rows["fr_feature"]


def test_fp32_models_must_be_known_models(tmp_path, capsys):
    cfg = write(tmp_path, "engine:\n  type: tensorrt\n  fp32_models: [fr_eye]\n")
    assert main(["build-engines", "--config", str(cfg)]) == 2
    assert "fp32_models" in capsys.readouterr().err
