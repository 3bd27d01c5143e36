from __future__ import annotations

import pytest
from pydantic import ValidationError

from edged.config.schema import EdgedConfig
from edged.gate.config import ModbusGateConfig, OsdpCpGateConfig, OsdpReaderGateConfig, SimulatorGateConfig


def test_default_gate_is_the_simulator_failing_locked() -> None:
    cfg = EdgedConfig()
    assert isinstance(cfg.gate, SimulatorGateConfig)
    assert cfg.gate.safety.fail_state == "locked"


def test_each_type_selects_its_model() -> None:
    serial = {"port": "/dev/ttyUSB0", "baudrate": 19200, "rs485": {"delay_before_tx_s": 0.001}}
    cases = {
        "modbus": ({"serial": serial, "slave_id": 7}, ModbusGateConfig),
        "osdp_cp": ({"serial": serial, "scbk": {"credential": "osdp-scbk"}}, OsdpCpGateConfig),
        "osdp_reader": (
            {"serial": serial, "scbk": {"file": "/etc/edged/scbk"}, "credential": {"format": "wiegand34"}},
            OsdpReaderGateConfig,
        ),
    }
    for gate_type, (fields, model) in cases.items():
        cfg = EdgedConfig.model_validate({"gate": {"type": gate_type, **fields}})
        assert isinstance(cfg.gate, model)


@pytest.mark.parametrize(
    "gate",
    [
        {"type": "modbus", "serial": {"port": "/dev/ttyUSB0"}, "slave": 3},  # unknown key
        {"type": "modbus", "serial": {"port": "/dev/ttyUSB0", "baudrate": 12345}},
        {"type": "modbus", "serial": {"port": "/dev/ttyUSB0"}, "slave_id": 0},
        {"type": "osdp_cp", "serial": {"port": "/dev/ttyS1"}, "scbk": "00112233445566778899aabbccddeeff"},
        {"type": "osdp_cp", "serial": {"port": "/dev/ttyS1"}},  # no key at all
        {"type": "simulator", "safety": {"max_pulse_s": 60}},
        {"type": "simulator", "safety": {"fail_state": "open"}},
        {"type": "relay"},
    ],
)
def test_bad_gate_sections_are_refused(gate: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EdgedConfig.model_validate({"gate": gate})
