"""Fault scenarios of the gate drivers, each against its real peer on a pty line: a pymodbus relay board
or a libosdp IO controller. ``ok`` comes from what the peer saw (coil writes, output commands and when)
and from the gate_fault alarms the events map to, as the daemon would publish them."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from osdp import Command

from edged.app_events import OutboxSink
from edged.events.payloads import AlarmBody
from edged.faults import Outcome, Scenario
from edged.gate.config import ModbusGateConfig, OsdpCpGateConfig
from edged.gate.driver import BaseGateDriver
from edged.gate.events import GateEvent
from edged.gate.keys import generate_scbk, write_scbk
from edged.gate.modbus import ModbusGateDriver
from edged.gate.osdp_cp import OUT_TEMPORARY_ON, OsdpControlPanelDriver
from edged.gate.peers.modbus_board import ModbusIoBoard
from edged.gate.peers.osdp_devices import OsdpIoController, wait_until
from edged.gate.ptyline import PtyLine

BAUD = 115200
WAIT_S = 20.0  # generous waits for a state; never a verdict on speed
SLAVE, ENTRY_COIL = 5, 0
PD_ADDRESS, ENTRY_OUT, EXIT_OUT = 7, 0, 1
LINK_DOWN_HOLD_S = 3.0  # how long the OSDP scenario keeps the panel's commands from the controller
NOISE_S = 6.0


class Recorder:
    """Every gate event with its arrival time, and the gate_fault alarms they become (``OutboxSink``)."""

    def __init__(self, driver: BaseGateDriver) -> None:
        self.events: list[tuple[float, GateEvent]] = []
        self._lock = threading.Lock()
        driver.add_listener(self._add)

    def _add(self, event: GateEvent) -> None:
        with self._lock:
            self.events.append((time.perf_counter(), event))

    def kinds(self, since: float = 0.0) -> list[str]:
        with self._lock:
            return [e.kind for t, e in self.events if t >= since]

    def alarms(self, since: float = 0.0) -> list[bool]:
        """gate_fault alarms as published: True raised, False cleared."""
        sink = OutboxSink(stream=None)  # type: ignore[arg-type]  # to_body only maps, it never emits
        out = []
        for kind in self.kinds(since):
            body = sink.to_body(f"gate.{kind}", {"lane": "lane-1"})
            if isinstance(body, AlarmBody) and body.alarm == "gate_fault":
                out.append(body.active)
        return out


@contextmanager
def modbus_gate(line: PtyLine, **overrides: Any) -> Iterator[tuple[ModbusIoBoard, ModbusGateDriver]]:
    board = ModbusIoBoard(line.b, slave_id=SLAVE, baudrate=BAUD)
    fields: dict[str, Any] = {
        "serial": {"port": line.a, "baudrate": BAUD, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5},
        "slave_id": SLAVE,
        "entry_coil": ENTRY_COIL,
        "exit_coil": 1,
        "safety": {"heartbeat_timeout_s": None},
        **overrides,
    }
    gate = ModbusGateDriver(ModbusGateConfig.model_validate(fields))
    try:
        gate.start()
        if not wait_until(lambda: gate.health().link_up, WAIT_S):
            raise RuntimeError("modbus link did not come up")
        yield board, gate
    finally:
        gate.close()
        board.close()


def modbus_lost_reply(workdir: Path) -> Outcome:
    """The board takes the open (relay on) but its reply is lost: the relay must be forced off."""
    with (
        PtyLine(workdir) as line,
        modbus_gate(line, entry_sensor_input=None, exit_sensor_input=None) as (
            board,
            gate,
        ),
    ):
        seen = Recorder(gate)
        t0 = time.perf_counter()
        line.drop("a")  # the board's replies are lost; the driver's commands still reach it
        result = gate.grant("in", 1.0)
        line.drop("a", on=False)
        confirmed = wait_until(lambda: "outcome_confirmed" in seen.kinds(), WAIT_S)
        on_at = board.wait_for(ENTRY_COIL, True, 1.0, since=t0)
        off_at = board.wait_for(ENTRY_COIL, False, 1.0, since=t0)
        coil_on_now = board.coil_on(ENTRY_COIL)
        observed = {
            "accepted": result.accepted,
            "outcome_unknown": result.outcome_unknown,
            "relay_reached_on": on_at is not None,
            "relay_on_s": round(off_at - on_at, 3) if on_at is not None and off_at is not None else None,
            "coil_on_at_end": coil_on_now,
            "outputs_confirmed": confirmed,
            "gate_fault_alarms": seen.alarms(),
            "link_up": gate.health().link_up,
            "bytes_dropped": line.dropped,
        }
    ok = (
        not result.accepted
        and result.outcome_unknown
        and on_at is not None
        and off_at is not None
        and not coil_on_now
        and confirmed
        and observed["gate_fault_alarms"] == [True, False]
    )
    return Outcome(ok, observed)


def _osdp_grant_with_commands_lost(workdir: Path, silent_before_s: float) -> dict[str, Any]:
    """Drop the panel's bytes towards the controller, grant after ``silent_before_s``, restore the line
    after ``LINK_DOWN_HOLD_S``, then a fresh grant; what the controller received and when."""
    key = generate_scbk()
    key_file = workdir / f"scbk-{silent_before_s}"
    write_scbk(key_file, key)
    with PtyLine(tempfile.mkdtemp(dir=workdir)) as line:
        controller = OsdpIoController(line.b, PD_ADDRESS, key, baudrate=BAUD)
        config = OsdpCpGateConfig.model_validate(
            {
                "serial": {"port": line.a, "baudrate": BAUD, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
                "address": PD_ADDRESS,
                "scbk": {"file": str(key_file)},
                "entry_output": ENTRY_OUT,
                "exit_output": EXIT_OUT,
                "safety": {"heartbeat_timeout_s": None},
            }
        )
        gate = OsdpControlPanelDriver(config)
        try:
            gate.start()
            if not wait_until(lambda: gate.health().link_up, WAIT_S):
                raise RuntimeError("no secure OSDP session")
            seen = Recorder(gate)
            line.drop("b")  # the link stays "online" in libosdp for seconds
            time.sleep(silent_before_s)
            t0 = time.perf_counter()
            result = gate.grant("in", 1.0)
            time.sleep(max(0.0, LINK_DOWN_HOLD_S - silent_before_s))
            line.drop("b", on=False)
            back = wait_until(
                lambda: (
                    gate.health().link_up
                    and not gate.health().extra["outputs_unknown"]
                    and seen.alarms()[-1:] == [False]
                ),
                WAIT_S,
            )
            t1 = time.perf_counter()
            fresh = gate.grant("out", 0.5)
            fresh_at = controller.wait_for(5.0, t1, command=Command.Output, control_code=OUT_TEMPORARY_ON)
            late = [
                round(r.at - t0, 3)
                for r in controller.matching(command=Command.Output, output_no=ENTRY_OUT)
                if r.at >= t0 and r.message.get("control_code") == OUT_TEMPORARY_ON
            ]
            return {
                "silent_before_s": silent_before_s,
                "accepted": result.accepted,
                "outcome_unknown": result.outcome_unknown,
                "reason": result.reason[:120],
                "deadline_s": config.open_deadline_s,
                "opens_seen_by_pd_after_grant_s": late,
                "link_back": back,
                "fresh_grant_accepted": fresh.accepted,
                "fresh_open_seen_after_s": round(fresh_at.at - t1, 3) if fresh_at is not None else None,
                "gate_fault_alarms": seen.alarms(),
                "secure_channel_refusals": gate.health().extra["secure_channel_refusals"],
            }
        finally:
            gate.close()
            controller.close()


def osdp_late_open(workdir: Path) -> Outcome:
    """An open that cannot be acknowledged in time is refused and never reaches the controller later."""
    cases = [_osdp_grant_with_commands_lost(workdir, s) for s in (0.0, 1.0)]
    ok = all(
        not c["accepted"]
        and not c["opens_seen_by_pd_after_grant_s"]
        and c["link_back"]
        and c["fresh_grant_accepted"]
        and c["fresh_open_seen_after_s"] is not None
        and c["secure_channel_refusals"] == 0
        and c["gate_fault_alarms"][:1] == [True]
        and c["gate_fault_alarms"][-1:] == [False]
        for c in cases
    )
    return Outcome(ok, {"cases": cases})


def gate_fault_debounce(workdir: Path) -> Outcome:
    """Line noise makes the Modbus link drop and come back again and again: one alarm, one clearing."""
    with PtyLine(workdir) as line, modbus_gate(line, poll_period_s=0.05) as (_board, gate):
        seen = Recorder(gate)
        t0 = time.perf_counter()
        line.babble(True)
        time.sleep(NOISE_S)
        line.babble(False)
        cleared = wait_until(lambda: seen.alarms(t0)[-1:] == [False], WAIT_S)
        drops = gate.health().extra["link_drops"]
        alarms = seen.alarms(t0)
        observed = {
            "noise_s": NOISE_S,
            "link_drops": drops,
            "gate_fault_alarms": alarms,
            "cleared": cleared,
            "serial_errors": gate.health().errors,
        }
    # the noise must really have made the link flap, or nothing was tested
    return Outcome(isinstance(drops, int) and drops >= 2 and alarms == [True, False], observed)


SCENARIOS: list[Scenario] = [
    Scenario("modbus_lost_reply", "gate", modbus_lost_reply),
    Scenario("osdp_late_open", "gate", osdp_late_open),
    Scenario("gate_fault_debounce", "gate", gate_fault_debounce),
]
