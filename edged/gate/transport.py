"""The serial line under the drivers: pyserial with RS-485 settings, reopened with backoff when it vanishes.

Reads and writes never raise: a USB adapter pulled out, a pty closed or a line error turns into
"no data" plus a recorded error, and the port is reopened later. The protocol stacks above (libosdp's
polling loop in particular) run on their own threads and must never see an exception from here.
"""

from __future__ import annotations

import contextlib
import logging
import termios
import threading
import time
from collections.abc import Callable

import serial
import serial.rs485

from edged.gate.config import Rs485Config, SerialPortConfig

log = logging.getLogger(__name__)

# pyserial lets termios.error (not an OSError) escape from flush and attribute setters on a dead port
LINE_ERRORS = (serial.SerialException, OSError, termios.error)


class Backoff:
    """Exponential delay between reconnect attempts: ``min_s`` doubling up to ``max_s``."""

    def __init__(self, min_s: float, max_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_s = min_s
        self.max_s = max(max_s, min_s)
        self._clock = clock
        self._delay = min_s
        self._next_at = 0.0

    def ready(self) -> bool:
        return self._clock() >= self._next_at

    def failed(self) -> None:
        self._next_at = self._clock() + self._delay
        self._delay = min(self._delay * 2, self.max_s)

    def succeeded(self) -> None:
        self._delay = self.min_s
        self._next_at = 0.0


def rs485_settings(config: Rs485Config) -> serial.rs485.RS485Settings:
    return serial.rs485.RS485Settings(
        rts_level_for_tx=config.rts_level_for_tx,
        rts_level_for_rx=config.rts_level_for_rx,
        loopback=config.loopback,
        delay_before_tx=config.delay_before_tx_s,
        delay_before_rx=config.delay_before_rx_s,
    )


def apply_rs485(port: serial.Serial, config: Rs485Config | None) -> None:
    """Switch the UART into kernel RS-485 mode; raises ``ValueError`` where the driver cannot."""
    if config is not None:
        port.rs485_mode = rs485_settings(config)


class SerialTransport:
    """A non-blocking byte pipe over one serial port, reopened with backoff."""

    def __init__(self, config: SerialPortConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._port: serial.Serial | None = None
        self._clock = clock
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s, clock)
        self._closed = False
        self.opens = 0
        self.last_rx = float("-inf")
        self.errors = 0
        self.last_error = ""

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> bool:
        """Try to open now (respecting the backoff); True when the port is open afterwards."""
        with self._lock:
            return self._ensure_open()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop("closed")

    def read(self, max_bytes: int) -> bytes:
        with self._lock:
            if not self._ensure_open():
                return b""
            assert self._port is not None
            try:
                data = bytes(self._port.read(max(0, max_bytes)))
            except LINE_ERRORS as exc:
                self._fault(exc)
                return b""
            if data:
                self.last_rx = self._clock()
            return data

    def write(self, data: bytes) -> int:
        with self._lock:
            if not self._ensure_open():
                return 0
            assert self._port is not None
            try:
                written = self._port.write(data)
                return int(written or 0)
            except LINE_ERRORS as exc:
                self._fault(exc)
                return 0

    def flush(self) -> None:
        with self._lock:
            if self._port is None:
                return
            try:
                self._port.reset_input_buffer()
            except LINE_ERRORS as exc:
                self._fault(exc)

    def _ensure_open(self) -> bool:
        if self._port is not None:
            return True
        if self._closed or not self._backoff.ready():
            return False
        cfg = self.config
        try:
            port = serial.Serial(
                cfg.port,
                baudrate=cfg.baudrate,
                parity=cfg.parity,
                stopbits=cfg.stopbits,
                timeout=0,
                write_timeout=1.0,
                exclusive=True,
            )
        except (*LINE_ERRORS, ValueError) as exc:
            self._backoff.failed()
            self._note_error(f"cannot open {cfg.port}: {exc}")
            return False
        try:
            apply_rs485(port, cfg.rs485)
        except (*LINE_ERRORS, ValueError) as exc:
            port.close()
            self._backoff.failed()
            self._note_error(f"cannot set RS-485 mode on {cfg.port}: {exc}")
            return False
        self._port = port
        self._backoff.succeeded()
        self.opens += 1
        log.info("serial port %s open (%d baud)", cfg.port, cfg.baudrate)
        return True

    def _fault(self, exc: BaseException) -> None:
        self._note_error(f"{self.config.port}: {exc}")
        self._drop("fault")
        self._backoff.failed()

    def _drop(self, why: str) -> None:
        if self._port is None:
            return
        with contextlib.suppress(*LINE_ERRORS):
            self._port.close()
        self._port = None
        log.info("serial port %s %s", self.config.port, why)

    def _note_error(self, message: str) -> None:
        self.errors += 1
        if message != self.last_error:
            log.warning("%s", message)
        self.last_error = message
