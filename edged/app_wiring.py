"""Builds the parts around the lane from config: gate driver, event sink (outbox + MQTT), gallery
search, thermal probe. Each part lives in its own package; this module only connects them."""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edged.capture.supervisor import StatusListener
from edged.config.schema import EdgedConfig
from edged.decide.config import PersonRights
from edged.decide.ports import EventSink, IdentityHit, IdentitySearch, ThermalProbe
from edged.gate.driver import GateDriver
from edged.gate.events import GateMode
from edged.health.heartbeat import Heartbeats
from edged.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

EventListener = Callable[[str, dict[str, Any]], None]

# never written to the log: the log cannot be erased with the person (journald keeps it)
PERSONAL_KEYS = frozenset({"person_id", "name", "display_name", "credential"})

# gate `type:` → (module, class); optional drivers are imported only when configured
GATE_DRIVERS = {
    "simulator": ("edged.gate.simulator", "SimulatorGateDriver"),
    "modbus": ("edged.gate.modbus", "ModbusGateDriver"),
    "osdp_cp": ("edged.gate.osdp_cp", "OsdpControlPanelDriver"),
    "osdp_reader": ("edged.gate.osdp_reader", "OsdpReaderGateDriver"),
}


class WiringError(Exception):
    pass


def create_gate(cfg: EdgedConfig) -> GateDriver:
    gate_type = cfg.gate.type
    module_name, class_name = GATE_DRIVERS[gate_type]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise WiringError(f"gate type {gate_type!r} is not available here: {exc}") from exc
    driver: GateDriver = cls(cfg.gate)
    return driver


class FanOutSink:
    """Serialises every event through one lock and hands it to the durable sink and any listeners."""

    def __init__(self, durable: EventSink | None = None) -> None:
        self._lock = threading.Lock()
        self.durable = durable
        self.listeners: list[EventListener] = []
        self.count = 0

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.count += 1
            loggable = {k: v for k, v in payload.items() if k not in PERSONAL_KEYS}
            log.info("event %s %s", kind, json.dumps(loggable, default=str, sort_keys=True))
            if self.durable is not None:
                self.durable.publish(kind, payload)
            for listener in self.listeners:
                try:
                    listener(kind, payload)
                except Exception:
                    log.exception("event listener failed")


@dataclass
class Wiring:
    gate: GateDriver
    gate_fail_state: GateMode
    events: FanOutSink
    identity: IdentitySearch | None = None
    thermal: ThermalProbe | None = None
    mqtt: Any = None  # edged.mqtt.client.MqttLink when MQTT is enabled
    outbox: Any = None  # edged.events.outbox.Outbox when MQTT is enabled
    starters: list[Callable[[], None]] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def events_add_listener(self, listener: EventListener | None) -> None:
        if listener is not None:
            self.events.listeners.append(listener)

    def start(self) -> None:
        for start in self.starters:
            start()

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:
                log.exception("stopping a component failed")


class GallerySearch:
    """The gallery (edged.identity) seen as the lane's identity search, with each person's rights."""

    def __init__(self, gallery: Any) -> None:
        self.gallery = gallery

    def search(self, embedding: np.ndarray) -> IdentityHit | None:
        matches = self.gallery.search(embedding, k=2)  # the best two distinct people: the margin rule
        if not matches:
            return None
        m = matches[0]
        p = m.person
        rights = PersonRights(
            valid_from=p.valid_from, valid_until=p.valid_until, lanes=list(p.groups) or None
        )
        runner_up = float(matches[1].score) if len(matches) > 1 else None
        return IdentityHit(p.person_id, float(m.score), p.name, p.credential, rights, runner_up)

    def gallery_size(self) -> int:
        return int(self.gallery.people())


def open_gallery(cfg: EdgedConfig) -> Any:
    """Open the enrolled gallery; raises ``WiringError`` with the reason when it cannot."""
    try:
        from edged.identity.gallery import Gallery, embedder_tag

        return Gallery.open(cfg.identity, embedder_tag(cfg.vision))
    except ImportError as exc:
        raise WiringError(f"the gallery is not available: {exc}") from exc
    except Exception as exc:  # key missing, database unreadable, integrity check failed
        raise WiringError(f"cannot open the gallery: {exc}") from exc


def build_wiring(
    cfg: EdgedConfig,
    pipeline: FacePipeline,
    on_camera_status: StatusListener | None = None,
    heartbeats: Heartbeats | None = None,
    commands: Any = None,
) -> Wiring:
    gate = create_gate(cfg)
    wiring = Wiring(gate=gate, gate_fail_state=cfg.gate.safety.fail_state, events=FanOutSink())
    if cfg.mqtt.enabled:
        _wire_mqtt(cfg, wiring, commands)
    if cfg.thermal.enabled:
        from edged.app_thermal import ThermalFeed

        try:
            feed = ThermalFeed(cfg.thermal, cfg.cameras.supervisor, on_camera_status, heartbeats)
        except (ValueError, ImportError) as exc:
            raise WiringError(f"thermal screening: {exc}") from exc
        wiring.thermal = feed
        wiring.starters.append(feed.start)
        wiring.stoppers.append(feed.stop)
    elif cfg.policy.temperature.rule != "off":
        log.warning(
            "policy.temperature.rule is %s but thermal is disabled: no temperature will be known",
            cfg.policy.temperature.rule,
        )
    try:
        gallery = open_gallery(cfg)
    except WiringError as exc:
        if cfg.policy.mode == "access":
            raise
        log.warning("%s; running without identity (mode %s does not need it)", exc, cfg.policy.mode)
    else:
        wiring.identity = GallerySearch(gallery)
        wiring.stoppers.append(gallery.close)
        log.info("gallery open: %d templates", len(gallery))
    return wiring


def _wire_mqtt(cfg: EdgedConfig, wiring: Wiring, commands: Any) -> None:
    """Events go to the durable outbox first; the MQTT link publishes from there whenever the broker is up."""
    from edged.app_events import OutboxSink
    from edged.events.outbox import Outbox, OutboxError
    from edged.events.stream import EventStream
    from edged.mqtt.client import MqttLink

    ob = cfg.mqtt.outbox
    try:
        outbox = Outbox.from_config(ob)
    except OutboxError as exc:
        raise WiringError(str(exc)) from exc
    link = MqttLink(cfg.mqtt, cfg.device_id, outbox, handler=commands)
    stream = EventStream(cfg.device_id, outbox)
    wiring.events.durable = OutboxSink(stream, cfg.policy.mode, direct=link.publish_now)
    wiring.mqtt = link
    wiring.outbox = outbox
    wiring.starters.append(link.start)
    wiring.stoppers.append(outbox.close)
    wiring.stoppers.append(lambda: link.stop(drain_s=2.0))
