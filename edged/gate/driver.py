"""The ``GateDriver`` interface and the safety rules every driver shares.

A concrete driver only moves bytes: it implements ``_connect``, ``_disconnect``, ``_open`` (one bounded
pulse), ``_apply_outputs`` (the steady state for a mode), ``_feedback`` and optionally ``_tick`` and
``_abort_open``. This base class owns the rules: pulses bounded by configuration, one grant per passage,
the tailgating and forced-passage alarms, the fail state on stop or lost heartbeat, outputs forced off
after a command whose outcome is unknown, a debounced link alarm, and thread safety.
"""

from __future__ import annotations

import atexit
import logging
import math
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edged.gate.config import SafetyConfig
from edged.gate.events import DIRECTIONS, Direction, GateEvent, GateHealth, GateMode
from edged.gate.passage import PassageGuard

log = logging.getLogger(__name__)

GATE_MODES: tuple[GateMode, ...] = ("normal", "free_passage", "locked")
EVENT_QUEUE_SIZE = 1000
LINK_DROPS_FOR_FAULT = 3  # this many drops within LINK_DROP_WINDOW_S report the link down however short each
LINK_DROP_WINDOW_S = 10.0


class GateError(Exception):
    """A request the driver refuses (bad argument, wrong mode)."""


class GateIOError(Exception):
    """The serial peer did not take a command."""


class GateOutcomeUnknown(GateIOError):
    """A command may or may not have reached the peer (sent, no reply): the output's state is unknown."""


@dataclass(frozen=True)
class GrantResult:
    accepted: bool
    grant_id: int | None = None
    pulse_s: float = 0.0
    reason: str = ""
    outcome_unknown: bool = False  # refused, but the open may have reached the gate (it is being forced off)


class GateDriver(ABC):
    """What the daemon uses. Every method is thread-safe."""

    events: queue.Queue[GateEvent]

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def grant(
        self, direction: Direction, hold_s: float | None = None, credential: int | None = None
    ) -> GrantResult:
        """Open for one person in ``direction``; ``credential`` is the person's card number (reader mode)."""

    @abstractmethod
    def deny(self) -> None:
        """Feedback only (red LED, buzzer); the gate stays as it is."""

    @abstractmethod
    def set_mode(self, mode: GateMode) -> None: ...

    @abstractmethod
    def heartbeat(self) -> None:
        """Called by the daemon's control loop; silence longer than the configured timeout = fail state."""

    @abstractmethod
    def health(self) -> GateHealth: ...

    @abstractmethod
    def add_listener(self, callback: Callable[[GateEvent], None]) -> None: ...

    @abstractmethod
    def close(self) -> None:
        """Stop and leave the gate in its fail state."""

    def __enter__(self) -> GateDriver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BaseGateDriver(GateDriver):
    name = "base"
    tracks_passages = True
    tick_period_s = 0.05

    def __init__(self, safety: SafetyConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.safety = safety
        self._clock = clock
        self._lock = threading.RLock()
        self._mode: GateMode = "normal"
        self._guard = PassageGuard(safety.passage_timeout_s)
        self.events = queue.Queue(maxsize=EVENT_QUEUE_SIZE)
        self._listeners: list[Callable[[GateEvent], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat = clock()
        self._fail_active = False
        self._outputs_owed = False
        self._started = False
        self._link_up = False
        self._errors = 0
        self._dropped_events = 0
        self._last_error = ""
        self._unsure = ""  # why the outputs' state is unknown; forced off until confirmed
        self._link_reported: bool | None = None  # the debounced link state the events have told
        self._link_since = clock()
        self._link_detail = ""
        self._drops: deque[float] = deque()
        self._link_drops = 0

    # ---- hardware hooks -------------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> None:
        """Open the line and start talking; must not raise when the peer is absent (reconnect later)."""

    @abstractmethod
    def _disconnect(self) -> None: ...

    @abstractmethod
    def _open(self, direction: Direction, pulse_s: float, credential: int | None) -> None:
        """One open pulse of at most ``pulse_s``; raise ``GateIOError`` when the peer did not take it."""

    @abstractmethod
    def _apply_outputs(self, state: GateMode) -> None:
        """Drive the steady outputs: ``locked``/``normal`` closed, ``free_passage`` held open."""

    def _feedback(self, granted: bool) -> None:
        """LED/buzzer for a decision; drivers without a reader ignore it."""

    def _abort_open(self) -> bool:
        """Cut every open pulse now (outputs closed); True once the peer confirmed it, False while the
        confirmation is pending; raise ``GateIOError`` when it could not be sent."""
        self._apply_outputs("locked")
        return True

    def _tick(self, now: float) -> None:
        """Periodic work on the supervisor thread (polling inputs, reconnecting)."""

    def _extra_health(self) -> dict[str, object]:
        return {}

    # ---- public API -----------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self._last_heartbeat = self._clock()
            self._connect()  # drivers set the steady outputs when their link comes up
        self._thread = threading.Thread(target=self._supervise, name=f"gate-{self.name}", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # an unhandled exception still ends in the fail state

    def grant(
        self, direction: Direction, hold_s: float | None = None, credential: int | None = None
    ) -> GrantResult:
        if direction not in DIRECTIONS:
            raise GateError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        pulse_s = self._bounded_pulse(hold_s)
        with self._lock:
            if not self._started:
                return GrantResult(False, reason="driver not started")
            if self._fail_active:
                return GrantResult(False, reason="gate is in its fail state")
            if self._unsure:
                return GrantResult(False, reason=f"gate outputs unknown, being forced off: {self._unsure}")
            if self._mode == "locked":
                return GrantResult(False, reason="gate is locked")
            if self._mode == "free_passage":
                return GrantResult(True, pulse_s=0.0, reason="free passage: already open")
            try:
                self._open(direction, pulse_s, credential)
            except GateOutcomeUnknown as exc:
                self._outcome_unknown(f"open {direction}: {exc}", direction)
                return GrantResult(False, reason=f"outcome unknown: {exc}", outcome_unknown=True)
            except GateIOError as exc:
                self._record_error(f"open {direction}: {exc}")
                return GrantResult(False, reason=str(exc))
            grant_id = self._guard.grant(direction, pulse_s, self._clock()) if self.tracks_passages else None
            return GrantResult(True, grant_id=grant_id, pulse_s=pulse_s)

    def deny(self) -> None:
        with self._lock:
            try:
                self._feedback(False)
            except GateIOError as exc:
                self._record_error(f"deny feedback: {exc}")

    def set_mode(self, mode: GateMode) -> None:
        if mode not in GATE_MODES:
            raise GateError(f"mode must be one of {', '.join(GATE_MODES)}, not {mode!r}")
        with self._lock:
            if mode != "normal":
                for grant_id in self._guard.cancel_all():
                    log.info("grant %d cancelled by mode %s", grant_id, mode)
            self._mode = mode
            if not self._fail_active:
                self._try_outputs(mode)

    def heartbeat(self) -> None:
        with self._lock:
            self._last_heartbeat = self._clock()
            if self._fail_active and self._started and not self._stop.is_set():
                log.warning("heartbeat back: gate leaves its fail state, mode %s", self._mode)
                self._fail_active = False
                self._try_outputs(self._mode)

    def health(self) -> GateHealth:
        with self._lock:
            ok = self._started and self._link_up and not self._fail_active
            return GateHealth(
                ok=ok,
                driver=self.name,
                mode=self._mode,
                link_up=self._link_up,
                fail_state_active=self._fail_active,
                reconnects=self._reconnects(),
                errors=self._errors,
                last_error=self._last_error,
                pending_grants=self._guard.pending,
                extra={
                    "dropped_events": self._dropped_events,
                    "link_drops": self._link_drops,
                    "outputs_unknown": self._unsure,
                    **self._extra_health(),
                },
            )

    def add_listener(self, callback: Callable[[GateEvent], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def close(self) -> None:
        with self._lock:
            if not self._started:
                return
            self._stop.set()
        atexit.unregister(self.close)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        with self._lock:
            self._enter_fail_state("driver stopped")
            self._disconnect()
            self._started = False

    # ---- for subclasses -------------------------------------------------------------------------
    def _on_passage(self, direction: Direction) -> None:
        """A sensor saw a person pass in ``direction``."""
        with self._lock:
            mode: GateMode = self.safety.fail_state if self._fail_active else self._mode
            event = self._guard.passage(direction, mode, self._clock())
        self._emit(event)

    def _set_link(self, up: bool, detail: str = "") -> None:
        """The raw link state; ``link_up``/``link_down`` events follow it debounced (``_report_link``)."""
        with self._lock:
            if up == self._link_up:
                return
            now = self._clock()
            self._link_up = up
            self._link_since = now
            if up:
                self._try_outputs(self.safety.fail_state if self._fail_active else self._mode)
            else:
                self._link_detail = detail
                self._link_drops += 1
                self._drops.append(now)
            event = self._report_link(now)
        if event is not None:
            self._emit(event)

    def _outcome_unknown(self, why: str, direction: Direction | None = None) -> None:
        """A command's outcome is unknown: alarm, refuse grants and force the outputs off until confirmed."""
        with self._lock:
            self._record_error(f"outcome unknown: {why}")
            if self._unsure:
                return
            self._unsure = why
            for grant_id in self._guard.cancel_all():
                log.info("grant %d cancelled: outcome unknown", grant_id)
            self._emit(GateEvent("outcome_unknown", direction=direction, detail=why))
            self._resolve_unsure()

    def _record_error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message
        log.warning("gate %s: %s", self.name, message)

    def _reconnects(self) -> int:
        return 0

    def _emit(self, event: GateEvent) -> None:
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self._dropped_events += 1
            try:
                self.events.get_nowait()
                self.events.put_nowait(event)
            except (queue.Empty, queue.Full):
                pass
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:  # a listener's bug must not stop the gate
                log.exception("gate event listener failed")

    # ---- internals ------------------------------------------------------------------------------
    def _bounded_pulse(self, hold_s: float | None) -> float:
        if hold_s is None:
            return self.safety.default_pulse_s
        if not math.isfinite(hold_s) or hold_s <= 0:
            raise GateError(f"hold_s must be a positive number of seconds, not {hold_s!r}")
        if hold_s > self.safety.max_pulse_s:
            log.warning("hold %.2f s cut to the configured maximum %.2f s", hold_s, self.safety.max_pulse_s)
            return self.safety.max_pulse_s
        return hold_s

    def _try_outputs(self, state: GateMode) -> None:
        """Drive the steady outputs; on failure the supervisor keeps retrying (see ``_retry_outputs``)."""
        try:
            self._apply_outputs(state)
            self._outputs_owed = False
        except GateIOError as exc:
            self._outputs_owed = True
            self._record_error(f"outputs for {state}: {exc}")

    def _retry_outputs(self) -> None:
        """A fail state or mode that did not reach the hardware is written again while the link is up."""
        if self._outputs_owed and self._link_up:
            self._try_outputs(self.safety.fail_state if self._fail_active else self._mode)

    def _resolve_unsure(self) -> None:
        """Force the outputs off while their state is unknown; once confirmed, back to the steady state."""
        if not self._unsure or not self._link_up:
            return
        try:
            confirmed = self._abort_open()
        except GateIOError as exc:
            self._record_error(f"forcing outputs off: {exc}")
            return
        if not confirmed:
            return
        why, self._unsure = self._unsure, ""
        log.warning("gate %s: outputs confirmed off after: %s", self.name, why)
        self._emit(GateEvent("outcome_confirmed", detail=f"outputs confirmed off after: {why}"))
        self._try_outputs(self.safety.fail_state if self._fail_active else self._mode)

    def _report_link(self, now: float) -> GateEvent | None:
        """Debounce: down once it lasted ``link_down_report_s`` or dropped ``LINK_DROPS_FOR_FAULT`` times in
        ``LINK_DROP_WINDOW_S``; up again once it stayed up ``link_up_report_s``. Every drop is counted."""
        while self._drops and now - self._drops[0] > LINK_DROP_WINDOW_S:
            self._drops.popleft()
        raw, reported, held = self._link_up, self._link_reported, now - self._link_since
        if raw and (reported is None or (not reported and held >= self.safety.link_up_report_s)):
            self._link_reported = True
            self._drops.clear()
            return GateEvent("link_up", detail="" if reported is None else f"stable for {held:.1f} s")
        if reported is False:
            return None
        unstable = reported is True and len(self._drops) >= LINK_DROPS_FOR_FAULT
        if (not raw and held >= self.safety.link_down_report_s) or unstable:
            self._link_reported = False
            detail = self._link_detail
            if unstable:
                detail = f"link unstable, {len(self._drops)} drops in {LINK_DROP_WINDOW_S:.0f} s: {detail}"
            return GateEvent("link_down", detail=detail)
        return None

    def _enter_fail_state(self, why: str) -> None:
        if self._fail_active:
            return
        self._fail_active = True
        for grant_id in self._guard.cancel_all():
            log.info("grant %d cancelled: %s", grant_id, why)
        self._try_outputs(self.safety.fail_state)
        log.warning("gate %s in fail state %s: %s", self.name, self.safety.fail_state, why)
        self._emit(GateEvent("fail_state", detail=f"{self.safety.fail_state}: {why}"))

    def _supervise(self) -> None:
        while not self._stop.wait(self.tick_period_s):
            now = self._clock()
            try:
                self._tick(now)
            except Exception as exc:  # the supervisor must outlive any fault on the line
                self._record_error(f"tick: {exc!r}")
            with self._lock:
                self._retry_outputs()
                self._resolve_unsure()
                link_event = self._report_link(now)
                expired = self._guard.expire(now)
                timeout = self.safety.heartbeat_timeout_s
                if timeout is not None and not self._fail_active and now - self._last_heartbeat > timeout:
                    self._enter_fail_state(f"no heartbeat for {now - self._last_heartbeat:.1f} s")
            if link_event is not None:
                self._emit(link_event)
            for event in expired:
                self._emit(event)
