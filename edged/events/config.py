"""Config of the event outbox, the MQTT client, command authentication and Home Assistant discovery."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edged.config.base import StrictModel
from edged.config.secrets import SecretRef


class TlsConfig(StrictModel):
    """Server verification is always on when TLS is enabled; a client certificate is optional."""

    enabled: bool = False
    ca_file: Path | None = Field(
        default=None, description="CA bundle that signed the broker's certificate; None = system CAs"
    )
    client_cert: Path | None = None
    client_key: SecretRef | None = Field(
        default=None, description="private key of client_cert (a file or credential)"
    )

    @model_validator(mode="after")
    def _cert_with_key(self) -> TlsConfig:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("give client_cert and client_key together")
        return self


class OutboxConfig(StrictModel):
    """``synchronous: full`` survives power loss (one fsync per event); ``normal`` survives a crash of
    the process but may lose the last events on power loss, and is about 20x faster."""

    path: Path = Field(default=Path("/var/lib/edged/outbox.sqlite3"), description="SQLite database (WAL)")
    max_events: int = Field(
        default=200_000, ge=100, description="beyond this, events are dropped (status first)"
    )
    max_age_s: float = Field(
        default=7 * 86400, gt=0, description="events older than this are dropped (status first)"
    )
    synchronous: Literal["full", "normal"] = "full"
    inflight: int = Field(
        default=100, ge=1, le=65535, description="events handed to the broker and not yet acknowledged"
    )


class CommandAuthConfig(StrictModel):
    """Operators' Ed25519 public keys (base64 of the 32 raw bytes), by key id."""

    operator_keys: dict[str, str] = Field(default_factory=dict)
    max_age_s: float = Field(default=30.0, gt=0, le=3600, description="a command older than this is refused")
    max_clock_skew_s: float = Field(
        default=5.0, ge=0, le=300, description="tolerated clock difference into the future"
    )
    rate_per_s: float = Field(default=20.0, gt=0, description="commands handled per second, sustained")
    burst: int = Field(default=40, ge=1, description="commands handled at once before the rate applies")

    @field_validator("operator_keys")
    @classmethod
    def _keys_are_ed25519(cls, keys: dict[str, str]) -> dict[str, str]:
        from edged.mqtt.signing import OperatorKeyError, load_public_key

        for key_id, b64 in keys.items():
            if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", key_id):
                raise ValueError(f"key id {key_id!r}: use 1-64 letters, digits, _ . @ -")
            try:
                load_public_key(b64)
            except OperatorKeyError as exc:
                raise ValueError(f"operator key {key_id!r}: {exc}") from None
        return keys


class HomeAssistantConfig(StrictModel):
    enabled: bool = False
    discovery_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_/-]{1,64}$")


class SnapshotConfig(StrictModel):
    """Face crops only, off by default; each snapshot message expires after ``retention_s``."""

    enabled: bool = False
    retention_s: int = Field(default=3600, ge=1, le=30 * 86400)


class MqttConfig(StrictModel):
    enabled: bool = False
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["v5", "v311"] = Field(
        default="v5", description="v5 falls back to 3.1.1 if the broker refuses it"
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=86400, ge=0, description="persistent session kept by the broker")
    topic_prefix: str = Field(default="edged", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    username: str | None = None
    password: SecretRef | None = None
    tls: TlsConfig = Field(default_factory=TlsConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    commands: CommandAuthConfig = Field(default_factory=CommandAuthConfig)
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig)

    @model_validator(mode="after")
    def _password_needs_user(self) -> MqttConfig:
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self
