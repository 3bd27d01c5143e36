"""libosdp peers: an OSDP IO controller (PD with outputs, inputs, LED, buzzer) and an access panel (CP)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from osdp import (
    Capability,
    Command,
    ControlPanel,
    Event,
    LibFlag,
    LogLevel,
    PDCapabilities,
    PDInfo,
    PeripheralDevice,
    StatusReportType,
)

from edged.gate.config import SerialPortConfig
from edged.gate.osdp_link import TransportChannel
from edged.gate.transport import SerialTransport

INPUTS = 4
OUTPUTS = 4


@dataclass(frozen=True)
class Received:
    """A command or event as the peer got it, with ``time.perf_counter()`` at arrival."""

    message: dict[str, Any]
    at: float = field(default_factory=time.perf_counter)


class _Recorder:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._cond = threading.Condition()

    def add(self, message: dict[str, Any]) -> None:
        with self._cond:
            self.received.append(Received(dict(message)))
            self._cond.notify_all()

    def matching(self, **fields: Any) -> list[Received]:
        with self._cond:
            return [r for r in self.received if all(r.message.get(k) == v for k, v in fields.items())]

    def wait_for(self, timeout: float, since: float, **fields: Any) -> Received | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.received:
                    if r.at >= since and all(r.message.get(k) == v for k, v in fields.items()):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def _transport(port: str, baudrate: int) -> SerialTransport:
    config = SerialPortConfig.model_validate(
        {"port": port, "baudrate": baudrate, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    )
    return SerialTransport(config)


class OsdpIoController(_Recorder):
    """An OSDP PD with relay outputs and contact inputs, as a turnstile IO controller would be."""

    def __init__(self, port: str, address: int, scbk: bytes, baudrate: int = 115200) -> None:
        super().__init__()
        self.transport = _transport(port, baudrate)
        caps = PDCapabilities(
            [
                (Capability.OutputControl, 1, OUTPUTS),
                (Capability.ContactStatusMonitoring, 1, INPUTS),
                (Capability.LEDControl, 1, 1),
                (Capability.AudibleControl, 1, 1),
                (Capability.CommunicationSecurity, 1, 1),
            ]
        )
        info = PDInfo(address, TransportChannel(self.transport), scbk=scbk, flags=[LibFlag.EnforceSecure])
        self._pd = PeripheralDevice(info, caps, log_level=LogLevel.Emergency, command_handler=self._command)
        self._inputs = [0] * INPUTS
        self._pd.start()

    def is_secure(self) -> bool:
        return bool(self._pd.is_online() and self._pd.is_sc_active())

    def set_input(self, number: int, on: bool) -> None:
        self._inputs[number] = int(on)
        self._pd.submit_event(
            {
                "event": Event.Status,
                "type": StatusReportType.Input,
                "nr_entries": INPUTS,
                "report": bytes(self._inputs),
            }
        )

    def output_pulses(self, output: int) -> list[Received]:
        return self.matching(command=Command.Output, output_no=output, control_code=5)

    def close(self) -> None:
        self._pd.stop()
        self.transport.close()

    def _command(self, command: dict[str, Any]) -> tuple[int, None]:
        self.add(command)
        return 0, None


PANEL_RETRY_S = 1.0


class OsdpPanel(_Recorder):
    """An access panel (CP) polling one reader; records the reader's card reads.

    Like the access panels on site, it retries an offline reader every ``PANEL_RETRY_S``; libosdp's own CP
    would leave it parked for up to 300 s after a burst of line noise.
    """

    def __init__(self, port: str, address: int, scbk: bytes, baudrate: int = 115200) -> None:
        super().__init__()
        self.address = address
        self.transport = _transport(port, baudrate)
        info = PDInfo(address, TransportChannel(self.transport), scbk=scbk, flags=[LibFlag.EnforceSecure])
        self._cp = ControlPanel([info], log_level=LogLevel.Emergency, event_handler=self._event)
        self._cp.start()
        self._stop = threading.Event()
        self._retry = threading.Thread(target=self._retry_offline, name="panel-retry", daemon=True)
        self._retry.start()

    def is_secure(self) -> bool:
        return bool(self._cp.is_online(self.address) and self._cp.is_sc_active(self.address))

    def send(self, command: dict[str, Any]) -> bool:
        return bool(self._cp.submit_command(self.address, command))

    def close(self) -> None:
        self._stop.set()
        self._retry.join(timeout=5.0)
        self._cp.stop()
        self.transport.close()

    def _retry_offline(self) -> None:
        while not self._stop.wait(PANEL_RETRY_S):
            if self._cp.is_online(self.address):
                continue
            if self._cp.is_pd_enabled(self.address):
                self._cp.disable_pd(self.address)
            else:
                self._cp.enable_pd(self.address)

    def _event(self, _pd: int, event: dict[str, Any]) -> int:
        self.add(event)
        return 0


def wait_until(predicate: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
