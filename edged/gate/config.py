"""Config of the gate driver (owned by the gate issue; extend here)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edged.config.base import StrictModel


class SimulatorGateConfig(StrictModel):
    type: Literal["simulator"] = "simulator"
    passage_delay_s: float = Field(1.0, ge=0.0, le=60.0)
    fail_state: Literal["locked", "free_passage"] = "locked"


GateConfig = Annotated[SimulatorGateConfig, Field(discriminator="type")]
