"""The daemon under faults, with real peers: the camera source vanishes and returns, the RS-485 port
vanishes (a pymodbus board on a pty line), the broker goes away, a broken config is reloaded. In each
case the daemon keeps running, says what is wrong (events over MQTT and the log) and loses no event."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from edged.app import Daemon
from edged.app_broker import LocalBroker
from edged.config.schema import load_config
from tests.integration.app.conftest import write_clip

WAIT_S = 120.0  # a hang guard: waits for a state, never asserts how fast it came


def wait_until(pred: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    pytest.fail(f"{what}: not within {timeout} s")


class Subscriber:
    """Everything published under the daemon's prefix, as parsed JSON (availability as text)."""

    def __init__(self, broker: LocalBroker) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("edged/#", qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            body: Any = json.loads(msg.payload)
        except ValueError:
            body = msg.payload.decode(errors="replace")
        with self.lock:
            self.messages.append((msg.topic, body))

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for t, b in self.messages if "/events/" in t and isinstance(b, dict)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Harness:
    def __init__(
        self,
        tmp: Path,
        models_dir: Path,
        broker: LocalBroker,
        gate: dict[str, Any],
        identity: dict[str, Any] | None = None,
        **mqtt: Any,
    ) -> None:
        self.clip = write_clip(tmp / "cam.avi", frames=10)
        self.cfg_path = tmp / "edged.yaml"
        self.doc: dict[str, Any] = {
            "device_id": "faults",
            "models": {"dir": str(models_dir)},
            "cameras": {
                "rgb": {"type": "file", "path": str(self.clip), "loop": True},
                "supervisor": {
                    "read_timeout_s": 0.2,
                    "stall_s": 1.0,
                    "backoff_initial_s": 0.1,
                    "backoff_max_s": 0.5,
                },
            },
            "policy": {"mode": "screening"},
            "gate": gate,
            "mqtt": {
                "enabled": True,
                "host": broker.host,
                "port": broker.port,
                "outbox": {"path": str(tmp / "outbox.sqlite3")},
                **mqtt,
            },
        }
        if identity is not None:
            self.doc["identity"] = identity
        self.cfg_path.write_text(yaml.safe_dump(self.doc))
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.daemon = Daemon(
            load_config(self.cfg_path), self.cfg_path, on_event=lambda k, p: self.events.append((k, dict(p)))
        )
        self.daemon.start()
        self._runner = threading.Thread(target=self.daemon.run, daemon=True)
        self._runner.start()

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]

    def alive(self) -> bool:
        d = self.daemon
        return self._runner.is_alive() and d._vision_thread is not None and d._vision_thread.is_alive()

    def stop(self) -> None:
        self.daemon.request_stop()
        self._runner.join(timeout=10)
        self.daemon.stop()


@pytest.fixture()
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


def camera_states(h: Harness) -> list[str]:
    return [p["state"] for k, p in h.events if k == "camera.status"]


def test_camera_lost_and_back(tmp_path: Path, models_dir: Path, broker: LocalBroker) -> None:
    sub = Subscriber(broker)
    h = Harness(tmp_path, models_dir, broker, {"type": "simulator", "safety": {"fail_state": "locked"}})
    try:
        gate = h.daemon.wiring.gate  # type: ignore[union-attr]
        wait_until(lambda: camera_states(h)[-1:] == ["online"], "camera online")
        assert gate.health().mode == "normal"
        saved = h.clip.read_bytes()
        h.clip.unlink()  # the camera is unplugged
        wait_until(lambda: camera_states(h)[-1:] == ["offline"], "camera offline")
        assert gate.health().mode == "locked"  # the gate holds its fail state while the camera is away
        time.sleep(0.5)
        assert h.alive()
        h.clip.write_bytes(saved)  # and plugged back
        wait_until(lambda: camera_states(h)[-1:] == ["online"], "camera back online")
        assert gate.health().mode == "normal"
        assert h.daemon.capture is not None and h.daemon.capture.reconnects >= 1
        report = h.daemon.status_report()
        assert report["cameras"]["rgb"]["state"] == "online" and report["cameras"]["rgb"]["reconnects"] >= 1
        assert report["gate"]["mode"] == "normal" and report["stale"] == []
        wait_until(
            lambda: any(
                e.get("components", {}).get("camera.rgb", "").startswith("offline") for e in sub.events()
            ),
            "offline status published over MQTT",
        )
        offline = [
            e for e in sub.events() if e.get("components", {}).get("camera.rgb", "").startswith("offline")
        ]
        assert (
            offline[0]["health"] == "failing" and "does not exist" in offline[0]["components"]["camera.rgb"]
        )
    finally:
        h.stop()
        sub.close()


def test_serial_port_lost_and_back(tmp_path: Path, models_dir: Path, broker: LocalBroker) -> None:
    from edged.gate.peers.modbus_board import ModbusIoBoard
    from edged.gate.ptyline import PtyLine

    sub = Subscriber(broker)
    with PtyLine() as line:
        board = ModbusIoBoard(line.b, slave_id=3, baudrate=115200)
        gate_cfg = {
            "type": "modbus",
            "serial": {"port": line.a, "baudrate": 115200, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5},
            "slave_id": 3,
            "poll_period_s": 0.05,
        }
        h = Harness(tmp_path, models_dir, broker, gate_cfg)
        try:
            gate = h.daemon.wiring.gate  # type: ignore[union-attr]
            wait_until(lambda: gate.health().link_up, "modbus link up")
            line.unplug("a")  # the USB-RS485 adapter is pulled out
            wait_until(lambda: "gate.link_down" in h.kinds(), "link_down event")
            time.sleep(0.5)
            assert h.alive()
            line.replug("a")
            wait_until(lambda: gate.health().link_up, "modbus link back up")
            wait_until(lambda: "gate.link_up" in h.kinds(), "link_up event")
            wait_until(
                lambda: (
                    [e.get("active") for e in sub.events() if e.get("alarm") == "gate_fault"][-2:]
                    == [True, False]
                ),
                "gate_fault raised and cleared over MQTT",
            )
            assert h.alive()
        finally:
            h.stop()
            board.close()
            sub.close()


def test_broker_lost_loses_no_event(tmp_path: Path, models_dir: Path) -> None:
    broker = LocalBroker()
    broker.start()
    h = Harness(tmp_path, models_dir, broker, {"type": "simulator"})
    try:
        link = h.daemon.wiring.mqtt  # type: ignore[union-attr]
        wait_until(lambda: link.connected.is_set() and len(link.outbox) == 0, "connected and drained")
        broker.stop()  # the broker goes away
        wait_until(lambda: not link.connected.is_set(), "link notices the broker is gone")
        before = link.outbox.last_seq
        for mode in ("free", "locked", "screening"):  # operators change the mode while it is away
            h.doc["policy"]["mode"] = mode
            h.cfg_path.write_text(yaml.safe_dump(h.doc))
            assert h.daemon.reload()
        assert link.outbox.last_seq == before + 3 and len(link.outbox) >= 3
        assert h.alive()
        port = broker.port
        broker = LocalBroker(port)
        broker.start()
        sub = Subscriber(broker)  # subscribed before the daemon's link comes back (it backs off >= 1 s)
        wait_until(lambda: link.connected.is_set() and len(link.outbox) == 0, "reconnected and drained")
        wait_until(
            lambda: {e["seq"] for e in sub.events()} >= {before + 1, before + 2, before + 3},
            "every event of the outage delivered",
        )
        modes = [e["mode"] for e in sorted(sub.events(), key=lambda e: e["seq"]) if e["seq"] > before][:3]
        assert modes == ["free", "locked", "screening"]
        sub.close()
    finally:
        h.stop()
        broker.stop()


def test_broken_config_on_reload_is_rejected_and_published(
    tmp_path: Path, models_dir: Path, broker: LocalBroker
) -> None:
    sub = Subscriber(broker)
    h = Harness(tmp_path, models_dir, broker, {"type": "simulator"})
    try:
        h.cfg_path.write_text("policy:\n  mode: [\n")  # a half-saved file
        assert h.daemon.reload() is False
        assert h.daemon.cfg.policy.mode == "screening"  # the old config stays
        wait_until(
            lambda: any(
                e.get("components", {}).get("config", "").startswith("rejected") for e in sub.events()
            ),
            "rejection published",
        )
        rejected = [k for k, _ in h.events if k == "config.rejected"]
        assert rejected and "edged.yaml:" in h.events[h.kinds().index("config.rejected")][1]["errors"][0]
        assert h.alive()
    finally:
        h.stop()
        sub.close()
