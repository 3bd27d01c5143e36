"""Config of the event outbox and the MQTT client (owned by the events issue; extend here)."""

from __future__ import annotations

from pydantic import Field

from edged.config.base import StrictModel


class MqttConfig(StrictModel):
    enabled: bool = False
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
