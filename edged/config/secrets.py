"""Secrets are never written in the YAML: they come from systemd credentials, files or the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator


class SecretError(Exception):
    pass


class SecretRef(BaseModel):
    """Where a secret lives. Exactly one of ``credential`` (a name in ``$CREDENTIALS_DIRECTORY``,
    as set by systemd's ``LoadCredential=``), ``file`` or ``env``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    credential: str | None = None
    file: Path | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [n for n in ("credential", "file", "env") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of credential, file or env")
        if self.credential is not None and ("/" in self.credential or self.credential in ("", ".", "..")):
            raise ValueError("credential must be a plain name inside $CREDENTIALS_DIRECTORY")
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to log (never the value)."""
        if self.credential is not None:
            return f"credential {self.credential!r}"
        if self.file is not None:
            return f"file {str(self.file)!r}"
        return f"environment variable {self.env!r}"

    def read_bytes(self) -> bytes:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"secret from {self.describe()}: variable is not set")
            return value.encode()
        if self.credential is not None:
            base = os.environ.get("CREDENTIALS_DIRECTORY")
            if not base:
                raise SecretError(
                    f"secret from {self.describe()}: $CREDENTIALS_DIRECTORY is not set "
                    "(use LoadCredential= in the unit, or give file: instead)"
                )
            path = Path(base) / self.credential
        else:
            assert self.file is not None
            path = self.file
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SecretError(f"secret from {self.describe()}: cannot read {path}: {exc.strerror}") from None

    def read_text(self) -> str:
        return self.read_bytes().decode().strip()
