"""``create_gate_driver(config)``: the driver for the configured ``gate.type``; protocol stacks imported
lazily so a unit without the ``osdp`` or ``modbus`` extra still runs the others."""

from __future__ import annotations

from edged.gate.config import (
    ModbusGateConfig,
    OsdpCpGateConfig,
    OsdpReaderGateConfig,
    SimulatorGateConfig,
)
from edged.gate.driver import GateDriver, GateError

AnyGateConfig = SimulatorGateConfig | ModbusGateConfig | OsdpCpGateConfig | OsdpReaderGateConfig


def create_gate_driver(config: AnyGateConfig) -> GateDriver:
    """Build (not start) the driver; raises ``GateError`` with one clear line when it cannot."""
    try:
        if isinstance(config, SimulatorGateConfig):
            from edged.gate.simulator import SimulatorGateDriver

            return SimulatorGateDriver(config)
        if isinstance(config, ModbusGateConfig):
            from edged.gate.modbus import ModbusGateDriver

            return ModbusGateDriver(config)
        if isinstance(config, OsdpCpGateConfig):
            from edged.gate.osdp_cp import OsdpControlPanelDriver

            return OsdpControlPanelDriver(config)
        if isinstance(config, OsdpReaderGateConfig):
            from edged.gate.osdp_reader import OsdpReaderGateDriver

            return OsdpReaderGateDriver(config)
    except ImportError as exc:
        extra = "modbus" if isinstance(config, ModbusGateConfig) else "osdp"
        raise GateError(f"gate type {config.type!r} needs {exc.name}: pip install 'edged[{extra}]'") from None
    raise GateError(f"unknown gate type {getattr(config, 'type', None)!r}")
