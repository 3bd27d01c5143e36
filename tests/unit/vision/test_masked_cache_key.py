"""The masked-probe cache is named after the embedder's weights: other weights never reuse it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edged import models
from edged.vision.config import DetectorConfig
from edged.vision.masked.cache import fingerprint


def fake_pipeline() -> SimpleNamespace:
    engine = SimpleNamespace(name="fr_feature")
    return SimpleNamespace(
        embedder=SimpleNamespace(flip=True, grey=True, engine=engine),
        landmarks=SimpleNamespace(mirror=True, engine=SimpleNamespace(name="fr_landmark")),
        detector=SimpleNamespace(config=DetectorConfig(), engine=SimpleNamespace(name="fr_detect")),
    )


def test_other_embedder_weights_give_another_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(fake_pipeline())  # type: ignore[arg-type]
    monkeypatch.setitem(models.PINNED, "fr_feature.onnx", "0" * 64)
    assert fingerprint(fake_pipeline()) != before  # type: ignore[arg-type]
