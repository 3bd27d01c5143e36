"""The project's own mask classifier (mask / no_mask / incorrect) and the crop it reads.

``classifier_crop`` is the one function that turns a frame and a detector box into the classifier's
input: the training script (scripts/train-mask) and the pipeline both call it, so training and serving
see the same crops. The crop's side is read from the model's input, so a model trained on larger
crops (``scripts/train-mask --crop-px``) is served with them. The ONNX file ships in
edged/vision/data/ and is checked against the sha256 in its model card before it is used.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edged.models import ModelError
from edged.vision.engines import Engine, EngineError, create_engine
from edged.vision.faces import Face, MaskState

if TYPE_CHECKING:
    from edged.config.schema import EdgedConfig
    from edged.vision.config import EngineConfig

CLASSES = ("mask", "no_mask", "incorrect")
CROP_PX = 64  # the shipped model's input side; training's default
CROP_SCALE = 1.2  # side of the square crop, as a multiple of the detector box's larger side
DATA_DIR = Path(__file__).parent / "data"
MODEL_PATH = DATA_DIR / "mask_classifier.onnx"
CARD_PATH = DATA_DIR / "MASK_MODEL_CARD.md"


class MaskModelError(ModelError):
    pass


def classifier_crop(bgr: np.ndarray, box: np.ndarray, px: int = CROP_PX) -> np.ndarray:
    """A ``px`` square BGR crop centred on ``box`` (x1, y1, x2, y2), edges replicated past the frame."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1, 1.0) * CROP_SCALE
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = px / side
    m = np.array([[scale, 0, px / 2 - scale * cx], [0, scale, px / 2 - scale * cy]], np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(bgr, m, (px, px), flags=interp, borderMode=cv2.BORDER_REPLICATE)


def to_input(crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """BGR uint8 crops → N×3×px×px float32 RGB scaled to −1..1 (the classifier's layout)."""
    x = np.asarray(crops, np.float32)[..., ::-1]
    return np.ascontiguousarray(((x - 127.5) / 127.5).transpose(0, 3, 1, 2))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def card_sha256(card: Path = CARD_PATH) -> str:
    try:
        text = card.read_text()
    except OSError as exc:
        raise MaskModelError(f"{card}: cannot read the model card: {exc.strerror}") from None
    found = re.search(r"sha256[^0-9a-f]*([0-9a-f]{64})", text)
    if not found:
        raise MaskModelError(f"{card}: no sha256 of the model file found")
    return found.group(1)


def verify(model: Path = MODEL_PATH, card: Path = CARD_PATH) -> str:
    """The model's sha256 if it matches its model card, else a clear error."""
    try:
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
    except OSError as exc:
        raise MaskModelError(f"{model}: cannot read it: {exc.strerror}") from None
    expected = card_sha256(card)
    if digest != expected:
        raise MaskModelError(f"{model}: sha256 {digest} does not match its model card ({expected})")
    return digest


class MaskClassifier:
    """Fills ``face.mask`` from the face's detector box; one batched call per frame."""

    def __init__(self, engine: Engine):
        self.engine = engine
        shape = engine.inputs[0].shape
        if len(shape) != 4 or shape[1] != 3 or shape[2] is None or shape[2] != shape[3]:
            raise MaskModelError(f"{engine.name}: input {shape} is not N×3×S×S (square RGB crops)")
        self.crop_px: int = shape[2]

    def crop(self, bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The crop this model reads for ``box``."""
        return classifier_crop(bgr, box, self.crop_px)

    def probabilities(self, crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(CLASSES)), np.float32)
        return softmax(self.engine.infer(to_input(crops))[0])

    def classify(self, faces: list[Face], bgr: np.ndarray) -> None:
        if not faces:
            return
        probs = self.probabilities([self.crop(bgr, f.box) for f in faces])
        for face, p in zip(faces, probs, strict=True):
            k = int(np.argmax(p))
            face.mask = MaskState(state=CLASSES[k], score=float(p[k]))


def open_classifier(engine_cfg: EngineConfig | None = None, model: Path | None = None) -> MaskClassifier:
    """The classifier in ``model`` (default: the shipped one), verified against the card beside it."""
    from edged.vision.config import OnnxRuntimeEngineConfig

    model = model or MODEL_PATH
    verify(model, model.with_name(CARD_PATH.name))
    try:
        return MaskClassifier(create_engine(model, engine_cfg or OnnxRuntimeEngineConfig()))
    except EngineError as exc:
        raise MaskModelError(str(exc)) from None


def load_mask_classifier(cfg: EdgedConfig) -> MaskClassifier | None:
    """The shipped classifier on the configured engine; ``None`` when the file is not installed."""
    if not MODEL_PATH.exists():
        return None
    return open_classifier(cfg.engine)
