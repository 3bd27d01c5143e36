"""The daemon: builds every component from config, starts them in order, stops them in reverse,
and handles SIGHUP (reload) and SIGTERM (stop) with systemd's notify protocol around them."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from edged.app_control import DaemonCommands
from edged.app_wiring import Wiring, WiringError, build_wiring
from edged.capture.config import RgbSourceConfig
from edged.capture.opencv_source import create_rgb_source
from edged.capture.supervisor import CameraStatus, CaptureSupervisor
from edged.config.isolated import IsolatedCheck
from edged.config.loader import ConfigError
from edged.config.schema import EdgedConfig
from edged.decide.config import Mode
from edged.decide.lane import LaneController
from edged.decide.operating import OperatingPoints, find_calibration
from edged.decide.policy import PolicyEngine
from edged.gate.events import GateMode
from edged.health import Heartbeats, SdNotifier, WatchdogFeeder, watchdog_interval_s
from edged.health.metrics import LatencyRecorder
from edged.identity.gallery import embedder_tag
from edged.identity.operating_point import Calibration, CalibrationError
from edged.thermal.decision import FeverDecider
from edged.vision.pipeline import FacePipeline, load_mask_classifier, load_masked_embedder

log = logging.getLogger(__name__)

STATUS_EVERY_S = 60.0  # a status event (frame rates, drops, gate) this often
THERMAL_START_S = 15.0  # at start, wait this long for the thermal camera so both begin together
VISION_HEARTBEAT_S = 5.0  # the vision loop beats at least every 0.2 s; 5 s of silence means it hung
PROBE_EVERY_S = 2.0  # while events cannot be recorded, try a small write this often
GATE_MODE_FOR: dict[Mode, GateMode] = {
    "access": "normal",
    "screening": "normal",
    "free": "free_passage",
    "emergency": "free_passage",
    "locked": "locked",
}
# only these sections change without a restart; the others are reported as needing one
RELOADABLE = ("policy", "vision", "log_level")


class StartupError(Exception):
    """The daemon cannot start with this config (one clear line for the operator)."""


@dataclass
class RunResult:
    frames: int
    ended: bool  # the source (a file) ended, rather than a stop request


class Daemon:
    def __init__(
        self,
        cfg: EdgedConfig,
        config_path: Path | None = None,
        *,
        rgb: RgbSourceConfig | None = None,
        wiring: Wiring | None = None,
        notifier: SdNotifier | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ):
        self.cfg = cfg
        self.config_path = config_path
        self.rgb_cfg = rgb or cfg.cameras.rgb
        self.notifier = notifier or SdNotifier()
        self.heartbeats = Heartbeats()
        self.latency = LatencyRecorder()
        # thermal.fever restarts only with the daemon; its relative window outlives policy reloads
        self.fever = FeverDecider(cfg.thermal.fever)
        self._given_wiring = wiring
        self._on_event = on_event
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._ended = threading.Event()
        self._vision_thread: threading.Thread | None = None
        self._watchdog: WatchdogFeeder | None = None
        self.wiring: Wiring | None = None
        self.pipeline: FacePipeline | None = None
        self.capture: CaptureSupervisor | None = None
        self.lane: LaneController | None = None
        self.console: Any = None  # edged.console.server.ConsoleServer when console.enabled
        self._camera_online = False
        self._recording_failure: str | None = None  # why events cannot be recorded; None while they can
        self._recording_news = threading.Event()
        self.reloads = 0
        self.rejected_reloads = 0
        self._reload_check: IsolatedCheck | None = None
        self._last_report: tuple[float, dict[str, tuple[int, int]]] = (time.monotonic(), {})
        self._calibration: Calibration | None = None

    # ---- start ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Build and start everything; READY is sent only after the models are loaded and warm."""
        cfg = self.cfg
        if self.rgb_cfg is None:
            raise StartupError("no camera configured: set cameras.rgb in the config (or give --video)")
        t0 = time.monotonic()
        try:
            self._calibration = _calibration(cfg)
        except CalibrationError as exc:
            raise StartupError(str(exc)) from exc
        self.notifier.status("loading models")
        try:
            self.pipeline = FacePipeline.from_config(
                cfg, load_mask_classifier(cfg), load_masked_embedder(cfg)
            )
        except Exception as exc:  # model files missing or corrupt: say which, not a traceback
            raise StartupError(f"cannot load the face models: {exc}") from exc
        try:
            self.wiring = self._given_wiring or build_wiring(
                cfg, self.pipeline, self._camera_status, self.heartbeats, DaemonCommands(self)
            )
        except WiringError as exc:
            raise StartupError(str(exc)) from exc
        self.wiring.events_add_listener(self._on_event)
        outbox = self.wiring.outbox
        if outbox is not None:
            outbox.add_health_listener(self._recording_changed)
            if outbox.failure is not None:
                self._recording_changed(outbox.failure)
        gate = self.wiring.gate
        gate.start()
        self.lane = LaneController(
            lane=cfg.lane,
            policy=self._policy(cfg),
            pipeline=self.pipeline,
            gate=gate,
            events=self.wiring.events,
            identity=self.wiring.identity,
            thermal=self.wiring.thermal,
            latency=self.latency,
        )
        gate.set_mode(self.wiring.gate_fail_state)  # until the camera delivers: the policy's mode then
        source = create_rgb_source(self.rgb_cfg, "rgb")
        self.capture = CaptureSupervisor(source, cfg.cameras.supervisor, self._camera_status, self.heartbeats)
        self.wiring.start()
        wait_first = getattr(self.wiring.thermal, "wait_first_frame", None)
        if wait_first is not None and not wait_first(THERMAL_START_S):
            log.warning(
                "no thermal frame within %.0f s; starting without it (temperatures unknown)", THERMAL_START_S
            )
        self._vision_thread = threading.Thread(target=self._vision_loop, name="vision", daemon=True)
        self._vision_thread.start()
        self.capture.start()
        self._start_console()
        interval = watchdog_interval_s()
        if interval is not None:
            self._watchdog = WatchdogFeeder(self.notifier, self.heartbeats, interval)
            self._watchdog.start()
        self.notifier.ready(f"running, lane {cfg.lane}, mode {cfg.policy.mode}")
        self._publish(
            "daemon.started", {"mode": cfg.policy.mode, "startup_s": round(time.monotonic() - t0, 2)}
        )
        log.info("edged ready in %.1f s (lane %s, mode %s)", time.monotonic() - t0, cfg.lane, cfg.policy.mode)

    def _start_console(self) -> None:
        from edged.console.server import ConsoleError, start_console

        try:
            self.console = start_console(self)
        except ConsoleError as exc:
            raise StartupError(str(exc)) from exc

    # ---- the vision thread ----------------------------------------------------------------------
    def _vision_loop(self) -> None:
        assert self.capture is not None and self.lane is not None
        hb = self.heartbeats.register("vision", VISION_HEARTBEAT_S)
        capture, lane = self.capture, self.lane
        try:
            while not self._stop.is_set():
                hb.beat()
                frame = capture.slot.take(0.2)
                if frame is None:
                    lane.tick()
                    if capture.status.state == "ended" and capture.slot.closed:
                        lane.finish()
                        self._ended.set()
                        return
                    continue
                try:
                    lane.process(frame)
                except Exception:  # one bad frame must not stop the lane; the error is logged with its cause
                    log.exception("frame %d could not be processed", frame.index)
        finally:
            self.heartbeats.unregister("vision")

    def _camera_status(self, status: CameraStatus) -> None:
        """Camera online/offline: publish it, and hold the gate in its fail state while the camera is gone."""
        assert self.wiring is not None
        self._publish(
            "camera.status",
            {
                "camera": status.camera,
                "state": status.state,
                "reason": status.reason,
                "reconnects": status.reconnects,
            },
        )
        if status.camera != "rgb":
            return  # a thermal camera lost shows as missing temperatures, decided by the policy's rule
        gate = self.wiring.gate
        if status.state == "offline":
            self._camera_online = False
            gate.set_mode(self.wiring.gate_fail_state)
        elif status.state == "online" and not self._camera_online:
            self._camera_online = True
            if self._may_open():
                gate.set_mode(GATE_MODE_FOR[self.cfg.policy.mode])

    def _may_open(self) -> bool:
        """The gate leaves its fail state only while the camera delivers and events can be recorded."""
        return self._camera_online and self._recording_failure is None

    def _recording_changed(self, failure: str | None) -> None:
        """From the outbox (any thread, inside its lock): shut the gate now, say so from the main loop."""
        self._recording_failure = failure
        self._recording_news.set()
        if failure is not None and self.wiring is not None:
            self.wiring.gate.set_mode(self.wiring.gate_fail_state)

    def _recording_turn(self, now: float, next_probe: float) -> float:
        """Announce a change in recording health; while it fails, probe; returns the next probe time."""
        assert self.wiring is not None
        if self._recording_news.is_set():
            self._recording_news.clear()
            failure = self._recording_failure
            if failure is not None:
                log.error("events cannot be recorded (%s): the gate stays in its fail state", failure)
                self._publish("storage.failing", {"reason": failure})
            else:
                log.warning("events are recorded again")
                self._publish("storage.ok", {})
                if self._may_open():
                    self.wiring.gate.set_mode(GATE_MODE_FOR[self.cfg.policy.mode])
        if self._recording_failure is not None and self.wiring.outbox is not None and now >= next_probe:
            self.wiring.outbox.probe()
            return now + PROBE_EVERY_S
        return next_probe

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Record an event from outside the lane (operator commands)."""
        self._publish(kind, payload)

    def record(self, kind: str, payload: dict[str, Any]) -> None:
        """Record an event that must be stored before acting on it; raises if it cannot be."""
        if self.wiring is None:
            raise RuntimeError("the daemon is not running yet")
        payload.setdefault("lane", self.cfg.lane)
        self.wiring.events.publish(kind, payload)

    def forget(self, *terms: str) -> int:
        """After an erase: the person's id and name leave the outbox too (waiting events are rewritten,
        no copy left in free pages or the WAL). The log never holds them. Returns messages rewritten."""
        outbox = self.wiring.outbox if self.wiring is not None else None
        return outbox.scrub(list(terms)) if outbox is not None else 0

    def set_mode(self, mode: Mode) -> None:
        """Change the passage mode now (an operator command); a later reload from the file sets it again."""
        policy = self.cfg.policy.model_copy(update={"mode": mode})
        self.cfg = self.cfg.model_copy(update={"policy": policy})
        if self.lane is not None:
            self.lane.set_policy(self._policy(self.cfg))
        if self.wiring is not None and self._may_open():
            self.wiring.gate.set_mode(GATE_MODE_FOR[mode])
        log.warning("mode set to %s by command", mode)
        self._publish("config.reloaded", {"mode": mode, "needs_restart": [], "by": "command"})

    def _policy(self, cfg: EdgedConfig) -> PolicyEngine:
        """The policy at its operating points (the calibration loaded for ``cfg``, the gallery's size),
        with ``thermal.fever`` as its fever rule."""
        identity = self.wiring.identity if self.wiring is not None else None
        size = identity.gallery_size if identity is not None else None
        points = OperatingPoints.from_config(cfg.policy, cfg.vision, self._calibration, size)
        return PolicyEngine(cfg.policy, cfg.vision, points, self.fever)

    def _publish(self, kind: str, payload: dict[str, Any]) -> None:
        if self.wiring is None:
            return
        payload.setdefault("lane", self.cfg.lane)
        try:
            self.wiring.events.publish(kind, payload)
        except Exception:
            log.exception("event %s could not be recorded", kind)

    def status_report(self) -> dict[str, Any]:
        """Frame rates and drops per camera since the last report, and the gate's health."""
        now = time.monotonic()
        span = max(now - self._last_report[0], 1e-3)
        cameras: dict[str, Any] = {}
        sups = [
            ("rgb", self.capture),
            ("thermal", getattr(self.wiring.thermal, "capture", None) if self.wiring else None),
        ]
        for name, sup in sups:
            if sup is None:
                continue
            before = self._last_report[1].get(name, (0, 0))
            delivered, dropped = sup.delivered, sup.dropped
            cameras[name] = {
                "state": sup.status.state,
                "reason": sup.status.reason,
                "fps": round((delivered - before[0]) / span, 2),
                "dropped": dropped - before[1],
                "reconnects": sup.reconnects,
            }
            self._last_report[1][name] = (delivered, dropped)
        self._last_report = (now, self._last_report[1])
        gate = self.wiring.gate.health() if self.wiring is not None else None
        return {
            "mode": self.cfg.policy.mode,
            "cameras": cameras,
            "gate": {"ok": gate.ok, "mode": gate.mode, "link_up": gate.link_up} if gate else {},
            "stale": self.heartbeats.stale(),
            "recording": self._recording_failure or "ok",
        }

    # ---- main loop, signals, reload -------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def on_term(_sig: int, _frame: FrameType | None) -> None:
            self._stop.set()

        def on_hup(_sig: int, _frame: FrameType | None) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def run(self, *, until_ended: bool = False, max_s: float | None = None) -> RunResult:
        """The control loop: gate heartbeat while the pipeline is healthy, reloads, stop."""
        assert self.wiring is not None
        started = time.monotonic()
        next_status = started + STATUS_EVERY_S
        next_probe = started
        while not self._stop.wait(0.1):
            next_probe = self._recording_turn(time.monotonic(), next_probe)
            if time.monotonic() >= next_status:
                next_status += STATUS_EVERY_S
                self._publish("daemon.status", self.status_report())
            self._poll_reload()
            if not self.heartbeats.stale():
                self.wiring.gate.heartbeat()  # silence puts the gate in its fail state by itself
            if until_ended and self._ended.is_set():
                break
            if max_s is not None and time.monotonic() - started > max_s:
                break
        return RunResult(self.lane.frames if self.lane else 0, self._ended.is_set())

    def _poll_reload(self) -> None:
        """Start a requested reload's check, or apply the one that finished. The new file is parsed
        and validated in a child process with memory and time limits (:class:`IsolatedCheck`) while
        this loop keeps beating the gate with the old config; a hostile file costs only the child."""
        check = self._reload_check
        if check is not None and check.done():
            self._reload_check = None
            self._finish_reload(check.result)
        elif check is None and self._reload.is_set():
            self._reload.clear()
            if self.config_path is None:
                log.warning("reload asked, but the daemon runs on built-in defaults: nothing to read")
                return
            self.notifier.reloading()
            self._reload_check = IsolatedCheck(self.config_path).start()

    def reload(self) -> bool:
        """Re-read the config file now (checked in a child process, like a SIGHUP's reload); apply the
        reloadable sections, or keep the old config if it is invalid."""
        if self.config_path is None:
            log.warning("reload asked, but the daemon runs on built-in defaults: nothing to read")
            return False
        self.notifier.reloading()
        return self._finish_reload(IsolatedCheck(self.config_path).start().wait())

    def _finish_reload(self, result: EdgedConfig | ConfigError | None) -> bool:
        try:
            if not isinstance(result, EdgedConfig):
                exc = result or ConfigError([])
                self.rejected_reloads += 1
                for line in str(exc).splitlines():
                    log.error("config rejected, keeping the running one: %s", line)
                self._publish(
                    "config.rejected", {"file": str(self.config_path), "errors": str(exc).splitlines()}
                )
                return False
            try:
                calibration = _calibration(result)
            except CalibrationError as exc:
                self.rejected_reloads += 1
                log.error("config rejected, keeping the running one: %s", exc)
                self._publish("config.rejected", {"file": str(self.config_path), "errors": [str(exc)]})
                return False
            self._calibration = calibration
            self._apply(result)
            return True
        finally:
            self.notifier.ready(f"running, lane {self.cfg.lane}, mode {self.cfg.policy.mode}")

    def _apply(self, new: EdgedConfig) -> None:
        old = self.cfg
        needs_restart = [
            name
            for name in EdgedConfig.model_fields
            if name not in RELOADABLE and getattr(new, name) != getattr(old, name)
        ]
        self.cfg = old.model_copy(update={k: getattr(new, k) for k in RELOADABLE})
        logging.getLogger("edged").setLevel(self.cfg.log_level.upper())
        if self.lane is not None:
            self.lane.set_policy(self._policy(self.cfg))
        if self.wiring is not None and new.policy.mode != old.policy.mode and self._may_open():
            self.wiring.gate.set_mode(GATE_MODE_FOR[new.policy.mode])
        self.reloads += 1
        if needs_restart:
            log.warning(
                "config reloaded; these sections change only on restart: %s", ", ".join(needs_restart)
            )
        else:
            log.info("config reloaded (mode %s)", self.cfg.policy.mode)
        self._publish("config.reloaded", {"mode": self.cfg.policy.mode, "needs_restart": needs_restart})

    # ---- stop -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop in reverse order; the gate is left in its fail state; queued events are flushed if it can."""
        self.notifier.stopping()
        self._stop.set()
        if self._reload_check is not None:
            self._reload_check.cancel()
        if self.console is not None:
            self.console.stop()
        if self.capture is not None:
            self.capture.stop()
        if self._vision_thread is not None:
            self._vision_thread.join(timeout=5.0)
        if self._watchdog is not None:
            self._watchdog.stop()
        self._publish("daemon.stopping", {})
        if self.wiring is not None:
            self.wiring.gate.close()
            self.wiring.stop()
        log.info("edged stopped")


def _calibration(cfg: EdgedConfig) -> Calibration | None:
    """The impostor-tail calibration for the gallery's embedder (``CalibrationError`` if it does not fit)."""
    tag = embedder_tag(cfg.vision)
    return find_calibration(cfg.vision, f"{tag.model_id}@{tag.version}")
