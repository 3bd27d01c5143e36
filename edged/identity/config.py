"""Config of the gallery store and search index (owned by the identity issue; extend here)."""

from __future__ import annotations

from pathlib import Path

from edged.config.base import StrictModel
from edged.config.secrets import SecretRef


class IdentityConfig(StrictModel):
    database: Path | None = None
    template_key: SecretRef | None = None
