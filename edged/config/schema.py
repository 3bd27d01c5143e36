"""The root of ``edged.yaml``. Each section's model lives beside the code that uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edged.capture.config import CamerasConfig
from edged.config.base import StrictModel
from edged.config.loader import load_model
from edged.console.config import ConsoleConfig
from edged.decide.config import PolicyConfig
from edged.events.config import MqttConfig
from edged.gate.config import GateConfig, SimulatorGateConfig
from edged.identity.config import IdentityConfig
from edged.thermal.config import ThermalConfig
from edged.vision.config import EngineConfig, ModelsConfig, OnnxRuntimeEngineConfig, VisionConfig


class EdgedConfig(StrictModel):
    device_id: str = Field("edged-dev", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="used in MQTT topics")
    lane: str = Field("lane-1", min_length=1, max_length=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    engine: EngineConfig = Field(default_factory=OnnxRuntimeEngineConfig)
    vision: VisionConfig = Field(default_factory=VisionConfig)
    cameras: CamerasConfig = Field(default_factory=CamerasConfig)
    thermal: ThermalConfig = Field(default_factory=ThermalConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    gate: GateConfig = Field(default_factory=SimulatorGateConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)


def load_config(path: str | Path | None) -> EdgedConfig:
    """Load and validate ``path``; ``None`` gives the documented defaults."""
    if path is None:
        return EdgedConfig()
    return load_model(EdgedConfig, path)
