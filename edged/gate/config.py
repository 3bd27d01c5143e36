"""Config of the gate driver: ``gate:`` in ``edged.yaml``, one variant per ``type``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from edged.config.base import StrictModel
from edged.config.secrets import SecretRef

FailState = Literal["locked", "free_passage"]


class SafetyConfig(StrictModel):
    """What keeps the gate safe whatever the software above it does."""

    fail_state: FailState = Field(
        default="locked",
        description="state on stop, crash or lost heartbeat; free_passage only for emergency egress",
    )
    max_pulse_s: float = Field(default=5.0, gt=0.0, le=25.5, description="upper bound of any open pulse")
    default_pulse_s: float = Field(default=1.0, gt=0.0, le=25.5)
    passage_timeout_s: float = Field(
        default=8.0, gt=0.0, le=120.0, description="a grant not used by then expires"
    )
    heartbeat_timeout_s: float | None = Field(
        default=10.0,
        gt=0.0,
        le=600.0,
        description="fail state when driver.heartbeat() is not called this often; null: off",
    )
    link_down_report_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="link_down (gate_fault alarm) once the link is down this long",
    )
    link_up_report_s: float = Field(
        default=2.0, gt=0.0, le=60.0, description="link_up (alarm cleared) once the link is back this long"
    )

    @model_validator(mode="after")
    def _default_within_max(self) -> SafetyConfig:
        if self.default_pulse_s > self.max_pulse_s:
            raise ValueError("default_pulse_s must not exceed max_pulse_s")
        return self


class Rs485Config(StrictModel):
    """Kernel RS-485 mode (TIOCSRS485) for UARTs that drive the transceiver's DE pin themselves."""

    rts_level_for_tx: bool = True
    rts_level_for_rx: bool = False
    loopback: bool = False
    delay_before_tx_s: float | None = Field(default=None, ge=0.0, le=0.1)
    delay_before_rx_s: float | None = Field(default=None, ge=0.0, le=0.1)


class SerialPortConfig(StrictModel):
    port: str = Field(..., min_length=1, description="e.g. /dev/ttyTHS1 or /dev/serial/by-id/...")
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    rs485: Rs485Config | None = None
    reconnect_min_s: float = Field(default=0.2, gt=0.0, le=60.0)
    reconnect_max_s: float = Field(default=5.0, gt=0.0, le=600.0)


class SimulatorGateConfig(StrictModel):
    type: Literal["simulator"] = "simulator"
    passage_delay_s: float = Field(
        default=1.0, ge=0.0, le=60.0, description="time from open to the simulated passage"
    )
    walk_through: bool = Field(default=True, description="simulate a person walking through after each open")
    tailgater: bool = Field(default=False, description="a second person follows every granted one")
    safety: SafetyConfig = Field(default_factory=SafetyConfig)


class ModbusGateConfig(StrictModel):
    """A Modbus RTU relay/IO board: coils close the turnstile's dry contacts, inputs read its sensors."""

    type: Literal["modbus"] = "modbus"
    serial: SerialPortConfig
    slave_id: int = Field(default=1, ge=1, le=247)
    entry_coil: int = Field(default=0, ge=0, le=65535)
    exit_coil: int = Field(default=1, ge=0, le=65535)
    free_passage_coil: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="a coil that holds the gate open; without it both direction coils are held",
    )
    entry_sensor_input: int | None = Field(
        default=0, ge=0, le=65535, description="discrete input pulsed per entry"
    )
    exit_sensor_input: int | None = Field(default=1, ge=0, le=65535)
    poll_period_s: float = Field(default=0.05, ge=0.01, le=5.0)
    response_timeout_s: float = Field(default=0.3, gt=0.0, le=5.0)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)


class OsdpCpGateConfig(StrictModel):
    """An OSDP IO controller driven by this unit as control panel (secure channel enforced)."""

    type: Literal["osdp_cp"] = "osdp_cp"
    serial: SerialPortConfig
    address: int = Field(default=0, ge=0, le=126)
    scbk: SecretRef = Field(
        ..., description="16-byte secure channel base key (hex file); see `edged gate keygen`"
    )
    entry_output: int = Field(default=0, ge=0, le=255)
    exit_output: int = Field(default=1, ge=0, le=255)
    entry_sensor_input: int | None = Field(default=0, ge=0, le=31)
    exit_sensor_input: int | None = Field(default=1, ge=0, le=31)
    reader_feedback: bool = Field(
        default=True, description="LED and buzzer on the IO controller's reader for grant/deny"
    )
    open_deadline_s: float = Field(
        default=0.5,
        gt=0.0,
        le=5.0,
        description="an open not acknowledged by then is flushed (never delivered late) and refused",
    )
    safety: SafetyConfig = Field(default_factory=SafetyConfig)


class CredentialFormatConfig(StrictModel):
    format: Literal["wiegand26", "wiegand34", "wiegand37"] = "wiegand26"
    facility_code: int = Field(default=0, ge=0, le=65535)


class OsdpReaderGateConfig(StrictModel):
    """This unit is an OSDP reader (peripheral device); the site's access panel decides and opens."""

    type: Literal["osdp_reader"] = "osdp_reader"
    serial: SerialPortConfig
    address: int = Field(default=0, ge=0, le=126)
    scbk: SecretRef = Field(
        ..., description="16-byte secure channel base key (hex file) shared with the panel"
    )
    credential: CredentialFormatConfig = Field(default_factory=CredentialFormatConfig)
    reader_no: int = Field(default=0, ge=0, le=255)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)


GateConfig = Annotated[
    SimulatorGateConfig | ModbusGateConfig | OsdpCpGateConfig | OsdpReaderGateConfig,
    Field(discriminator="type"),
]
