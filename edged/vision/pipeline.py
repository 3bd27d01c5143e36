"""One call from a BGR frame to typed face records: detect → landmarks → align → quality → embed,
liveness and mask on demand. The models own their pre/post-processing; the engines are swappable."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edged.models import ModelError, resolve_models_dir, verified_path
from edged.vision.align import align
from edged.vision.config import EngineConfig, OnnxRuntimeEngineConfig, VisionConfig
from edged.vision.detector import FaceDetector
from edged.vision.embedder import Embedder
from edged.vision.embedders import embedder_model
from edged.vision.engines import create_engine
from edged.vision.faces import Face
from edged.vision.image_io import to_bgr8
from edged.vision.landmarks import LandmarkModel, to_five_points
from edged.vision.liveness import LivenessModel
from edged.vision.quality import assess

if TYPE_CHECKING:
    from edged.config.schema import EdgedConfig

log = logging.getLogger(__name__)
MASKED_STATES = ("mask", "incorrect")  # mask classifier states whose faces the masked-face head embeds


class MaskClassifier(Protocol):
    def classify(self, faces: list[Face], bgr: np.ndarray) -> None:
        """Fill ``face.mask`` for every face."""


@dataclass
class StageTimes:
    """Milliseconds spent per stage in the last call (for benchmarks and the events' latency fields)."""

    ms: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - since) * 1000.0
        return now


class FacePipeline:
    def __init__(
        self,
        models_dir: Path | None = None,
        engine: EngineConfig | None = None,
        vision: VisionConfig | None = None,
        mask_classifier: MaskClassifier | None = None,
        masked_embedder: Embedder | None = None,
    ):
        models_dir = resolve_models_dir(models_dir)
        self.models_dir = models_dir
        engine = engine or OnnxRuntimeEngineConfig()
        self.config = vision or VisionConfig()

        def load(name: str) -> Any:
            return create_engine(verified_path(models_dir, name), engine)

        self.detector = FaceDetector(load("fr_detect.onnx"), self.config.detector)
        self.landmarks = LandmarkModel(load("fr_landmark.onnx"), mirror=self.config.mirror_landmarks)
        spec = embedder_model(self.config.embedder)
        try:
            embedder_engine = load(spec.file)
        except ModelError as exc:
            if spec.package is None:
                raise
            raise ModelError(
                f"{exc}; vision.embedder {spec.name}: run 'edged models fetch --embedder {spec.name}'"
            ) from None
        self.embedder = Embedder(
            embedder_engine, flip=self.config.flip_embedding, grey=self.config.grey_embedding, model=spec
        )
        self.liveness = LivenessModel(load("fr_liveness.onnx"))
        self.mask_classifier = mask_classifier
        self.masked_embedder = masked_embedder  # the embedder with the masked-face head (masked/head.py)
        self.times = StageTimes()

    @classmethod
    def from_config(
        cls,
        cfg: EdgedConfig,
        mask_classifier: MaskClassifier | None = None,
        masked_embedder: Embedder | None = None,
    ) -> FacePipeline:
        return cls(cfg.models.dir, cfg.engine, cfg.vision, mask_classifier, masked_embedder)

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """Faces with box, landmarks, five points, aligned crop and quality; best detector score first."""
        bgr = to_bgr8(bgr, "frame")
        h, w = bgr.shape[:2]
        if h < 8 or w < 8:
            return []
        t = time.perf_counter()
        boxes, scores = self.detector.detect(bgr)
        t = self.times.add("detect", t)
        lms = self.landmarks.predict(bgr, boxes)
        t = self.times.add("landmarks", t)
        faces = []
        for box, score, lm in zip(boxes, scores, lms, strict=True):
            p5 = to_five_points(lm)
            crop = align(bgr, p5)
            q = assess(box, lm, crop, w, h, self.config.detector, self.config.quality)
            faces.append(Face(box=box, score=float(score), landmarks=lm, points5=p5, aligned=crop, quality=q))
        self.times.add("align", t)
        return faces

    def embed(self, faces: list[Face]) -> None:
        """Faces the mask classifier (run before) calls masked go to the masked-face head when it is
        loaded; all others to the plain embedder. ``face.embedded_by`` says which."""
        t = time.perf_counter()
        routes: dict[str, tuple[Embedder, list[Face]]] = {"embedder": (self.embedder, [])}
        if self.masked_embedder is not None:
            routes["masked_head"] = (self.masked_embedder, [])
        for face in faces:
            if face.aligned is None:
                continue
            masked = face.mask is not None and face.mask.state in MASKED_STATES
            routes["masked_head" if masked and "masked_head" in routes else "embedder"][1].append(face)
        for name, (embedder, group) in routes.items():
            if not group:
                continue
            vectors = embedder.embed([f.aligned for f in group if f.aligned is not None])
            for face, v in zip(group, vectors, strict=True):
                face.embedding, face.embedded_by = v, name
        self.times.add("embed", t)

    def check_liveness(self, bgr: np.ndarray, faces: list[Face]) -> None:
        if not faces:
            return
        t = time.perf_counter()
        scores = self.liveness.live_scores(bgr, np.stack([f.box for f in faces]))
        for face, s in zip(faces, scores, strict=True):
            face.liveness = float(s)
        self.times.add("liveness", t)

    def classify_masks(self, bgr: np.ndarray, faces: list[Face]) -> None:
        if self.mask_classifier is None or not faces:
            return
        t = time.perf_counter()
        self.mask_classifier.classify(faces, bgr)
        self.times.add("mask", t)

    def analyse(
        self, bgr: np.ndarray, *, embed: bool = True, liveness: bool = True, mask: bool = True
    ) -> list[Face]:
        self.times = StageTimes()
        bgr = to_bgr8(bgr, "frame")
        faces = self.detect(bgr)
        if mask:
            self.classify_masks(bgr, faces)
        if embed:
            self.embed(faces)
        if liveness:
            self.check_liveness(bgr, faces)
        return faces


def load_mask_classifier(cfg: EdgedConfig) -> MaskClassifier | None:
    """The project's own mask classifier (edged/vision/mask.py), verified against its model card."""
    from edged.vision.mask import load_mask_classifier as load

    return load(cfg)


def load_masked_embedder(cfg: EdgedConfig) -> Embedder | None:
    """The embedder with the shipped masked-face head (edged/vision/masked/head.py), verified."""
    from edged.vision.masked.head import load_masked_embedder as load

    return load(cfg)
