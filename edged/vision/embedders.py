"""The face embedders edged can run, chosen by ``vision.embedder``; what each expects and produces.

Both take the 112×112 crop aligned to the same five-point template (``edged.vision.align``) in RGB order.
They differ in size, in how pixels are scaled and in the length of the vector; a gallery records which
one made its templates (``edged.identity.gallery.embedder_tag``), so templates of two models never mix.
Figures and the reasons for the default: docs/identity.md, "Embedders".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EmbedderName = Literal["fr_feature", "sface"]


@dataclass(frozen=True)
class EmbedderModel:
    name: str  # the config value, the gallery tag's model id and the engine's model name
    file: str  # the pinned model file (edged.models.PINNED)
    dim: int  # length of the embedding
    unit_scale: bool  # True: the graph takes (x - 127) / 128; False: raw 0..255 (it scales inside)
    package: str | None  # key in edged.models.OPTIONAL_PACKAGES; None: part of the default set


EMBEDDER_MODELS: dict[str, EmbedderModel] = {
    "fr_feature": EmbedderModel("fr_feature", "fr_feature.onnx", 512, True, None),
    "sface": EmbedderModel("sface", "sface.onnx", 128, False, "sface"),
}
DEFAULT_EMBEDDER = "fr_feature"


def embedder_model(name: str) -> EmbedderModel:
    try:
        return EMBEDDER_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r} (known: {', '.join(sorted(EMBEDDER_MODELS))})") from None
