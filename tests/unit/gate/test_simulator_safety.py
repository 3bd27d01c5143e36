"""The shared safety rules, exercised through the simulator driver (no hardware needed)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from edged.cli import main
from edged.gate.config import SafetyConfig, SimulatorGateConfig
from edged.gate.driver import GateError, GateIOError
from edged.gate.events import GateEvent, GateMode
from edged.gate.simulator import SimulatorGateDriver

WAIT_S = 5.0


def next_event(driver: SimulatorGateDriver, *kinds: str) -> GateEvent:
    """The next event of one of ``kinds`` (others are skipped); fails after WAIT_S."""
    while True:
        try:
            event = driver.events.get(timeout=WAIT_S)
        except queue.Empty:
            pytest.fail(f"no {'/'.join(kinds)} event within {WAIT_S} s")
        if event.kind in kinds:
            return event


def make(**kwargs: object) -> SimulatorGateDriver:
    safety = kwargs.pop("safety", {"heartbeat_timeout_s": None})
    return SimulatorGateDriver(SimulatorGateConfig.model_validate({"safety": safety, **kwargs}))


@pytest.fixture
def sim() -> Iterator[SimulatorGateDriver]:
    driver = make(passage_delay_s=0.05)
    driver.start()
    yield driver
    driver.close()


def test_grant_opens_once_and_the_passage_is_reported(sim: SimulatorGateDriver) -> None:
    result = sim.grant("in", 0.5)
    assert result.accepted and result.grant_id is not None
    assert [(o.direction, o.pulse_s) for o in sim.turnstile.opens] == [("in", 0.5)]
    event = next_event(sim, "entered", "exited", "tailgating", "forced")
    assert (event.kind, event.grant_id) == ("entered", result.grant_id)


def test_exit_direction(sim: SimulatorGateDriver) -> None:
    result = sim.grant("out")
    event = next_event(sim, "entered", "exited")
    assert (event.kind, event.direction, event.grant_id) == ("exited", "out", result.grant_id)


def test_pulse_is_bounded_by_configuration(sim: SimulatorGateDriver) -> None:
    assert sim.grant("in", 3600.0).pulse_s == sim.safety.max_pulse_s
    assert sim.turnstile.opens[-1].pulse_s == sim.safety.max_pulse_s
    assert sim.grant("in").pulse_s == sim.safety.default_pulse_s
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(GateError):
            sim.grant("in", bad)
    with pytest.raises(GateError):
        sim.grant("sideways")  # type: ignore[arg-type]


def test_tailgater_raises_the_alarm() -> None:
    driver = make(passage_delay_s=0.05, tailgater=True)
    with driver:
        result = driver.grant("in", 1.0)
        assert next_event(driver, "entered").grant_id == result.grant_id
        alarm = next_event(driver, "tailgating", "forced")
        assert (alarm.kind, alarm.grant_id) == ("tailgating", result.grant_id)


def test_forced_passage_while_locked(sim: SimulatorGateDriver) -> None:
    sim.turnstile.person_passes("in")
    assert next_event(sim, "entered", "forced", "tailgating").kind == "forced"


def test_unused_grant_times_out() -> None:
    driver = make(walk_through=False, safety={"heartbeat_timeout_s": None, "passage_timeout_s": 0.2})
    with driver:
        result = driver.grant("in")
        event = next_event(driver, "timeout")
        assert event.grant_id == result.grant_id
        assert driver.health().pending_grants == 0


def test_locked_mode_refuses_and_free_passage_holds_open(sim: SimulatorGateDriver) -> None:
    sim.set_mode("locked")
    result = sim.grant("in")
    assert not result.accepted and "locked" in result.reason
    assert sim.turnstile.opens == []
    sim.set_mode("free_passage")
    assert sim.turnstile.outputs == "free_passage"
    sim.turnstile.person_passes("out")
    assert next_event(sim, "passage", "forced").kind == "passage"
    sim.set_mode("normal")
    assert sim.turnstile.outputs == "locked"
    with pytest.raises(GateError):
        sim.set_mode("open-sesame")  # type: ignore[arg-type]


@pytest.mark.parametrize("fail_state", ["locked", "free_passage"])
def test_close_leaves_the_configured_fail_state(fail_state: str) -> None:
    driver = make(safety={"heartbeat_timeout_s": None, "fail_state": fail_state})
    driver.start()
    driver.set_mode("free_passage" if fail_state == "locked" else "normal")
    driver.close()
    assert driver.turnstile.outputs == fail_state
    assert next_event(driver, "fail_state").detail.startswith(fail_state)
    assert not driver.grant("in").accepted


@pytest.mark.parametrize("fail_state", ["locked", "free_passage"])
def test_lost_heartbeat_enters_fail_state_until_it_returns(fail_state: str) -> None:
    driver = make(walk_through=False, safety={"heartbeat_timeout_s": 0.2, "fail_state": fail_state})
    with driver:
        driver.set_mode("free_passage" if fail_state == "locked" else "normal")
        event = next_event(driver, "fail_state")
        assert "heartbeat" in event.detail
        assert driver.turnstile.outputs == fail_state
        assert driver.health().fail_state_active and not driver.health().ok
        refused = driver.grant("in")
        assert not refused.accepted and "fail state" in refused.reason
        driver.heartbeat()
        assert not driver.health().fail_state_active
        assert driver.turnstile.outputs == ("free_passage" if fail_state == "locked" else "locked")


def test_a_failing_listener_does_not_stop_the_driver(sim: SimulatorGateDriver) -> None:
    seen: list[str] = []

    def broken(_event: GateEvent) -> None:
        raise RuntimeError("listener bug")

    sim.add_listener(broken)
    sim.add_listener(lambda e: seen.append(e.kind))
    sim.grant("in")
    next_event(sim, "entered")  # the queue gets it first, listeners right after
    deadline = time.monotonic() + WAIT_S
    while "entered" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "entered" in seen


def test_grant_before_start_is_refused() -> None:
    driver = make()
    assert not driver.grant("in").accepted
    assert driver.turnstile.opens == []


def test_safety_config_checks_default_against_max() -> None:
    with pytest.raises(ValueError, match="default_pulse_s"):
        SafetyConfig(max_pulse_s=1.0, default_pulse_s=2.0)


def test_concurrent_grants_each_open_exactly_once() -> None:
    driver = make(walk_through=False)
    with driver:
        results: list[object] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(25):
                result = driver.grant("in", 0.1)
                with lock:
                    results.append(result.grant_id)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(results)) == len(results) == 200
        assert len(driver.turnstile.opens) == 200
        assert driver.health().pending_grants == 200


def test_bench_command_json_for_the_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "gate", "--driver", "simulator", "--samples", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (result,) = report["results"]
    assert result["driver"] == "simulator" and result["samples"] == 3 and result["failures"] == 0
    assert 0 <= result["median_ms"] <= result["p95_ms"] <= result["max_ms"]


class FlakyOutputsDriver(SimulatorGateDriver):
    """The first writes of the steady outputs fail, as on a line that garbles a few frames."""

    failures_left = 3

    def _apply_outputs(self, state: GateMode) -> None:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise GateIOError("frame garbled")
        super()._apply_outputs(state)


def test_fail_state_outputs_that_did_not_reach_the_gate_are_retried() -> None:
    config = SimulatorGateConfig.model_validate(
        {"walk_through": False, "safety": {"heartbeat_timeout_s": 0.3, "fail_state": "free_passage"}}
    )
    driver = FlakyOutputsDriver(config)
    with driver:
        deadline = time.monotonic() + 5.0
        while driver.failures_left and time.monotonic() < deadline:
            driver.heartbeat()
            time.sleep(0.01)
        driver.set_mode("locked")
        assert driver.turnstile.outputs == "locked"
        driver.failures_left = 2  # the fail state's first two writes will fail
        assert "heartbeat" in next_event(driver, "fail_state").detail
        deadline = time.monotonic() + 5.0
        while driver.turnstile.outputs != "free_passage" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert driver.turnstile.outputs == "free_passage"
        assert driver.failures_left == 0 and driver.health().errors >= 5
