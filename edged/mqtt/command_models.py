"""What an operator may ask of a gate. The outer message carries a signature over the exact bytes
of ``body``, so nothing has to be canonicalised across languages."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_COMMAND_BYTES = 512 * 1024
NONCE_PATTERN = r"^[0-9a-f]{32,64}$"
# Year 2286 in milliseconds: any later ts_ms is a mistake or an attack (and 10**400 overflows a float).
MAX_TS_MS = 10**13


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
    ts_ms: int = Field(ge=0, le=MAX_TS_MS, description="Unix time in milliseconds when it was signed")
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

    @field_validator("image_b64")
    @classmethod
    def _image_is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            decode_b64(value)
        return value

    @field_validator("embedding_b64")
    @classmethod
    def _embedding_is_usable(cls, value: str | None) -> str | None:
        if value is not None:
            embedding_from_b64(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EnrollArgs:
        if (self.embedding_b64 is None) == (self.image_b64 is None):
            raise ValueError("give exactly one of embedding_b64 or image_b64")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


def decode_b64(text: str) -> bytes:
    """Strict base64 (no stray characters, correct padding); a ``ValueError`` says what is wrong."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def embedding_from_b64(text: str) -> np.ndarray:
    """The float32 template in ``embedding_b64``: finite and not all zero (it is normalised later)."""
    raw = decode_b64(text)
    if not raw or len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    vector = np.frombuffer(raw, dtype="<f4")
    if not np.isfinite(vector).all():
        raise ValueError("the embedding has NaN or infinite values")
    if float(np.linalg.norm(vector.astype(np.float64))) < 1e-6:
        raise ValueError("the embedding is all zeros")
    return vector.astype(np.float32)


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
