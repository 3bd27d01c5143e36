"""OSDP reader mode: this unit is a peripheral device (reader) on the site's access panel.

A granted identity becomes a card read carrying the person's credential number (Wiegand format from
the config); the panel decides and drives the door itself. LED and buzzer commands from the panel are
obeyed: they are kept as the reader's current indication and reported as ``feedback`` events for the
unit's display. Passage tracking and the fail state belong to the panel in this mode.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from osdp import (
    Capability,
    CardFormat,
    Command,
    Event,
    LibFlag,
    LogLevel,
    PDCapabilities,
    PDInfo,
)

from edged.gate.config import OsdpReaderGateConfig
from edged.gate.credential import CredentialError, encode_wiegand
from edged.gate.driver import BaseGateDriver, GateError, GateIOError
from edged.gate.events import Direction, GateEvent, GateMode
from edged.gate.osdp_link import FastPeripheralDevice, TransportChannel, load_scbk
from edged.gate.transport import SerialTransport

log = logging.getLogger(__name__)

LED_COLORS = {0: "off", 1: "red", 2: "green", 3: "amber", 4: "blue", 5: "magenta", 6: "cyan", 7: "white"}
PANEL_SILENCE_S = 1.0  # panels poll every 50-200 ms; silence longer than this means the line is down
KEY_SUSPECT_AFTER_S = 2.0  # polled this long without a secure session: the SCBK is the likely cause
CARD_DIRECTION_FORWARD = 0  # OSDP card read direction, i.e. how a card was swiped, not the passage


class OsdpReaderGateDriver(BaseGateDriver):
    name = "osdp_reader"
    tracks_passages = False
    tick_period_s = 0.02

    def __init__(self, config: OsdpReaderGateConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.safety, clock)
        self.config = config
        self.transport = SerialTransport(config.serial, clock)
        caps = PDCapabilities(
            [
                (Capability.CardDataFormat, 1, 1),
                (Capability.LEDControl, 1, 1),
                (Capability.AudibleControl, 1, 1),
                (Capability.CommunicationSecurity, 1, 1),
            ]
        )
        info = PDInfo(
            config.address,
            TransportChannel(self.transport),
            scbk=load_scbk(config.scbk),
            flags=[LibFlag.EnforceSecure],
        )
        self._commands: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._pd = FastPeripheralDevice(
            info, caps, log_level=LogLevel.Error, command_handler=self._on_command
        )
        self._pd_running = False
        self.led = "off"
        self.buzzer_on = False
        self.card_reads = 0
        self._down_since = clock()
        self._key_reported = False

    def _connect(self) -> None:
        self.transport.open()
        self._pd.start()
        self._pd_running = True

    def _disconnect(self) -> None:
        if self._pd_running:
            self._pd.stop()
            self._pd_running = False
        self.transport.close()

    def _open(self, direction: Direction, pulse_s: float, credential: int | None) -> None:
        if credential is None:
            raise GateError("reader mode needs the person's credential number to send to the panel")
        cred = self.config.credential
        try:
            frame = encode_wiegand(cred.format, cred.facility_code, credential)
        except CredentialError as exc:
            raise GateError(str(exc)) from None
        if not self._secure_and_online():
            raise GateIOError("no secure OSDP session with the panel")
        event = {
            "event": Event.CardRead,
            "reader_no": self.config.reader_no,
            "format": CardFormat.Wiegand,
            "direction": CARD_DIRECTION_FORWARD,
            "length": frame.bit_length,
            "data": frame.data,
        }
        if self._pd.submit_event(event) is False:
            raise GateIOError("libosdp refused the card read")
        self.card_reads += 1

    def _apply_outputs(self, state: GateMode) -> None:
        """The panel owns the door; a reader has no outputs to drive."""

    def _tick(self, now: float) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            self._obey(command)
        online = self._secure_and_online()
        if online != self._link_up:
            self._down_since = now
            self._key_reported = False
            self._set_link(online, "" if online else "no secure OSDP session with the panel")
        if not online and not self._key_reported and self._polled_without_session(now):
            self._key_reported = True
            self._record_error(
                "the panel answers but no secure channel comes up: SCBK mismatch (wrong key?) or a noisy line"
            )

    def _extra_health(self) -> dict[str, object]:
        return {
            "port": self.config.serial.port,
            "address": self.config.address,
            "led": self.led,
            "card_reads": self.card_reads,
            "serial_errors": self.transport.errors,
        }

    def _polled_without_session(self, now: float) -> bool:
        """Bytes came after the link went down, yet no session for a while (a panel that refused the
        handshake goes quiet for minutes, so "recently" would miss it)."""
        return self.transport.last_rx > self._down_since and now - self._down_since >= KEY_SUSPECT_AFTER_S

    def _secure_and_online(self) -> bool:
        """libosdp keeps a PD "online" for seconds after the polls stop; recent bytes tell sooner."""
        if not self._pd_running or self._clock() - self.transport.last_rx > PANEL_SILENCE_S:
            return False
        return bool(self._pd.is_online() and self._pd.is_sc_active())

    def _on_command(self, command: dict[str, Any]) -> tuple[int, None]:
        """Runs on libosdp's thread under its lock: queue only."""
        self._commands.put(dict(command))
        return 0, None

    def _obey(self, command: dict[str, Any]) -> None:
        kind = command.get("command")
        if kind == Command.LED:
            self.led = LED_COLORS.get(int(command.get("on_color", 0)), "unknown")
            self._emit(GateEvent("feedback", detail=f"led {self.led}"))
        elif kind == Command.Buzzer:
            self.buzzer_on = int(command.get("control_code", 0)) != 0
            self._emit(GateEvent("feedback", detail=f"buzzer {'on' if self.buzzer_on else 'off'}"))
        else:
            log.info("panel command ignored by reader: %s", command.get("command"))
