"""Config of the inference engines and the face pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from edged.config.base import StrictModel
from edged.vision.embedders import EmbedderName


class OnnxRuntimeEngineConfig(StrictModel):
    type: Literal["onnxruntime"] = "onnxruntime"
    intra_op_threads: int = Field(0, ge=0, le=64, description="0 = ONNX Runtime's choice (one per core)")
    inter_op_threads: int = Field(1, ge=1, le=16)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    warmup_runs: int = Field(2, ge=0, le=100)


class TensorRTEngineConfig(StrictModel):
    """TensorRT on an NVIDIA GPU (Jetson). Engines are built by ``edged build-engines``, not by the daemon."""

    type: Literal["tensorrt"] = "tensorrt"
    engine_cache_dir: Path | None = Field(
        None, description="default: $CACHE_DIRECTORY/engines under systemd, else the user's cache dir"
    )
    precision: Literal["fp16", "fp32", "int8"] = "fp16"
    max_batch: int = Field(8, ge=1, le=64, description="most faces per call of the per-face models")
    opt_batch: int = Field(4, ge=1, le=64, description="batch size TensorRT tunes the per-face models for")
    fp32_models: list[Literal["fr_detect", "fr_landmark", "fr_feature", "fr_liveness", "sface"]] = Field(
        default_factory=list, description="models built in fp32 whatever the precision (accuracy over speed)"
    )
    workspace_mb: int = Field(1024, ge=64, le=65536)
    device: int = Field(0, ge=0, le=15, description="CUDA device index")
    build_missing: bool = Field(
        False, description="build a missing or stale engine at load instead of failing (minutes on a Jetson)"
    )
    int8_calibration_dir: Path | None = Field(
        None, description="int8 only: <model>.npy files of real, preprocessed inputs (N x C x H x W float32)"
    )
    warmup_runs: int = Field(2, ge=0, le=100)

    @model_validator(mode="after")
    def _check(self) -> TensorRTEngineConfig:
        if self.opt_batch > self.max_batch:
            raise ValueError(f"opt_batch ({self.opt_batch}) must not exceed max_batch ({self.max_batch})")
        if self.precision == "int8" and self.int8_calibration_dir is None:
            raise ValueError("precision int8 needs int8_calibration_dir (a calibration set of real inputs)")
        return self

    def precision_for(self, model: str) -> str:
        return "fp32" if model in self.fp32_models else self.precision


EngineConfig = Annotated[OnnxRuntimeEngineConfig | TensorRTEngineConfig, Field(discriminator="type")]


class DetectorConfig(StrictModel):
    score_threshold: float = Field(0.7, gt=0.0, lt=1.0)
    nms_iou: float = Field(0.4, gt=0.0, lt=1.0)
    min_face_px: int = Field(40, ge=8, le=2000, description="faces narrower than this (pixels) are ignored")
    max_faces: int = Field(16, ge=1, le=256)


class QualityConfig(StrictModel):
    min_sharpness: float = Field(40.0, ge=0.0, description="variance of the Laplacian on the aligned crop")
    max_yaw_deg: float = Field(40.0, gt=0.0, le=90.0)
    max_pitch_deg: float = Field(35.0, gt=0.0, le=90.0)


class FusionConfig(StrictModel):
    """How a track's identity evidence is combined before a grant (docs/identity.md#decisions)."""

    frames: int = Field(
        2,
        ge=1,
        le=10,
        description="embeddings of a track fused (their normalised mean is searched) before a grant; at "
        "least this many must each find the same person first. 1 = each frame on its own, the best counts",
    )


class VisionConfig(StrictModel):
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    embedder: EmbedderName = Field(
        "fr_feature",
        description="fr_feature (default set, 512-D, small) or sface (128-D, 9.7 M parameters; fetched by "
        "'edged models fetch --embedder sface'); set match_threshold for the model (docs/identity.md, "
        "'Embedders'); the masked-face head exists for fr_feature only",
    )
    match_threshold: float = Field(
        0.36, gt=-1.0, lt=1.0, description="cosine similarity at or above which two unmasked faces match"
    )
    masked_match_threshold: float = Field(
        0.34,
        gt=-1.0,
        lt=1.0,
        description="cosine similarity threshold for a face embedded by the masked-face head",
    )
    target_fpir: float | None = Field(
        0.01,
        gt=0.0,
        lt=1.0,
        description="derive both match thresholds from this rate of strangers taken for somebody, at the "
        "gallery's current size, from the calibration; the explicit thresholds above stay floors; "
        "null = the explicit thresholds alone",
    )
    calibration: Path | None = Field(
        None,
        description="impostor-tail calibration (edged calibrate threshold); default: the one packaged for "
        "the configured embedder, if any",
    )
    match_margin: float = Field(
        0.05,
        ge=0.0,
        lt=1.0,
        description="the best identity must lead the best other identity by this much cosine similarity",
    )
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    liveness_threshold: float = Field(0.5, ge=0.0, le=1.0)
    mirror_landmarks: bool = Field(
        True, description="also run the landmark model on the mirrored crop and average: steadier alignment"
    )
    flip_embedding: bool = Field(
        True, description="also embed the mirrored crop and average: steadier matches for ~1.6x embedder time"
    )
    grey_embedding: bool = Field(
        True,
        description="embed the aligned crop's luma only (in all three channels): a colour cast between an "
        "enrolment photo and the gate camera does not move the vector; same cost",
    )


class ModelsConfig(StrictModel):
    """Every model's pinned sha256 is checked each time it is loaded; there is no switch to skip that."""

    dir: Path | None = Field(None, description="default: $STATE_DIRECTORY/models or the user's data dir")
