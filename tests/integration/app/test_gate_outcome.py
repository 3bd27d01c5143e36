"""A gate command whose outcome is unknown, through the daemon: the lane forwards the driver's events and
a gate_fault alarm is raised and cleared over MQTT (real pymodbus board on a pty line, real broker)."""

from __future__ import annotations

from pathlib import Path

from edged.app_broker import LocalBroker
from tests.integration.app.test_faults import Harness, Subscriber, broker, wait_until

__all__ = ["broker"]  # the fixture, shared with test_faults


def test_lost_modbus_reply_raises_and_clears_gate_fault(
    tmp_path: Path, models_dir: Path, broker: LocalBroker
) -> None:
    from edged.gate.peers.modbus_board import ModbusIoBoard
    from edged.gate.ptyline import PtyLine

    sub = Subscriber(broker)
    with PtyLine() as line:
        board = ModbusIoBoard(line.b, slave_id=3, baudrate=115200)
        gate_cfg = {
            "type": "modbus",
            "serial": {"port": line.a, "baudrate": 115200},
            "slave_id": 3,
            "entry_sensor_input": None,
            "exit_sensor_input": None,
        }
        h = Harness(tmp_path, models_dir, broker, gate_cfg)
        try:
            gate = h.daemon.wiring.gate  # type: ignore[union-attr]
            wait_until(lambda: gate.health().link_up, "modbus link up")
            wait_until(lambda: gate.health().mode == "normal", "camera delivering: the policy's mode")
            line.drop("a")  # the board's replies are lost
            result = gate.grant("in")
            line.drop("a", on=False)
            assert result.outcome_unknown and not result.accepted
            wait_until(lambda: "gate.outcome_confirmed" in h.kinds(), "outputs confirmed off")
            assert "gate.outcome_unknown" in h.kinds()
            assert not board.coil_on(0)
            wait_until(
                lambda: (
                    [
                        (e.get("active"), e.get("severity"))
                        for e in sub.events()
                        if e.get("alarm") == "gate_fault"
                    ][-2:]
                    == [(True, "critical"), (False, "warning")]
                ),
                "gate_fault raised and cleared over MQTT",
            )
        finally:
            h.stop()
            board.close()
            sub.close()
