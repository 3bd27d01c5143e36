"""What the two OSDP drivers share: the libosdp channel over ``SerialTransport`` and the SCBK."""

from __future__ import annotations

import logging
import threading
import time

from osdp import Channel, ControlPanel, PeripheralDevice

from edged.config.secrets import SecretError, SecretRef
from edged.gate.driver import GateError
from edged.gate.keys import KeyFormatError, parse_scbk
from edged.gate.transport import SerialTransport

log = logging.getLogger(__name__)

# libosdp must be refreshed at least every 50 ms; its Python wrapper sleeps 20 ms between refreshes, which
# adds up to 20 ms per hop of a command. 5 ms keeps that small at a negligible CPU cost.
REFRESH_PERIOD_S = 0.005


def _refresh_loop(stop: threading.Event, lock: threading.Lock, ctx: object) -> None:
    while not stop.is_set():
        with lock:
            ctx.refresh()  # type: ignore[attr-defined]
        time.sleep(REFRESH_PERIOD_S)


class FastControlPanel(ControlPanel):
    refresh = staticmethod(_refresh_loop)


class FastPeripheralDevice(PeripheralDevice):
    refresh = staticmethod(_refresh_loop)


class TransportChannel(Channel):
    """libosdp calls these from its refresh thread; ``SerialTransport`` never raises, so neither do they."""

    def __init__(self, transport: SerialTransport) -> None:
        super().__init__()
        self.transport = transport

    def read(self, max_bytes: int) -> bytes:
        try:
            return self.transport.read(max_bytes)
        except Exception:  # an exception left pending inside libosdp's C loop corrupts the interpreter state
            log.exception("OSDP channel read failed")
            return b""

    def write(self, buf: bytes) -> int:
        try:
            return self.transport.write(bytes(buf))
        except Exception:
            log.exception("OSDP channel write failed")
            return 0

    def flush(self) -> None:
        try:
            self.transport.flush()
        except Exception:
            log.exception("OSDP channel flush failed")


class ScbkError(GateError):
    """The key cannot be read or is not a 16-byte SCBK."""


def load_scbk(ref: SecretRef) -> bytes:
    """The 16-byte secure channel base key; the error names where it came from, never the value."""
    try:
        return parse_scbk(ref.read_bytes())
    except (SecretError, KeyFormatError) as exc:
        raise ScbkError(f"OSDP SCBK from {ref.describe()}: {exc}") from None
