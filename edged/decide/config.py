"""The passage policy: every field is reloadable with SIGHUP (a bad file is rejected, the old one stays)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from edged.config.base import StrictModel

Mode = Literal["access", "screening", "free", "locked", "emergency"]
Rule = Literal["off", "hard", "soft"]


class MaskRule(StrictModel):
    rule: Rule = Field(default="off", description="hard = no mask, no entry; soft = allow and raise an alarm")
    min_score: float = Field(
        default=0.6, ge=0.0, le=1.0, description="classifier probability needed to believe it"
    )


class TemperatureRule(StrictModel):
    """What a fever means for the passage; whether a reading is a fever is ``thermal.fever``'s to say."""

    rule: Rule = Field(
        default="off", description="hard = deny a fever (thermal.fever); soft = allow and raise an alarm"
    )
    min_samples: int = Field(
        default=3, ge=1, le=100, description="thermal frames fused (median) before judging"
    )

    @model_validator(mode="before")
    @classmethod
    def _max_c_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_c" in data:
            raise ValueError(
                "max_c is no longer read here: set the fever threshold as thermal.fever.threshold_c "
                "(thermal.fever.mode: absolute or relative)"
            )
        return data


class LivenessRule(StrictModel):
    required: bool = True
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="default: vision.liveness_threshold"
    )


class PersonRights(StrictModel):
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    lanes: list[str] | None = Field(default=None, description="lanes this person may use; none = every lane")
    blocked: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> PersonRights:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class FacingRule(StrictModel):
    """Cross-lane suppression: only a face turned towards this gate, inside this lane's region, is decided."""

    max_yaw_deg: float = Field(default=30.0, gt=0.0, le=90.0)
    region: tuple[float, float, float, float] = Field(
        default=(0.0, 0.0, 1.0, 1.0),
        description="x1, y1, x2, y2 as fractions of the frame; face centre must be inside",
    )

    @model_validator(mode="after")
    def _region_ordered(self) -> FacingRule:
        x1, y1, x2, y2 = self.region
        if not (0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0):
            raise ValueError("region must be x1 < x2, y1 < y2, all within 0..1")
        return self


class PassageTiming(StrictModel):
    grant_timeout_s: float = Field(
        default=6.0, gt=0.0, le=120.0, description="gate closes if nobody passes by then"
    )
    denied_hold_s: float = Field(default=2.0, ge=0.0, le=60.0, description="how long 'denied' is shown")
    decide_within_s: float = Field(
        default=2.0,
        gt=0.0,
        le=30.0,
        description="after the first usable frame, decide with what is known by then",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="identity attempts per person, each on a better frame and followed by "
        "vision.fusion.frames - 1 embeddings of the frames right after it",
    )


class PolicyConfig(StrictModel):
    mode: Mode = "access"
    direction: Literal["in", "out"] = Field(
        default="in", description="the direction this lane's camera watches"
    )
    match_threshold: float | None = Field(
        default=None,
        gt=-1.0,
        lt=1.0,
        description="cosine similarity for unmasked faces; default vision.match_threshold",
    )
    masked_match_threshold: float | None = Field(
        default=None, gt=-1.0, lt=1.0, description="for masked faces; default vision.masked_match_threshold"
    )
    mask: MaskRule = Field(default_factory=MaskRule)
    temperature: TemperatureRule = Field(default_factory=TemperatureRule)
    liveness: LivenessRule = Field(default_factory=LivenessRule)
    facing: FacingRule = Field(default_factory=FacingRule)
    timing: PassageTiming = Field(default_factory=PassageTiming)
    people: dict[str, PersonRights] = Field(
        default_factory=dict, description="per-person validity and lanes, by gallery person id"
    )
