"""OSDP control-panel driver against a real libosdp PD (an IO controller) on a pty line, secure channel on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from osdp import Command, CommandLEDColor

from edged.gate.config import OsdpCpGateConfig
from edged.gate.driver import GateError
from edged.gate.keys import generate_scbk
from edged.gate.osdp_cp import OsdpControlPanelDriver
from edged.gate.peers.osdp_devices import OsdpIoController
from edged.gate.ptyline import PtyLine
from tests.integration.gate.conftest import BAUD, WAIT_S, next_event, wait_until

ADDRESS = 7
ENTRY_OUT, EXIT_OUT = 0, 1
TEMPORARY_ON, PERMANENT_OFF, PERMANENT_ON, OFF_AFTER_TIMED = 5, 1, 2, 3


def config(line: PtyLine, key_file: Path, **overrides: object) -> OsdpCpGateConfig:
    fields: dict[str, object] = {
        "serial": {"port": line.a, "baudrate": BAUD, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        "address": ADDRESS,
        "scbk": {"file": str(key_file)},
        "entry_output": ENTRY_OUT,
        "exit_output": EXIT_OUT,
        "safety": {"heartbeat_timeout_s": None},
    }
    fields.update(overrides)
    return OsdpCpGateConfig.model_validate(fields)


@pytest.fixture
def controller(line: PtyLine, scbk: tuple[bytes, Path]) -> Iterator[OsdpIoController]:
    device = OsdpIoController(line.b, ADDRESS, scbk[0], baudrate=BAUD)
    yield device
    device.close()


@pytest.fixture
def driver(
    line: PtyLine, scbk: tuple[bytes, Path], controller: OsdpIoController
) -> Iterator[OsdpControlPanelDriver]:
    gate = OsdpControlPanelDriver(config(line, scbk[1]))
    gate.start()
    wait_until(lambda: gate.health().link_up, what="secure OSDP session")
    yield gate
    gate.close()


def test_secure_session_and_steady_outputs_off(
    controller: OsdpIoController, driver: OsdpControlPanelDriver
) -> None:
    assert driver.health().extra["secure_channel"] is True
    assert controller.is_secure()
    wait_until(lambda: len(controller.matching(command=Command.Output, control_code=OFF_AFTER_TIMED)) == 2)


def test_grant_is_a_timed_output_pulse_with_green_feedback(
    controller: OsdpIoController, driver: OsdpControlPanelDriver
) -> None:
    t0 = time.perf_counter()
    assert driver.grant("out", 1.5).accepted
    pulse = controller.wait_for(WAIT_S, t0, command=Command.Output, control_code=TEMPORARY_ON)
    assert pulse is not None
    assert (pulse.message["output_no"], pulse.message["timer_count"]) == (EXIT_OUT, 15)
    led = controller.wait_for(WAIT_S, t0, command=Command.LED)
    assert led is not None and led.message["on_color"] == CommandLEDColor.Green
    assert controller.wait_for(WAIT_S, t0, command=Command.Buzzer) is not None
    assert controller.output_pulses(ENTRY_OUT) == []


def test_deny_is_red_feedback_only(controller: OsdpIoController, driver: OsdpControlPanelDriver) -> None:
    t0 = time.perf_counter()
    driver.deny()
    led = controller.wait_for(WAIT_S, t0, command=Command.LED)
    assert led is not None and led.message["on_color"] == CommandLEDColor.Red
    time.sleep(0.3)
    assert controller.output_pulses(ENTRY_OUT) == [] and controller.output_pulses(EXIT_OUT) == []


def test_input_status_becomes_passage_events(
    controller: OsdpIoController, driver: OsdpControlPanelDriver
) -> None:
    granted = driver.grant("in", 3.0)
    controller.set_input(0, True)
    event = next_event(driver, "entered", "tailgating", "forced")
    assert (event.kind, event.grant_id) == ("entered", granted.grant_id)
    controller.set_input(0, False)
    time.sleep(0.2)
    controller.set_input(0, True)
    assert next_event(driver, "entered", "tailgating", "forced").kind == "tailgating"


def test_free_passage_and_close(
    controller: OsdpIoController, line: PtyLine, scbk: tuple[bytes, Path]
) -> None:
    gate = OsdpControlPanelDriver(config(line, scbk[1], safety={"fail_state": "free_passage"}))
    gate.start()
    try:
        wait_until(lambda: gate.health().link_up, what="secure OSDP session")
        t0 = time.perf_counter()
        gate.set_mode("free_passage")
        assert controller.wait_for(WAIT_S, t0, command=Command.Output, control_code=PERMANENT_ON) is not None
        t1 = time.perf_counter()
        gate.set_mode("locked")
        wait_until(
            lambda: (
                len(
                    [
                        r
                        for r in controller.matching(command=Command.Output, control_code=PERMANENT_OFF)
                        if r.at >= t1
                    ]
                )
                == 2
            ),
            what="both outputs off",
        )
        t2 = time.perf_counter()
    finally:
        gate.close()
    # emergency egress configured: the last word to the controller holds both outputs on
    last = [r.message for r in controller.matching(command=Command.Output) if r.at >= t2]
    assert sorted((m["output_no"], m["control_code"]) for m in last) == [
        (ENTRY_OUT, PERMANENT_ON),
        (EXIT_OUT, PERMANENT_ON),
    ]


def test_wrong_key_is_refused_and_reported(
    line: PtyLine, tmp_path: Path, controller: OsdpIoController
) -> None:
    from edged.gate.keys import write_scbk

    wrong = tmp_path / "wrong-scbk"
    write_scbk(wrong, generate_scbk())
    gate = OsdpControlPanelDriver(config(line, wrong))
    with gate:
        wait_until(lambda: gate.health().extra["secure_channel_refusals"], what="a refused secure channel")
        health = gate.health()
        assert not health.ok and not health.link_up
        assert "SCBK" in health.last_error
        result = gate.grant("in")
        assert not result.accepted and "SCBK" in result.reason
    assert controller.matching(command=Command.Output) == []
    assert not controller.is_secure()


def test_unreadable_key_is_one_clear_error(line: PtyLine, tmp_path: Path) -> None:
    bad = tmp_path / "scbk"
    bad.write_text("not a key\n")
    with pytest.raises(GateError, match="SCBK from file") as info:
        OsdpControlPanelDriver(config(line, bad))
    assert "not a key" not in str(info.value)


def test_port_vanishing_reconnects_without_duplicate_open(
    line: PtyLine, controller: OsdpIoController, driver: OsdpControlPanelDriver
) -> None:
    t0 = time.perf_counter()
    assert driver.grant("in", 0.5).accepted
    assert controller.wait_for(WAIT_S, t0, command=Command.Output, control_code=TEMPORARY_ON) is not None
    line.unplug("a")
    wait_until(lambda: not driver.health().link_up, what="link down")
    assert not driver.grant("in", 0.5).accepted
    assert next_event(driver, "link_down").kind == "link_down"  # reported once it lasted
    line.replug("a")
    wait_until(lambda: driver.health().link_up, what="secure session back", timeout=60.0)
    assert next_event(driver, "link_up").kind == "link_up"  # cleared once it held
    assert len(controller.output_pulses(ENTRY_OUT)) == 1
    t1 = time.perf_counter()
    assert driver.grant("in", 0.5).accepted
    assert controller.wait_for(WAIT_S, t1, command=Command.Output, control_code=TEMPORARY_ON) is not None
    assert len(controller.output_pulses(ENTRY_OUT)) == 2
    assert driver.health().reconnects >= 1
    assert driver.health().extra["secure_channel_refusals"] == 0  # a lost line is not a key problem


def test_noise_on_the_line_is_survived(
    line: PtyLine, controller: OsdpIoController, driver: OsdpControlPanelDriver
) -> None:
    for chunk in (b"\x53", b"\x53\x07\xff\xff\x00", bytes(range(256)), b"\x53" * 64, b"\xff" * 300):
        line.inject(chunk, to="a")
        line.inject(chunk, to="b")
        time.sleep(0.05)
    line.babble(True)
    time.sleep(1.0)
    driver.grant("in", 0.3)  # may or may not get through; must not raise
    line.babble(False)
    wait_until(lambda: driver.health().link_up, what="secure session after the noise", timeout=60.0)

    def granted() -> bool:
        t0 = time.perf_counter()
        return driver.grant("out", 0.3).accepted and (
            controller.wait_for(1.0, t0, command=Command.Output, control_code=TEMPORARY_ON) is not None
        )

    wait_until(granted, what="a grant reaching the controller after the noise", timeout=60.0)


@pytest.mark.parametrize("silent_before_s", [0.0, 1.0])
def test_an_open_past_its_deadline_is_refused_and_never_delivered_late(
    line: PtyLine, controller: OsdpIoController, driver: OsdpControlPanelDriver, silent_before_s: float
) -> None:
    line.drop("b")  # the controller no longer hears the panel; libosdp keeps it "online" for seconds
    time.sleep(silent_before_s)
    t0 = time.perf_counter()
    result = driver.grant("in", 1.0)
    assert not result.accepted
    assert result.outcome_unknown == (silent_before_s == 0.0)  # sent, or refused before sending
    time.sleep(3.0)  # the line stays broken for a while, then comes back
    line.drop("b", on=False)
    wait_until(lambda: driver.health().link_up, what="secure session back", timeout=60.0)
    wait_until(lambda: not driver.health().extra["outputs_unknown"], what="outputs confirmed", timeout=60.0)
    t1 = time.perf_counter()
    assert driver.grant("out", 0.5).accepted
    assert controller.wait_for(WAIT_S, t1, command=Command.Output, control_code=TEMPORARY_ON) is not None
    assert [r for r in controller.output_pulses(ENTRY_OUT) if r.at >= t0] == []  # never late
    assert driver.health().extra["secure_channel_refusals"] == 0
