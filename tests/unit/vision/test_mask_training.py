"""scripts/train-mask rebuilds the embedder's backbone in PyTorch; it must compute what the ONNX file does."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edged.models import verified_path

torch = pytest.importorskip("torch", reason="PyTorch is a training-only extra (`train`)")

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "train-mask"


def test_backbone_equals_the_embedder_up_to_its_last_feature_map(models_dir: Path) -> None:
    train_mask = runpy.run_path(str(SCRIPT))
    backbone = train_mask["embedder_backbone"](models_dir).eval()
    model = onnx.load(str(verified_path(models_dir, train_mask["BACKBONE_MODEL"])))
    name = train_mask["BACKBONE_OUTPUT"]
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    expected = session.run([name], {"input": x})[0]
    with torch.no_grad():
        got = backbone(torch.from_numpy(x)).numpy()
    assert got.shape == expected.shape == (1, 512, 7, 7)
    np.testing.assert_allclose(got, expected, atol=1e-4 * float(np.abs(expected).max()))
