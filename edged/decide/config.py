"""Config of the passage policy (owned by the daemon issue; extend here)."""

from __future__ import annotations

from typing import Literal

from edged.config.base import StrictModel


class PolicyConfig(StrictModel):
    mode: Literal["access", "screening", "free", "locked", "emergency"] = "access"
