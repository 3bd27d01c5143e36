"""Convert the res10 SSD from Caffe to ONNX (OpenCV 5 reads no Caffe), keeping the network up to its
box and class heads. Prior boxes and the detection-output step are done in ``edged.peers.ssd``.

caffe2onnx is run from its pinned sdist (its setup pins onnx 1.6, so it is not installed) in a child
process with the pure-Python protobuf runtime its generated ``caffe_pb2`` needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import onnx

from edged.models import ModelError

HEADS = {"mbox_loc": 35568, "mbox_conf_flatten": 17784}  # 8,892 priors × 4 box deltas, × 2 classes
PRIOR_OPS = {"PriorBox", "DetectionOutput"}


def run_caffe2onnx(converter_src: Path, prototxt: Path, caffemodel: Path, out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(converter_src), PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    cmd = [sys.executable, "-m", "caffe2onnx.convert", "--prototxt", str(prototxt)]
    cmd += ["--caffemodel", str(caffemodel), "--onnx", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0 or not out.is_file():
        raise ModelError(f"caffe2onnx failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


def cut_at_heads(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the Caffe-only prior/detection nodes, expose the heads, move weights out of the inputs."""
    g = model.graph
    keep = [n for n in g.node if n.op_type not in PRIOR_OPS and n.name != "mbox_priorbox"]
    del g.node[:]
    g.node.extend(keep)
    weights = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in weights]
    del g.input[:]
    g.input.extend(inputs)
    del g.output[:]
    for name, size in HEADS.items():
        g.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, size]))
    del g.value_info[:]
    onnx.checker.check_model(model)
    return model


def convert_res10(converter_sdist: Path, src_name: str, prototxt: Path, caffemodel: Path, out: Path) -> None:
    work = out.parent
    with tarfile.open(converter_sdist, "r:gz") as tar:
        tar.extractall(work, filter="data")
    full = work / "res10_full.onnx"
    run_caffe2onnx(work / src_name, prototxt, caffemodel, full)
    onnx.save(cut_at_heads(onnx.load(str(full))), str(out))
