"""Modbus RTU driver against a real pymodbus server on a pty line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from edged.gate.config import ModbusGateConfig
from edged.gate.modbus import ModbusGateDriver
from edged.gate.peers.modbus_board import ModbusIoBoard
from edged.gate.ptyline import PtyLine
from tests.integration.gate.conftest import BAUD, WAIT_S, next_event, wait_until

ENTRY, EXIT, FREE = 0, 1, 2


@pytest.fixture
def board(line: PtyLine) -> Iterator[ModbusIoBoard]:
    peer = ModbusIoBoard(line.b, slave_id=5, baudrate=BAUD)
    yield peer
    peer.close()


def config(line: PtyLine, **overrides: object) -> ModbusGateConfig:
    fields: dict[str, object] = {
        "serial": {"port": line.a, "baudrate": BAUD, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5},
        "slave_id": 5,
        "entry_coil": ENTRY,
        "exit_coil": EXIT,
        "entry_sensor_input": 0,
        "exit_sensor_input": 1,
        "poll_period_s": 0.02,
        "safety": {"heartbeat_timeout_s": None, "max_pulse_s": 2.0},
    }
    fields.update(overrides)
    return ModbusGateConfig.model_validate(fields)


@pytest.fixture
def driver(line: PtyLine, board: ModbusIoBoard) -> Iterator[ModbusGateDriver]:
    gate = ModbusGateDriver(config(line))
    gate.start()
    wait_until(lambda: gate.health().link_up, what="modbus link up")
    yield gate
    gate.close()


def pulse_input(board: ModbusIoBoard, number: int) -> None:
    """A person breaks the passage beam: the input is high for a while, then low for a while."""
    board.set_input(number, True)
    time.sleep(0.3)
    board.set_input(number, False)
    time.sleep(0.3)


def test_start_forces_all_coils_off(board: ModbusIoBoard, driver: ModbusGateDriver) -> None:
    assert [w.coil for w in board.writes if not w.on] == [ENTRY, EXIT]
    assert not any(w.on for w in board.writes)


def test_grant_pulses_the_direction_coil(board: ModbusIoBoard, driver: ModbusGateDriver) -> None:
    t0 = time.perf_counter()
    assert driver.grant("out", 0.3).accepted
    on_at = board.wait_for(EXIT, True, WAIT_S, since=t0)
    off_at = board.wait_for(EXIT, False, WAIT_S, since=t0)
    assert on_at is not None and off_at is not None and off_at > on_at
    assert off_at - on_at >= 0.3  # the relay is held at least the asked pulse, never cut short
    assert board.rising_edges(ENTRY) == []


def test_pulse_is_capped_by_max_pulse(board: ModbusIoBoard, driver: ModbusGateDriver) -> None:
    t0 = time.perf_counter()
    assert driver.grant("in", 60.0).pulse_s == 2.0
    off_at = board.wait_for(ENTRY, False, WAIT_S, since=t0)
    assert off_at is not None and off_at - t0 < 60.0


def test_sensor_passages_become_events_and_tailgating_alarms(
    board: ModbusIoBoard, driver: ModbusGateDriver
) -> None:
    granted = driver.grant("in", 2.0)
    pulse_input(board, 0)
    assert next_event(driver, "entered", "forced", "tailgating").grant_id == granted.grant_id
    pulse_input(board, 0)
    alarm = next_event(driver, "entered", "forced", "tailgating")
    assert (alarm.kind, alarm.grant_id) == ("tailgating", granted.grant_id)
    pulse_input(board, 1)
    assert next_event(driver, "exited", "forced", "tailgating").kind == "forced"


def test_free_passage_and_fail_state_drive_the_coils(line: PtyLine, board: ModbusIoBoard) -> None:
    gate = ModbusGateDriver(config(line, free_passage_coil=FREE, safety={"fail_state": "free_passage"}))
    gate.start()
    try:
        wait_until(lambda: gate.health().link_up, what="modbus link up")
        gate.set_mode("free_passage")
        assert board.coil_on(FREE)
        gate.set_mode("normal")
        assert not board.coil_on(FREE)
    finally:
        gate.close()
    assert board.coil_on(FREE)  # emergency egress configured: closing leaves the gate free
    assert not board.coil_on(ENTRY) and not board.coil_on(EXIT)


def test_lost_heartbeat_locks(line: PtyLine, board: ModbusIoBoard) -> None:
    gate = ModbusGateDriver(config(line, safety={"heartbeat_timeout_s": 0.3}))
    with gate:
        wait_until(lambda: gate.health().link_up, what="modbus link up")
        gate.heartbeat()
        gate.set_mode("free_passage")
        assert board.coil_on(ENTRY) and board.coil_on(EXIT)
        assert "heartbeat" in next_event(gate, "fail_state").detail
        assert not board.coil_on(ENTRY) and not board.coil_on(EXIT)


def test_port_vanishing_reconnects_without_duplicate_open(
    line: PtyLine, board: ModbusIoBoard, driver: ModbusGateDriver
) -> None:
    t0 = time.perf_counter()
    assert driver.grant("in", 0.2).accepted
    assert board.wait_for(ENTRY, False, WAIT_S, since=t0) is not None
    line.unplug("a")
    refused = driver.grant("in", 0.2)
    assert not refused.accepted
    wait_until(lambda: not driver.health().link_up, what="link down")
    assert next_event(driver, "link_down").kind == "link_down"  # reported once it lasted
    line.replug("a")
    wait_until(lambda: driver.health().link_up, what="link back up")
    assert next_event(driver, "link_up").kind == "link_up"  # cleared once it held
    assert len(board.rising_edges(ENTRY)) == 1  # the refused grant was not replayed
    assert driver.health().reconnects >= 2
    t1 = time.perf_counter()
    assert driver.grant("in", 0.2).accepted
    assert board.wait_for(ENTRY, True, WAIT_S, since=t1) is not None
    assert len(board.rising_edges(ENTRY)) == 2


def test_noise_and_babbling_are_survived(
    line: PtyLine, board: ModbusIoBoard, driver: ModbusGateDriver
) -> None:
    for chunk in (b"\x00", b"\x05\x05\x05", bytes(range(256)), b"\x05\x01\x00\x00\xff"):
        line.inject(chunk, to="a")
        line.inject(chunk, to="b")
        time.sleep(0.05)
    line.babble(True)
    time.sleep(1.0)
    driver.grant("out", 0.2)  # may or may not get through the garbage; must not raise
    line.babble(False)
    wait_until(lambda: driver.health().link_up, what="link up after babbling")

    def granted() -> bool:
        t0 = time.perf_counter()
        return driver.grant("in", 0.2).accepted and board.wait_for(ENTRY, True, 1.0, since=t0) is not None

    wait_until(granted, what="a grant reaching the board after the noise")
    assert driver.health().errors >= 1


def test_wrong_slave_id_is_refused_and_reported(line: PtyLine, board: ModbusIoBoard) -> None:
    gate = ModbusGateDriver(config(line, slave_id=9, response_timeout_s=0.1))
    with gate:
        result = gate.grant("in")
        assert not result.accepted
        assert gate.health().errors >= 1
    assert board.rising_edges(ENTRY) == []


CRASHING_DAEMON = """
import sys, time
from edged.gate.config import ModbusGateConfig
from edged.gate.modbus import ModbusGateDriver
config = ModbusGateConfig.model_validate({
    "serial": {"port": sys.argv[1], "baudrate": int(sys.argv[3])}, "slave_id": 5,
    "safety": {"heartbeat_timeout_s": None, "max_pulse_s": 20.0},
})
gate = ModbusGateDriver(config)
gate.start()
assert gate.grant("in", 20.0).accepted
print("open", flush=True)
time.sleep(0.2)
if sys.argv[2] == "raise":
    raise RuntimeError("daemon bug")
time.sleep(60)
"""


def run_daemon(line: PtyLine, how: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_DAEMON, line.a, how, str(BAUD)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_unhandled_exception_mid_pulse_ends_locked(line: PtyLine, board: ModbusIoBoard) -> None:
    proc = run_daemon(line, "raise")
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode != 0 and "daemon bug" in err
    assert board.rising_edges(ENTRY) and not board.coil_on(ENTRY)


def test_restart_after_kill_mid_pulse_forces_coils_off(line: PtyLine, board: ModbusIoBoard) -> None:
    proc = run_daemon(line, "hang")
    proc.send_signal(signal.SIGKILL)  # no handler can run: the relay is still closed now
    proc.wait(timeout=WAIT_S)
    assert board.coil_on(ENTRY)
    gate = ModbusGateDriver(config(line))
    with gate:
        wait_until(lambda: gate.health().link_up, what="modbus link up")
        assert not board.coil_on(ENTRY)
    assert len(board.rising_edges(ENTRY)) == 1


def test_lost_reply_forces_the_relay_off_and_says_the_outcome_is_unknown(
    line: PtyLine, board: ModbusIoBoard
) -> None:
    gate = ModbusGateDriver(config(line, entry_sensor_input=None, exit_sensor_input=None))
    with gate:
        wait_until(lambda: gate.health().link_up, what="modbus link up")
        t0 = time.perf_counter()
        line.drop("a")  # the board's replies are lost; the driver's commands still reach it
        result = gate.grant("in", 1.0)
        line.drop("a", on=False)
        assert board.wait_for(ENTRY, True, WAIT_S, since=t0) is not None  # the open did reach the relay
        assert board.wait_for(ENTRY, False, WAIT_S, since=t0) is not None  # and was forced off
        assert not result.accepted and result.outcome_unknown
        assert next_event(gate, "outcome_unknown").direction == "in"
        assert next_event(gate, "outcome_confirmed").kind == "outcome_confirmed"
        assert not board.coil_on(ENTRY) and gate.health().link_up
        t1 = time.perf_counter()
        assert gate.grant("in", 0.2).accepted  # confirmed: grants work again
        assert board.wait_for(ENTRY, True, WAIT_S, since=t1) is not None


def test_grants_are_refused_until_the_board_confirms_the_relay_off(
    line: PtyLine, board: ModbusIoBoard
) -> None:
    gate = ModbusGateDriver(config(line, entry_sensor_input=None, exit_sensor_input=None))
    with gate:
        wait_until(lambda: gate.health().link_up, what="modbus link up")
        line.drop("a")
        first = gate.grant("in", 1.0)
        second = gate.grant("out", 1.0)  # the relay's state is still unknown
        assert first.outcome_unknown and not second.accepted and not second.outcome_unknown
        assert gate.health().extra["outputs_unknown"]
        assert board.rising_edges(EXIT) == []
        line.drop("a", on=False)
        next_event(gate, "outcome_confirmed")
        assert not gate.health().extra["outputs_unknown"]
        assert not board.coil_on(ENTRY) and not board.coil_on(EXIT)


def test_line_noise_raises_one_gate_fault_and_clears_it(
    line: PtyLine, board: ModbusIoBoard, driver: ModbusGateDriver
) -> None:
    kinds: list[str] = []
    driver.add_listener(lambda e: kinds.append(e.kind))
    line.babble(True)
    time.sleep(4.0)
    line.babble(False)

    def link_events() -> list[str]:
        return [k for k in kinds if k in ("link_down", "link_up")]

    wait_until(lambda: link_events()[-1:] == ["link_up"], what="link_up after the noise")
    assert link_events() == ["link_down", "link_up"]
    assert driver.health().extra["link_drops"] >= 2  # the noise did make the link drop, more than once
