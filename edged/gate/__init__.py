"""Gate drivers: Modbus RTU I/O boards, OSDP control panel, OSDP reader mode and a simulator, behind one
``GateDriver`` interface (see ``edged.gate.driver``)."""

from edged.gate.driver import GateDriver, GateError, GateIOError, GrantResult
from edged.gate.events import Direction, GateEvent, GateHealth, GateMode
from edged.gate.factory import create_gate_driver

__all__ = [
    "Direction",
    "GateDriver",
    "GateError",
    "GateEvent",
    "GateHealth",
    "GateIOError",
    "GateMode",
    "GrantResult",
    "create_gate_driver",
]
