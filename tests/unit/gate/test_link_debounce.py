"""The link alarm's debounce, on the base driver with a hand-driven clock (the simulator has no line)."""

from __future__ import annotations

from edged.gate.config import SimulatorGateConfig
from edged.gate.simulator import SimulatorGateDriver


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def driver_at(clock: Clock) -> tuple[SimulatorGateDriver, list[str]]:
    config = SimulatorGateConfig.model_validate({"safety": {"heartbeat_timeout_s": None}})
    driver = SimulatorGateDriver(config, clock=clock)
    kinds: list[str] = []
    driver.add_listener(lambda e: kinds.append(e.kind))
    driver._set_link(True)
    return driver, kinds


def step(driver: SimulatorGateDriver, clock: Clock, seconds: float) -> None:
    """Time passes as the supervisor sees it, in its tick steps."""
    end = clock.now + seconds
    while clock.now < end:
        clock.now = min(end, clock.now + 0.05)
        event = driver._report_link(clock.now)
        if event is not None:
            driver._emit(event)


def test_short_drops_raise_one_alarm_then_one_clearing() -> None:
    clock = Clock()
    driver, kinds = driver_at(clock)
    for _ in range(8):  # line noise: down 0.3 s, up 0.5 s, again and again
        driver._set_link(False, "no reply")
        step(driver, clock, 0.3)
        driver._set_link(True)
        step(driver, clock, 0.5)
    step(driver, clock, 3.0)
    assert kinds == ["link_up", "link_down", "link_up"]
    assert driver.health().extra["link_drops"] == 8


def test_a_single_short_drop_is_counted_not_alarmed() -> None:
    clock = Clock()
    driver, kinds = driver_at(clock)
    driver._set_link(False, "no reply")
    step(driver, clock, 0.5)
    driver._set_link(True)
    step(driver, clock, 5.0)
    assert kinds == ["link_up"] and driver.health().extra["link_drops"] == 1


def test_a_persistent_fault_is_reported_and_so_is_its_end() -> None:
    clock = Clock()
    driver, kinds = driver_at(clock)
    driver._set_link(False, "port gone")
    step(driver, clock, 30.0)
    assert kinds == ["link_up", "link_down"]
    driver._set_link(True)
    step(driver, clock, 1.0)
    assert kinds == ["link_up", "link_down"]  # not yet: back for less than link_up_report_s
    step(driver, clock, 2.0)
    assert kinds == ["link_up", "link_down", "link_up"]
