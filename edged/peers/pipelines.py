"""The benchmarked pipelines: edged itself and the peers, each behind ``edged.peers.base.Pipeline``.

All run single-threaded by default (``threads``): dlib has no thread pool, so the others get the same.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edged.models import verified_path
from edged.peers.base import Detection, Pipeline, central
from edged.peers.mtcnn import Mtcnn
from edged.peers.ssd import Res10Ssd
from edged.vision.align import align
from edged.vision.config import OnnxRuntimeEngineConfig, VisionConfig
from edged.vision.embedder import Embedder
from edged.vision.engines import create_engine
from edged.vision.faces import Face
from edged.vision.lfw_run import find_face
from edged.vision.pipeline import FacePipeline

PEER_NAMES = ("face_recognition", "mtcnn", "opencv_ssd")
SMALLEST_FACE_PX = 20
"""The smallest face the detection measures look for, for edged and MTCNN alike (MTCNN's usual
setting). edged's configured ``min_face_px`` is a gate policy (too far away to identify), not what the
detector can find; cut at the very width the recall counts, a face whose box comes out one pixel
narrower than the annotator's would be lost to box style. dlib's HOG (one upsampling, its default)
stops near 40 px by design; the SSD has no minimum."""


class PeerUnavailable(Exception):
    """A peer's package or files are not installed (``scripts/fetch-peers`` installs them)."""


@dataclass(frozen=True)
class Settings:
    models_dir: Path
    peers_dir: Path
    vision: VisionConfig
    threads: int = 1


def engine_config(threads: int) -> OnnxRuntimeEngineConfig:
    return OnnxRuntimeEngineConfig.model_validate({"intra_op_threads": threads, "inter_op_threads": 1})


class EdgedPipeline(Pipeline):
    name = "edged"
    can_embed = True
    describe = "RFB-320 detector, 68-point landmarks, 5-point alignment, MobileFaceNet 512-D"

    def __init__(self, s: Settings):
        self.face = FacePipeline(s.models_dir, engine_config(s.threads), s.vision)
        self.match_threshold = s.vision.match_threshold
        self.detect_config = s.vision.detector.model_copy(update={"min_face_px": SMALLEST_FACE_PX})

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        """The detection measures: every face down to ``SMALLEST_FACE_PX``; LFW identification keeps
        the configured minimum."""
        configured = self.face.detector.config
        self.face.detector.config = self.detect_config
        try:
            return [Detection(f.box, f.score) for f in self.face.detect(bgr)]
        finally:
            self.face.detector.config = configured

    def central_face(self, bgr: np.ndarray) -> Face | None:
        return find_face(self.face, bgr)

    def identify(self, bgr: np.ndarray) -> np.ndarray | None:
        face = find_face(self.face, bgr)
        if face is None:
            return None
        self.face.embed([face])
        return face.embedding


def dlib_model_files() -> dict[str, Path]:
    """The files of the ``face-recognition-models`` wheel, found without importing it (its ``__init__``
    needs ``pkg_resources``, which current setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable(
            "face_recognition: face-recognition-models is not installed; run scripts/fetch-peers"
        )
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    files = {
        "shape5": models / "shape_predictor_5_face_landmarks.dat",
        "resnet": models / "dlib_face_recognition_resnet_model_v1.dat",
    }
    for path in files.values():
        if not path.is_file():
            raise PeerUnavailable(f"face_recognition: {path} missing; run scripts/fetch-peers")
    return files


class FaceRecognitionPipeline(Pipeline):
    """The classic DIY gate, made of the dlib calls ``face_recognition.face_locations`` and
    ``face_encodings`` make with their defaults: HOG with one upsampling, 5-point shape, ResNet 128-D,
    one jitter; a match is a Euclidean distance of at most 0.6."""

    name = "face_recognition"
    can_embed = True
    match_threshold = -0.6  # similarity is minus the distance
    describe = "dlib HOG detector (upsample 1), 5-point shape, dlib ResNet 128-D, Euclidean distance"

    def __init__(self, s: Settings):
        try:
            import dlib
        except ImportError as exc:
            raise PeerUnavailable(f"face_recognition: {exc}; run scripts/fetch-peers") from None
        files = dlib_model_files()
        self.dlib: Any = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(files["shape5"]))
        self.encoder = dlib.face_recognition_model_v1(str(files["resnet"]))

    def _rects(self, rgb: np.ndarray) -> list[Any]:
        h, w = rgb.shape[:2]
        out = []
        for r in self.detector(rgb, 1):
            x1, y1 = max(r.left(), 0), max(r.top(), 0)
            x2, y2 = min(r.right(), w), min(r.bottom(), h)
            out.append(self.dlib.rectangle(x1, y1, x2, y2))
        return out

    @staticmethod
    def _box(r: Any) -> np.ndarray:
        return np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32)

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return [Detection(self._box(r), 1.0) for r in self._rects(rgb)]

    def identify(self, bgr: np.ndarray) -> np.ndarray | None:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rects = self._rects(rgb)
        i = central([self._box(r) for r in rects], rgb.shape[1], rgb.shape[0])
        if i is None:
            return None
        shape = self.shape(rgb, rects[i])
        return np.asarray(self.encoder.compute_face_descriptor(rgb, shape, 1), np.float32)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return -float(np.linalg.norm(a - b))


class MtcnnPipeline(Pipeline):
    """MTCNN boxes and five points, then edged's own alignment and embedder: isolates the detector."""

    name = "mtcnn"
    can_embed = True
    describe = "MTCNN (P/R/O-Net, min face 20, thresholds 0.6/0.7/0.7) + edged's alignment and embedder"

    def __init__(self, s: Settings):
        self.mtcnn = Mtcnn(s.peers_dir, threads=s.threads, min_face=SMALLEST_FACE_PX)
        engine = create_engine(verified_path(s.models_dir, "fr_feature.onnx"), engine_config(s.threads))
        self.embedder = Embedder(engine, flip=s.vision.flip_embedding, grey=s.vision.grey_embedding)
        self.match_threshold = s.vision.match_threshold

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        boxes, scores, _ = self.mtcnn.detect(bgr)
        return [Detection(b, float(s)) for b, s in zip(boxes, scores, strict=True)]

    def identify(self, bgr: np.ndarray) -> np.ndarray | None:
        boxes, _, points = self.mtcnn.detect(bgr)
        i = central(list(boxes), bgr.shape[1], bgr.shape[0])
        if i is None:
            return None
        return self.embedder.embed([align(bgr, points[i])])[0]


class SsdPipeline(Pipeline):
    name = "opencv_ssd"
    can_embed = False
    describe = "OpenCV res10 SSD 300×300 (OpenCV DNN), confidence 0.5; detector only, no embedder"

    def __init__(self, s: Settings):
        cv2.setNumThreads(s.threads)
        self.ssd = Res10Ssd(s.peers_dir)

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        boxes, scores = self.ssd.detect(bgr)
        return [Detection(b, float(s)) for b, s in zip(boxes, scores, strict=True)]


FACTORIES: dict[str, type[Pipeline]] = {
    "edged": EdgedPipeline,
    "face_recognition": FaceRecognitionPipeline,
    "mtcnn": MtcnnPipeline,
    "opencv_ssd": SsdPipeline,
}


def build(names: list[str], s: Settings) -> list[Pipeline]:
    made: list[Pipeline] = []
    for n in names:
        factory: Callable[[Settings], Pipeline] = FACTORIES[n]
        made.append(factory(s))
    return made
