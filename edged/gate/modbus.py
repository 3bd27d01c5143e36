"""Modbus RTU relay/IO board driver: a coil per direction pulses the turnstile controller's dry contact,
discrete inputs carry its passage sensors.

The pulse is timed here (coil on, coil off after ``pulse_s``), so ``start`` and every reconnect force
all coils off first: a pulse cut short by a crash or a lost line can never resume, and nothing queued
while the line was down is replayed. A coil write without a reply may have switched the relay: it is an
outcome-unknown error, and the base class forces every coil off until the board confirms it. Prefer
boards with a hardware pulse/flash timer where the relay must drop even if this process is killed
mid-pulse (see docs/gate.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient

from edged.gate.config import ModbusGateConfig
from edged.gate.driver import BaseGateDriver, GateIOError, GateOutcomeUnknown
from edged.gate.events import Direction, GateMode
from edged.gate.inputs import rising_edges
from edged.gate.transport import LINE_ERRORS, Backoff, apply_rs485

log = logging.getLogger(__name__)

FAILURES_BEFORE_LINK_DOWN = 3
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs every garbled frame as an error


class ModbusGateDriver(BaseGateDriver):
    name = "modbus"
    tick_period_s = 0.01

    def __init__(self, config: ModbusGateConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.safety, clock)
        self.config = config
        port = config.serial
        self._client = ModbusSerialClient(
            port.port,
            framer=FramerType.RTU,
            baudrate=port.baudrate,
            parity=port.parity,
            stopbits=port.stopbits,
            timeout=config.response_timeout_s,
            retries=0,
        )
        self._bus = self._lock  # one lock: bus I/O and gate state never wait on each other in opposite order
        self._backoff = Backoff(port.reconnect_min_s, port.reconnect_max_s, clock)
        self._failures = 0
        self._reconnect_count = 0
        self._pulse_off_at: dict[int, float] = {}
        self._next_poll = 0.0
        self._inputs: dict[Direction, bool] | None = None
        wired: tuple[tuple[Direction, int | None], ...] = (
            ("in", config.entry_sensor_input),
            ("out", config.exit_sensor_input),
        )
        self._sensors: dict[Direction, int] = {d: a for d, a in wired if a is not None}

    # ---- hooks ----------------------------------------------------------------------------------
    def _connect(self) -> None:
        self._try_connect()

    def _disconnect(self) -> None:
        with self._bus:
            self._client.close()

    def _open(self, direction: Direction, pulse_s: float, credential: int | None) -> None:
        coil = self.config.entry_coil if direction == "in" else self.config.exit_coil
        with self._bus:
            self._write_coil(coil, True)
            self._pulse_off_at[coil] = self._clock() + pulse_s

    def _apply_outputs(self, state: GateMode) -> None:
        """``normal`` leaves a running pulse to end on time; ``locked`` and ``free_passage`` override it."""
        cfg = self.config
        with self._bus:
            if state != "normal":
                self._pulse_off_at.clear()
            hold = state == "free_passage"
            targets = {cfg.entry_coil: hold, cfg.exit_coil: hold}
            if cfg.free_passage_coil is not None:
                targets = {cfg.free_passage_coil: hold, cfg.entry_coil: False, cfg.exit_coil: False}
            for coil, on in targets.items():
                if coil not in self._pulse_off_at:
                    self._write_coil(coil, on)

    def _tick(self, now: float) -> None:
        with self._bus:
            if self._client.socket is None:
                if self._backoff.ready():
                    self._try_connect()
                return
            for coil, due in list(self._pulse_off_at.items()):
                if now >= due:
                    try:
                        self._write_coil(coil, False)
                        self._pulse_off_at.pop(coil, None)
                    except GateOutcomeUnknown as exc:
                        self._outcome_unknown(f"pulse end on coil {coil}: {exc}")
                    except GateIOError as exc:
                        self._record_error(f"pulse end on coil {coil}: {exc}")
            if self._sensors and now >= self._next_poll:
                self._next_poll = now + self.config.poll_period_s
                self._poll_inputs()

    def _reconnects(self) -> int:
        return self._reconnect_count

    def _extra_health(self) -> dict[str, object]:
        return {"port": self.config.serial.port, "slave_id": self.config.slave_id}

    # ---- bus ------------------------------------------------------------------------------------
    def _try_connect(self) -> None:
        with self._bus:
            if not self._client.connect():
                self._backoff.failed()
                self._set_link(False, f"cannot open {self.config.serial.port}")
                return
            try:
                apply_rs485(self._client.socket, self.config.serial.rs485)
            except (*LINE_ERRORS, ValueError) as exc:
                self._client.close()
                self._backoff.failed()
                self._record_error(f"RS-485 mode on {self.config.serial.port}: {exc}")
                return
            self._backoff.succeeded()
            self._failures = 0
            self._inputs = None
            self._pulse_off_at.clear()  # a pulse cut by the lost line is not resumed
            self._reconnect_count += 1
            self._set_link(True)  # forces the steady outputs: all coils off unless held open
            if self._sensors:
                self._poll_inputs()  # the baseline: a beam already broken at connect is not a passage

    def _request(self, what: str, call: Callable[[], Any], write: bool = False) -> Any:
        """One transaction; a write that went out without a valid reply raises ``GateOutcomeUnknown``."""
        with self._bus:
            if self._client.socket is None:
                raise GateIOError(f"{what}: line down ({self.config.serial.port})")
            try:
                response = call()
            except Exception as exc:  # pymodbus fed line garbage may raise more than ModbusException
                self._bus_failed(f"{what}: {exc}")
                raise (GateOutcomeUnknown if write else GateIOError)(f"{what}: {exc}") from None
            if response.isError():
                self._bus_failed(f"{what}: device answered {response}")
                raise GateIOError(f"{what}: device answered {response}")
            self._failures = 0
            return response

    def _bus_failed(self, message: str) -> None:
        self._failures += 1
        if self._client.socket is None or self._failures >= FAILURES_BEFORE_LINK_DOWN:
            self._client.close()
            self._backoff.failed()
            self._set_link(False, message)

    def _write_coil(self, coil: int, on: bool) -> None:
        slave = self.config.slave_id
        self._request(
            f"coil {coil} {'on' if on else 'off'}",
            lambda: self._client.write_coil(coil, on, device_id=slave),
            write=True,
        )

    def _poll_inputs(self) -> None:
        first = min(self._sensors.values())
        count = max(self._sensors.values()) - first + 1
        slave = self.config.slave_id
        try:
            response = self._request(
                "read sensors", lambda: self._client.read_discrete_inputs(first, count=count, device_id=slave)
            )
        except GateIOError:
            return
        bits = list(response.bits)
        if len(bits) < count:
            self._record_error(f"read sensors: {len(bits)} bits for {count} inputs")
            return
        state = {d: bool(bits[a - first]) for d, a in self._sensors.items()}
        previous, self._inputs = self._inputs, state
        for direction in rising_edges(previous, state):
            self._on_passage(direction)
