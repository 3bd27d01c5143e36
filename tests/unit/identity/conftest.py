from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.identity.config import IdentityConfig
from edged.identity.crypto import write_new_key
from edged.identity.records import NewTemplate, Person, utc_now
from edged.identity.store import ModelTag

MODEL = ModelTag("test-embedder", "v1")


def unit_vectors(n: int, dim: int = 512, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def person(pid: str, name: str | None = None, **extra: object) -> Person:
    return Person(
        person_id=pid, name=name or f"Name of {pid}", consent_at=utc_now(), consent_source="test", **extra
    )  # type: ignore[arg-type]


def templates(vectors: np.ndarray) -> list[NewTemplate]:
    return [NewTemplate(v, masked=False, quality=0.5) for v in vectors]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "template.key"
    write_new_key(path)
    return path


@pytest.fixture
def identity_config(tmp_path: Path, key_file: Path) -> IdentityConfig:
    return IdentityConfig.model_validate(
        {"database": str(tmp_path / "gallery.db"), "template_key": {"file": str(key_file)}}
    )
