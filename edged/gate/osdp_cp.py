"""OSDP control-panel driver: this unit polls an OSDP IO controller over RS-485 (secure channel enforced).

Opening is an ``osdp_OUT`` temporary-on pulse (control code 5, timer in 100 ms units) timed by the IO
controller itself, so a crash here cannot leave the gate open. An open must be acknowledged within
``open_deadline_s``: libosdp keeps a silent PD "online" for seconds and would deliver a queued open
whenever the line comes back, so a late open is cancelled instead (the libosdp context is replaced) and
the grant refused; as it may have gone out, the outputs are then forced off (``OUT_PERMANENT_OFF``)
until the controller confirms. A PD silent for ``PD_SILENCE_S`` counts as down: nothing is queued.
Input status reports from the controller's passage sensors become passage events; LED and buzzer on its
reader show grant and deny. libosdp calls back from its own thread while holding its lock, so callbacks
only queue or record; the supervisor thread turns them into events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from osdp import (
    Command,
    CommandLEDColor,
    CompletionStatus,
    Event,
    EventNotification,
    LibFlag,
    LogLevel,
    PDInfo,
    StatusReportType,
)

from edged.gate.config import OsdpCpGateConfig
from edged.gate.driver import BaseGateDriver, GateIOError, GateOutcomeUnknown
from edged.gate.events import Direction, GateMode
from edged.gate.inputs import report_states, rising_edges
from edged.gate.osdp_link import FastControlPanel, TransportChannel, load_scbk
from edged.gate.transport import Backoff, SerialTransport

log = logging.getLogger(__name__)

OUT_PERMANENT_OFF = 1  # and abort any timed operation
OUT_PERMANENT_ON = 2
OUT_PERMANENT_OFF_AFTER_TIMED = 3  # off, but a running timed pulse completes
OUT_TEMPORARY_ON = 5  # timer_count in 100 ms units, then back to the permanent state
LED_PERMANENT_SET = 1
BUZZER_DEFAULT_TONE = 2
HEARD_WITHIN_S = 1.0  # the PD counts as answering when bytes came from it this recently
PD_SILENCE_S = 0.5  # the CP polls every 50 ms; no reply for this long and the link counts as down
FIRST_RESTART_AFTER_S = 1.0  # a secure-channel handshake takes a few polls; never cut one short
SC_FAILURES_FOR_REFUSAL = 2
REFUSAL_MEMORY_S = 15.0  # a refused handshake explains a down link for this long
CLOSE_FLUSH_S = 1.0  # on stop, wait this long at most for the fail-state outputs to be acknowledged
NOTIFY_SC_STATUS = EventNotification.SecureChannelStatus
STATUS_NAMES = {CompletionStatus.Ok: "acknowledged", CompletionStatus.Failed: "failed"}


@dataclass
class Submitted:
    """A command handed to libosdp, until its completion (acknowledged, failed, flushed) comes back."""

    what: str
    command: dict[str, Any]
    status: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def matches(self, command: dict[str, Any]) -> bool:
        return all(command.get(k) == v for k, v in self.command.items())


def timer_count(pulse_s: float) -> int:
    """Pulse length in OSDP timer units (100 ms), at least 1, at most 255 (25.5 s)."""
    return max(1, min(255, round(pulse_s * 10)))


class OsdpControlPanelDriver(BaseGateDriver):
    name = "osdp_cp"
    tick_period_s = 0.02

    def __init__(self, config: OsdpCpGateConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.safety, clock)
        self.config = config
        self.transport = SerialTransport(config.serial, clock)
        self._scbk = load_scbk(config.scbk)
        self._cp = self._new_context()
        self._cp_running = False
        self._inputs: dict[Direction, bool] = {}  # no report yet: every input inactive
        wired: tuple[tuple[Direction, int | None], ...] = (
            ("in", config.entry_sensor_input),
            ("out", config.exit_sensor_input),
        )
        self._sensors: dict[Direction, int] = {d: n for d, n in wired if n is not None}
        self._sc_refusals = 0
        self._sc_failures = 0  # failed handshakes in a row while the PD answers
        self._online_count = 0
        port = config.serial
        # libosdp parks an offline PD for up to 300 s; restarting the session ourselves bounds that by
        # this backoff
        self._restart_backoff = Backoff(
            max(FIRST_RESTART_AFTER_S, port.reconnect_min_s), port.reconnect_max_s, clock
        )
        self._restart_pending = False
        self._down_since = clock()
        self._refused_at = float("-inf")
        self._submitted: list[Submitted] = []  # awaiting completion, oldest first (libosdp is FIFO per PD)
        self._submitted_lock = threading.Lock()
        self._abort: list[Submitted] = []  # the forced-off outputs while their state is unknown
        self.late_opens_flushed = 0

    # ---- hooks ----------------------------------------------------------------------------------
    def _connect(self) -> None:
        self.transport.open()
        self._cp.start()
        self._cp_running = True
        self._restart_backoff.failed()

    def _disconnect(self) -> None:
        if self._cp_running:
            self._flush_commands(CLOSE_FLUSH_S)
            self._cp.stop()
            self._cp_running = False
        self.transport.close()

    def _open(self, direction: Direction, pulse_s: float, credential: int | None) -> None:
        """Wait for the controller's acknowledgement until the deadline; a late open is cancelled, never
        sent."""
        output = self.config.entry_output if direction == "in" else self.config.exit_output
        deadline_s = self.config.open_deadline_s
        what = f"open output {output}"
        sent = self._submit(
            what,
            {
                "command": Command.Output,
                "output_no": output,
                "control_code": OUT_TEMPORARY_ON,
                "timer_count": timer_count(pulse_s),
            },
        )
        if not sent.done.wait(deadline_s):
            self._cancel_queued()
            self.late_opens_flushed += 1
            raise GateOutcomeUnknown(f"{what}: not acknowledged within {deadline_s:.2f} s, cancelled")
        if sent.status != CompletionStatus.Ok:
            raise GateIOError(f"{what}: {STATUS_NAMES.get(sent.status, 'flushed')} by the IO controller")
        if self.config.reader_feedback:
            try:
                self._feedback_commands(granted=True)
            except GateIOError as exc:  # the gate opened; a missing green LED must not say otherwise
                self._record_error(f"grant feedback: {exc}")

    def _apply_outputs(self, state: GateMode) -> None:
        """``normal`` lets a running pulse finish; ``locked`` (and a locked fail state) cuts it."""
        codes = {
            "normal": OUT_PERMANENT_OFF_AFTER_TIMED,
            "locked": OUT_PERMANENT_OFF,
            "free_passage": OUT_PERMANENT_ON,
        }
        code = codes[state]
        for output in (self.config.entry_output, self.config.exit_output):
            self._submit(
                f"output {output} {state}",
                {"command": Command.Output, "output_no": output, "control_code": code, "timer_count": 0},
            )

    def _feedback(self, granted: bool) -> None:
        if self.config.reader_feedback:
            self._feedback_commands(granted)

    def _abort_open(self) -> bool:
        """``OUT_PERMANENT_OFF`` (cuts a running pulse) on both outputs, sent again until acknowledged."""
        if not self._abort:
            self._cp.flush_commands(self.config.address)  # nothing queued before may still go out
            self._abort = [
                self._submit(
                    f"output {output} off",
                    {
                        "command": Command.Output,
                        "output_no": output,
                        "control_code": OUT_PERMANENT_OFF,
                        "timer_count": 0,
                    },
                )
                for output in (self.config.entry_output, self.config.exit_output)
            ]
        if not all(sent.done.is_set() for sent in self._abort):
            return False
        confirmed = all(sent.status == CompletionStatus.Ok for sent in self._abort)
        self._abort = []
        return confirmed

    def _tick(self, now: float) -> None:
        with self._lock:  # an open waiting for its acknowledgement may replace the context meanwhile
            self._tick_locked(now)

    def _tick_locked(self, now: float) -> None:
        while (event := self._cp.get_event(self.config.address, timeout=-1)) is not None:
            self._handle(event)
        online = self._secure_and_online()
        if online != self._link_up:
            if online:
                self._online_count += 1
                self._sc_failures = 0
            else:
                self._down_since = now
            self._set_link(online, "" if online else self._why_down())
        if online:
            self._restart_backoff.succeeded()
        else:
            self._restart_session()

    def _reconnects(self) -> int:
        return max(0, self._online_count - 1)

    def _extra_health(self) -> dict[str, object]:
        return {
            "port": self.config.serial.port,
            "address": self.config.address,
            "secure_channel": self._cp_running and self._cp.is_sc_active(self.config.address),
            "secure_channel_refusals": self._sc_refusals,
            "serial_errors": self.transport.errors,
        }

    # ---- internals ------------------------------------------------------------------------------
    def _secure_and_online(self) -> bool:
        """libosdp keeps a PD "online" for seconds after its replies stop; recent bytes tell sooner."""
        if not self._cp_running or self._clock() - self.transport.last_rx > PD_SILENCE_S:
            return False
        addr = self.config.address
        return bool(self._cp.is_online(addr) and self._cp.is_sc_active(addr))

    def _pd_answering(self) -> bool:
        """Bytes arrive while there is no secure session: a PD is there, so a failed handshake is a key
        problem."""
        last_rx = self.transport.last_rx
        return not self._link_up and last_rx > self._down_since and self._clock() - last_rx < HEARD_WITHIN_S

    def _why_down(self) -> str:
        if not self.transport.is_open:
            return f"serial port {self.config.serial.port} not open: {self.transport.last_error}"
        if self._clock() - self._refused_at < REFUSAL_MEMORY_S:
            return "secure channel refused by the IO controller: SCBK mismatch (wrong key?)"
        silent = self._clock() - self.transport.last_rx
        if silent > PD_SILENCE_S:
            return f"PD {self.config.address} silent for {min(silent, 3600.0):.1f} s"
        return f"no secure OSDP session with PD {self.config.address}"

    def _flush_commands(self, timeout_s: float) -> None:
        """Let libosdp deliver what is queued (the fail-state outputs) before its thread stops."""
        deadline = self._clock() + timeout_s
        while self._pending() and self._secure_and_online() and self._clock() < deadline:
            time.sleep(0.02)
        if self._pending():
            log.warning("%d OSDP command(s) not acknowledged before stop", self._pending())

    def _new_context(self) -> FastControlPanel:
        info = PDInfo(
            self.config.address,
            TransportChannel(self.transport),
            scbk=self._scbk,
            flags=[LibFlag.EnforceSecure, LibFlag.EnableNotification],
        )
        return FastControlPanel(
            [info], log_level=LogLevel.Error, command_completion_handler=self._on_completion
        )

    def _cancel_queued(self) -> None:
        """Drop every queued command and the one in flight. libosdp keeps the one in flight through
        ``flush_commands`` and ``disable_pd`` and sends it once the line is back (seconds late), so the
        whole context is replaced: the new one knows no command and starts a fresh secure session."""
        if self._cp_running:
            self._cp.stop()
            self._cp_running = False
        with self._submitted_lock:
            cancelled, self._submitted = self._submitted, []
        for sent in cancelled:
            sent.done.set()  # status None: cancelled, never acknowledged
        self._abort = []
        self._cp = self._new_context()
        self._cp.start()
        self._cp_running = True
        self._restart_pending = False
        self._restart_backoff.failed()

    def _pending(self) -> int:
        with self._submitted_lock:
            return len(self._submitted)

    def _restart_session(self) -> None:
        """Disable then re-enable the PD (two refresh cycles apart), at most once per backoff step."""
        addr = self.config.address
        if self._restart_pending:
            if not self._cp.is_pd_enabled(addr):
                self._cp.enable_pd(addr)
                self._restart_pending = False
                self._restart_backoff.failed()
        elif self._restart_backoff.ready():
            self._cp.disable_pd(addr)
            self._restart_pending = True

    def _submit(self, what: str, command: dict[str, Any]) -> Submitted:
        if not self._secure_and_online():
            raise GateIOError(f"{what}: {self._why_down()}")
        sent = Submitted(what, command)
        with self._submitted_lock:  # never held while calling libosdp: its thread takes it in callbacks
            self._submitted.append(sent)
        if not self._cp.submit_command(self.config.address, command):
            with self._submitted_lock:
                self._submitted.remove(sent)
            raise GateIOError(f"{what}: libosdp refused the command")
        return sent

    def _on_completion(self, _address: int, command: dict[str, Any], status: int) -> None:
        """libosdp's thread, under its lock: pair the completion with the oldest matching submission."""
        with self._submitted_lock:
            for i, sent in enumerate(self._submitted):
                if sent.matches(command):
                    del self._submitted[i]
                    sent.status = status
                    sent.done.set()
                    return
        log.info("OSDP completion without a submission: %s (status %s)", command, status)

    def _feedback_commands(self, granted: bool) -> None:
        color = CommandLEDColor.Green if granted else CommandLEDColor.Red
        self._submit(
            "reader LED",
            {
                "command": Command.LED,
                "reader": 0,
                "led_number": 0,
                "control_code": LED_PERMANENT_SET,
                "on_count": 10,
                "off_count": 0,
                "on_color": color,
                "off_color": CommandLEDColor.Black,
                "temporary": True,
                "timer_count": 20,
            },
        )
        self._submit(
            "reader buzzer",
            {
                "command": Command.Buzzer,
                "reader": 0,
                "control_code": BUZZER_DEFAULT_TONE,
                "on_count": 2 if granted else 5,
                "off_count": 1,
                "rep_count": 1 if granted else 3,
            },
        )

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == Event.Notification:
            if event.get("type") == NOTIFY_SC_STATUS and not event.get("arg0") and self._pd_answering():
                # the first handshake after a line fault may meet the PD's stale session: only a second
                # failure in a row points at the key
                self._sc_failures += 1
                if self._sc_failures >= SC_FAILURES_FOR_REFUSAL:
                    self._sc_refusals += 1
                    self._refused_at = self._clock()
                    self._record_error(
                        "secure channel refused: the PD answers but not with this SCBK (wrong key?)"
                    )
            return
        if kind == Event.Status and event.get("type") == StatusReportType.Input:
            self._on_input_report(event.get("report"))

    def _on_input_report(self, report: object) -> None:
        state = report_states(report, self._sensors)
        if state is None:
            self._record_error(f"input status without a report: {type(report).__name__}")
            return
        previous, self._inputs = self._inputs, state
        for direction in rising_edges(previous, state):
            self._on_passage(direction)
