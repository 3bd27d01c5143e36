"""Real peers on a pty line: a pymodbus RTU server, libosdp PD and CP. Each test gets a fresh line."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edged.gate.driver import BaseGateDriver
from edged.gate.events import GateEvent
from edged.gate.keys import generate_scbk, write_scbk
from edged.gate.ptyline import PtyLine

BAUD = 115200
WAIT_S = 60.0  # a hang guard: these wait for a state, they never assert how fast it came


@pytest.fixture
def line() -> Iterator[PtyLine]:
    with PtyLine() as pty_line:
        yield pty_line


@pytest.fixture
def scbk(tmp_path: Path) -> tuple[bytes, Path]:
    key = generate_scbk()
    path = tmp_path / "scbk"
    write_scbk(path, key)
    return key, path


def wait_until(predicate: Callable[[], object], timeout: float = WAIT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    if not predicate():
        pytest.fail(f"{what} not reached within {timeout} s")


def next_event(driver: BaseGateDriver, *kinds: str, timeout: float = WAIT_S) -> GateEvent:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            event = driver.events.get(timeout=max(left, 0.001))
        except queue.Empty:
            pytest.fail(f"no {'/'.join(kinds)} event within {timeout} s")
        if event.kind in kinds:
            return event


def drain(driver: BaseGateDriver) -> list[GateEvent]:
    events = []
    while True:
        try:
            events.append(driver.events.get_nowait())
        except queue.Empty:
            return events
