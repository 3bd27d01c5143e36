"""``console:`` in edged.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from edged.config.base import StrictModel
from edged.config.secrets import SecretRef


class ConsoleConfig(StrictModel):
    enabled: bool = Field(default=False, description="serve the operator console (docs/console.md)")
    host: str = Field(default="127.0.0.1", min_length=1, max_length=255, description="address to bind")
    port: int = Field(default=8443, ge=1, le=65535)
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain served to browsers")
    tls_key: SecretRef | None = Field(default=None, description="PEM private key: {credential:} or {file:}")
    password_hash: SecretRef | None = Field(
        default=None,
        description="from `edged console hash-password`, e.g. {credential: console-password}",
    )
    session_idle_s: float = Field(default=900.0, gt=0, le=86400, description="idle sessions end")
    session_max_s: float = Field(default=28800.0, gt=0, le=604800, description="and all end then")
    max_sessions: int = Field(default=16, ge=1, le=1000)
    login_failures: int = Field(default=5, ge=1, le=100, description="wrong passwords from one address ...")
    login_window_s: float = Field(default=300.0, gt=0, le=86400, description="... within this window ...")
    login_lockout_s: float = Field(default=300.0, gt=0, le=86400, description="... lock it out this long")
    passages_kept: int = Field(default=100, ge=1, le=10000, description="decisions shown on Passages")
    live_fps: float = Field(default=2.0, gt=0, le=10.0, description="live view frame rate (its own thread)")

    @model_validator(mode="after")
    def _complete(self) -> ConsoleConfig:
        if self.enabled:
            missing = [n for n in ("tls_cert", "tls_key", "password_hash") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"console.enabled needs {', '.join(missing)}")
            if self.tls_key is not None and self.tls_key.env is not None:
                raise ValueError(
                    "console.tls_key must be a {credential:} or a {file:}, not an environment variable"
                )
        return self
