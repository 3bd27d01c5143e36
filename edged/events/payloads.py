"""Versioned event payloads. Every message carries the envelope (type, v, id, device_id, seq, ts).

The JSON Schema files in ``edged/events/schemas/`` are generated from these models
(``edged events schemas --write``) and checked against them by the tests.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from edged.events.ids import ID_PATTERN

# the "v" of every payload (2: passage match_path and threshold; 3: passage operating_point, runner_up,
# frames, reasons ambiguous_match, unconfirmed_match and gate_outcome_unknown)
SCHEMA_VERSION: Final = 3

EventType = Literal["passage", "alarm", "status", "gallery", "snapshot", "audit"]

DenyReason = Literal[
    "unknown",
    "ambiguous_match",
    "unconfirmed_match",
    "not_allowed_on_lane",
    "outside_validity",
    "no_mask",
    "incorrect_mask",
    "fever",
    "spoof",
    "low_quality",
    "mode_locked",
    "tailgating",
    "timeout",
    "gate_fault",
    "gate_outcome_unknown",
    "not_recorded",
]

AlarmKind = Literal[
    "fever",
    "spoof",
    "tailgating",
    "forced_entry",
    "gate_fault",
    "outbox_overflow",
    "storage_failure",
    "no_mask",
    "incorrect_mask",
    "low_quality",
    "software_fault",
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)


class Envelope(Payload):
    type: EventType
    v: Literal[3] = SCHEMA_VERSION
    id: str = Field(pattern=ID_PATTERN, description="unique, sorts in creation order (ULID)")
    device_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    seq: int = Field(ge=1, description="per device, +1 per message, survives restarts")
    ts: datetime = Field(description="UTC time the event was created")


class Identity(Payload):
    person_id: str = Field(min_length=1, max_length=128)
    display_name: str | None = Field(default=None, max_length=256)


class MaskResult(Payload):
    state: Literal["none", "correct", "incorrect", "unknown"]
    score: float | None = Field(default=None, ge=0, le=1)


class Temperature(Payload):
    celsius: float = Field(ge=20, le=50)
    site: str = Field(min_length=1, max_length=32, description="where it was read, e.g. inner_canthus")
    fever: bool


class Liveness(Payload):
    live: bool
    score: float = Field(ge=0, le=1)


class OperatingPointBody(Payload):
    threshold: float = Field(description="the similarity the score had to reach")
    margin: float = Field(ge=0, description="how far the score had to lead the best other person")
    gallery_size: int = Field(ge=0, description="people enrolled when the face was judged")
    masked: bool = Field(description="the masked-face path's operating point")
    target_fpir: float | None = Field(
        default=None, description="the FPIR the threshold was derived for; null: an explicit threshold"
    )
    predicted_fpir: float | None = Field(
        default=None,
        description="rate of strangers taken for somebody at this threshold and gallery size, from the "
        "embedder's calibration; null without one",
    )


class PassageBody(Payload):
    decision: Literal["granted", "denied"]
    reasons: list[DenyReason] = Field(default_factory=list, description="every reason a denial had")
    granted_by: Literal["face", "remote", "free_mode", "credential"] | None = None
    identity: Identity | None = None
    score: float | None = Field(default=None, description="match similarity of the identity")
    match_path: Literal["plain", "masked"] | None = Field(
        default=None,
        description="which embedding matched: masked faces are embedded by the masked-face head and judged "
        "by their own threshold",
    )
    threshold: float | None = Field(
        default=None, description="the similarity the score had to reach on that path"
    )
    runner_up: float | None = Field(
        default=None, description="similarity of the best other enrolled person (the margin rule)"
    )
    frames: int | None = Field(default=None, ge=1, description="embeddings of the person fused into score")
    operating_point: OperatingPointBody | None = Field(
        default=None,
        description="what the face was judged against; null when no face was judged (free, emergency or "
        "locked mode, a remote grant, a timeout)",
    )
    mask: MaskResult | None = None
    temperature: Temperature | None = None
    liveness: Liveness | None = None
    lane: str = Field(min_length=1, max_length=64)
    direction: Literal["in", "out", "unknown"] = "unknown"
    latency_ms: dict[str, float] = Field(default_factory=dict, description="per pipeline stage, and total")
    snapshot: bool = Field(default=False, description="a snapshot message with this event id follows")


class AlarmBody(Payload):
    alarm: AlarmKind
    severity: Literal["info", "warning", "critical"] = "warning"
    active: bool = True
    lane: str | None = Field(default=None, max_length=64)
    detail: str = Field(default="", max_length=1024)
    related_id: str | None = Field(default=None, pattern=ID_PATTERN)
    dropped: dict[str, int] | None = Field(
        default=None,
        description="outbox_overflow: every message dropped or not recorded since the outbox was created, "
        "by type (loss_report: earlier reports this one replaced); the newest report supersedes the others",
    )


class StatusBody(Payload):
    health: Literal["ok", "degraded", "failing"]
    components: dict[str, str] = Field(default_factory=dict)
    gate_state: Literal["closed", "open", "fault", "unknown"] = "unknown"
    mode: str = Field(default="access", max_length=32)
    fps: dict[str, float] = Field(default_factory=dict, description="per camera")
    temperatures_c: dict[str, float] = Field(default_factory=dict, description="unit's sensors (SoC, GPU...)")
    models: dict[str, str] = Field(default_factory=dict, description="model name -> version or sha256")
    gallery_size: int = Field(default=0, ge=0)
    uptime_s: float = Field(default=0, ge=0)
    outbox_pending: int = Field(default=0, ge=0)
    outbox_dropped: int = Field(default=0, ge=0)


class GalleryBody(Payload):
    action: Literal["enrolled", "erased"]
    person_id: str = Field(min_length=1, max_length=128)
    templates: int = Field(default=0, ge=0)
    source: Literal["command", "cli", "sync"] = "command"
    command_nonce: str | None = Field(default=None, max_length=64)


class SnapshotBody(Payload):
    event_id: str = Field(pattern=ID_PATTERN, description="the passage event this face crop belongs to")
    content_type: Literal["image/jpeg"] = "image/jpeg"
    image_b64: str = Field(max_length=2_000_000)
    expires_at: datetime


class AuditBody(Payload):
    """What an operator did on the web console (edged.console): every login attempt and every change."""

    action: Literal["login", "login_refused", "logout", "enrol", "erase", "config_applied", "config_refused"]
    ok: bool
    client: str = Field(max_length=64, description="the browser's address")
    target: str | None = Field(default=None, max_length=128, description="person id or config file")
    detail: str = Field(default="", max_length=500)


class PassageEvent(PassageBody, Envelope):
    type: Literal["passage"] = "passage"


class AlarmEvent(AlarmBody, Envelope):
    type: Literal["alarm"] = "alarm"


class StatusEvent(StatusBody, Envelope):
    type: Literal["status"] = "status"


class GalleryEvent(GalleryBody, Envelope):
    type: Literal["gallery"] = "gallery"


class SnapshotEvent(SnapshotBody, Envelope):
    type: Literal["snapshot"] = "snapshot"


class AuditEvent(AuditBody, Envelope):
    type: Literal["audit"] = "audit"


Body = PassageBody | AlarmBody | StatusBody | GalleryBody | SnapshotBody | AuditBody

EVENT_MODELS: dict[str, type[Envelope]] = {
    "passage": PassageEvent,
    "alarm": AlarmEvent,
    "status": StatusEvent,
    "gallery": GalleryEvent,
    "snapshot": SnapshotEvent,
    "audit": AuditEvent,
}

BODY_TYPES: dict[type[Payload], str] = {
    PassageBody: "passage",
    AlarmBody: "alarm",
    StatusBody: "status",
    GalleryBody: "gallery",
    SnapshotBody: "snapshot",
    AuditBody: "audit",
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
