"""What an operator may ask of a gate. The outer message carries a signature over the exact bytes
of ``body``, so nothing has to be canonicalised across languages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_COMMAND_BYTES = 512 * 1024
NONCE_PATTERN = r"^[0-9a-f]{32,64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignedCommand(Strict):
    """The message published on ``<prefix>/<device_id>/cmd/<name>``."""

    v: Literal[1]
    key_id: str = Field(min_length=1, max_length=64)
    sig: str = Field(
        min_length=1, max_length=128, description="base64 Ed25519 signature of body's UTF-8 bytes"
    )
    body: str = Field(min_length=2, max_length=MAX_COMMAND_BYTES, description="JSON text of a CommandBody")


class CommandBody(Strict):
    cmd: str = Field(pattern=r"^[a-z]{1,16}$")
    device_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the gate it is meant for")
    ts_ms: int = Field(ge=0, description="Unix time in milliseconds when it was signed")
    nonce: str = Field(pattern=NONCE_PATTERN, description="random, never reused")
    args: dict[str, object] = Field(default_factory=dict)
    reply_to: str | None = Field(
        default=None, max_length=256, description="response topic for MQTT 3.1.1 clients"
    )


class OpenArgs(Strict):
    lane: str | None = Field(default=None, max_length=64)
    direction: Literal["in", "out"] = "in"
    reason: str = Field(default="", max_length=256)


class ModeArgs(Strict):
    mode: Literal["access", "screening", "free", "locked", "emergency"]


class EnrollArgs(Strict):
    person_id: str = Field(min_length=1, max_length=128)
    display_name: str | None = Field(default=None, max_length=256)
    lanes: list[str] | None = Field(default=None, description="None = every lane")
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    embedding_b64: str | None = Field(
        default=None, max_length=65536, description="float32 template, little endian"
    )
    image_b64: str | None = Field(default=None, max_length=400_000, description="a JPEG of the face")

    @model_validator(mode="after")
    def _one_source(self) -> EnrollArgs:
        if (self.embedding_b64 is None) == (self.image_b64 is None):
            raise ValueError("give exactly one of embedding_b64 or image_b64")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class EraseArgs(Strict):
    person_id: str = Field(min_length=1, max_length=128)


class ReloadArgs(Strict):
    pass


class PingArgs(Strict):
    pass


ARG_MODELS: dict[str, type[Strict]] = {
    "open": OpenArgs,
    "mode": ModeArgs,
    "enroll": EnrollArgs,
    "erase": EraseArgs,
    "reload": ReloadArgs,
    "ping": PingArgs,
}


class CommandResponse(Strict):
    v: Literal[1] = 1
    cmd: str
    nonce: str | None = None
    ok: bool
    reason: str | None = Field(default=None, description="why it was refused or failed; None when ok")
    detail: str = ""
    result: dict[str, object] = Field(default_factory=dict)
    ts: datetime
