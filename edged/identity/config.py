"""Config of the gallery store, the search index and enrollment checks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from edged.config.base import StrictModel
from edged.config.secrets import SecretRef


class IndexConfig(StrictModel):
    """``exact``: one float32 matmul over every template. ``binary``: sign codes of a fixed random
    projection scanned by Hamming distance, then the best ``candidates`` re-ranked exactly (float16).
    ``auto``: exact up to ``exact_max`` templates, binary above."""

    type: Literal["auto", "exact", "binary"] = "auto"
    exact_max: int = Field(
        default=20_000, ge=1, description="auto switches to the binary index above this size"
    )
    code_bits: int = Field(default=256, ge=64, le=2048, description="bits per sign code (multiple of 64)")
    candidates: int = Field(default=1024, ge=1, le=65_536, description="codes re-ranked exactly per query")
    scan_threads: int = Field(
        default=2, ge=1, le=64, description="binary index: threads that scan slices of the codes per query"
    )
    seed: int = Field(
        default=0, ge=0, description="seed of the random projection (any value; rebuilt at startup)"
    )

    @field_validator("code_bits")
    @classmethod
    def _multiple_of_64(cls, value: int) -> int:
        if value % 64:
            raise ValueError("must be a multiple of 64")
        return value


class EnrollmentConfig(StrictModel):
    min_face_px: int = Field(
        default=80, ge=16, le=4000, description="narrowest face box accepted for enrollment"
    )
    min_sharpness: float = Field(
        default=40.0, ge=0.0, description="variance of the Laplacian on the aligned crop"
    )
    max_yaw_deg: float = Field(default=25.0, gt=0.0, le=90.0)
    max_pitch_deg: float = Field(default=25.0, gt=0.0, le=90.0)
    require_liveness: bool = Field(
        default=True, description="reject photos the RGB liveness model calls a spoof"
    )
    min_liveness: float = Field(default=0.5, ge=0.0, le=1.0)
    second_face_ratio: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="a second face at least this fraction of the largest face's width rejects",
    )
    keep_photos: bool = Field(
        default=False,
        description="keep enrollment photos (encrypted) so a model change can re-embed without re-enrollment",
    )
    max_photos: int = Field(default=10, ge=1, le=100)


class IdentityConfig(StrictModel):
    database: Path | None = Field(
        default=None, description="default: $STATE_DIRECTORY/gallery.db or the user's data dir"
    )
    template_key: SecretRef | None = Field(
        default=None, description="32-byte key file (edged gallery keygen)"
    )
    integrity_check: bool = Field(default=True, description="PRAGMA quick_check when the gallery opens")
    index: IndexConfig = Field(default_factory=IndexConfig)
    enrollment: EnrollmentConfig = Field(default_factory=EnrollmentConfig)
