"""Face embedding of aligned crops, L2-normalised; compare two by their dot product (cosine). The model
(``fr_feature``, 512-D, or ``sface``, 128-D) is described by ``edged.vision.embedders``."""

from __future__ import annotations

import cv2
import numpy as np

from edged.vision.embedders import DEFAULT_EMBEDDER, EmbedderModel, embedder_model
from edged.vision.engines import Engine


def preprocess(aligned_bgr: list[np.ndarray], flip: bool, grey: bool, unit_scale: bool = True) -> np.ndarray:
    """NCHW float RGB input; ``grey`` puts the crop's luma in all three channels; ``unit_scale`` maps
    0..255 to about -1..1 as ``fr_feature`` expects, else the raw values go in (SFace scales inside)."""
    if grey:
        luma = np.stack([cv2.cvtColor(a, cv2.COLOR_BGR2GRAY) for a in aligned_bgr])
        rgb = np.repeat(luma[..., None], 3, axis=-1)
    else:
        rgb = np.stack([cv2.cvtColor(a, cv2.COLOR_BGR2RGB) for a in aligned_bgr])
    if flip:
        rgb = np.concatenate([rgb, rgb[:, :, ::-1]])
    x = rgb.astype(np.float32)
    if unit_scale:
        x = (x - 127.0) / 128.0
    return x.transpose(0, 3, 1, 2)


def l2_normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norm, 1e-12)).astype(np.float32)


class Embedder:
    """``flip=True`` adds the mirrored crop and sums both embeddings (one batch, ~1.6× the time, steadier).
    ``grey=True`` embeds the crop's luma only: a colour cast between an enrolment photo and the gate camera
    then does not move the vector (docs/identity.md, "Grey embedding"). ``model`` says how the engine's
    graph wants its input and how long its vectors are."""

    def __init__(
        self, engine: Engine, flip: bool = True, grey: bool = True, model: EmbedderModel | None = None
    ):
        self.engine = engine
        self.flip = flip
        self.grey = grey
        self.model = model or embedder_model(DEFAULT_EMBEDDER)
        self.dim = self.model.dim

    def embed(self, aligned_bgr: list[np.ndarray]) -> np.ndarray:
        if not aligned_bgr:
            return np.zeros((0, self.dim), np.float32)
        x = preprocess(aligned_bgr, self.flip, self.grey, self.model.unit_scale)
        out = self.engine.infer(x)[0]
        return combine(out, len(aligned_bgr), self.flip)


def combine(out: np.ndarray, n: int, flip: bool) -> np.ndarray:
    """Unit embeddings from the model's outputs for n crops (then their n mirrored crops when ``flip``):
    each normalised, the pair summed, normalised again."""
    if flip:
        out = l2_normalise(out[:n]) + l2_normalise(out[n:])
    return l2_normalise(out)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(l2_normalise(a), l2_normalise(b)))
