"""A turnstile in software, for demos and tests: opens on command, reports passages, can be tailgated."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edged.gate.config import SimulatorGateConfig
from edged.gate.driver import BaseGateDriver
from edged.gate.events import Direction, GateMode

TAILGATER_GAP_S = 0.3


@dataclass(frozen=True)
class SimulatedOpen:
    direction: Direction
    pulse_s: float
    at: float  # time.perf_counter()


class SimulatedTurnstile:
    """Records every open; after ``passage_delay_s`` a person passes (and a tailgater right after)."""

    def __init__(self, passage_delay_s: float, walk_through: bool, tailgater: bool) -> None:
        self.passage_delay_s = passage_delay_s
        self.walk_through = walk_through
        self.tailgater = tailgater
        self.opens: list[SimulatedOpen] = []
        self.outputs: GateMode = "locked"
        self.on_passage: Callable[[Direction], None] | None = None
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def open(self, direction: Direction, pulse_s: float) -> None:
        with self._lock:
            self.opens.append(SimulatedOpen(direction, pulse_s, time.perf_counter()))
            if not self.walk_through:
                return
            delays = [self.passage_delay_s]
            if self.tailgater:
                delays.append(self.passage_delay_s + TAILGATER_GAP_S)
            for delay in delays:
                timer = threading.Timer(delay, self._pass, args=(direction,))
                timer.daemon = True
                self._timers.append(timer)
                timer.start()

    def person_passes(self, direction: Direction) -> None:
        """Someone goes through now (pushing a free or forced gate, or a test scripting it)."""
        self._pass(direction)

    def set_outputs(self, state: GateMode) -> None:
        with self._lock:
            self.outputs = "free_passage" if state == "free_passage" else "locked"

    def cancel(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()

    def _pass(self, direction: Direction) -> None:
        callback = self.on_passage
        if callback is not None:
            callback(direction)


class SimulatorGateDriver(BaseGateDriver):
    name = "simulator"

    def __init__(self, config: SimulatorGateConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.safety, clock)
        self.turnstile = SimulatedTurnstile(config.passage_delay_s, config.walk_through, config.tailgater)
        self.turnstile.on_passage = self._on_passage

    def _connect(self) -> None:
        self._set_link(True)

    def _disconnect(self) -> None:
        self.turnstile.cancel()

    def _open(self, direction: Direction, pulse_s: float, credential: int | None) -> None:
        self.turnstile.open(direction, pulse_s)

    def _apply_outputs(self, state: GateMode) -> None:
        self.turnstile.set_outputs(state)
