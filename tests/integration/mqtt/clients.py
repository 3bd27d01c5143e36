"""Real MQTT peers for the tests: a collecting subscriber and the gate-side config for a broker."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edged.events.config import MqttConfig
from tests.integration.conftest import MosquittoBroker


def gate_config(broker: MosquittoBroker, tmp_path: Path, **overrides: Any) -> MqttConfig:
    """The daemon's MQTT section for this broker, password in a file as in production."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "mqtt-password"
    secret.write_text(broker.credentials["gate"] + "\n")
    secret.chmod(0o600)
    raw: dict[str, Any] = {
        "enabled": True,
        "host": "localhost",
        "port": broker.port,
        "username": "gate",
        "password": {"file": str(secret)},
        "tls": {"enabled": True, "ca_file": str(broker.ca_path)},
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
    }
    raw.update(overrides)
    return MqttConfig.model_validate(raw)


class Collector:
    """A subscriber with a persistent session, so it misses nothing across broker restarts."""

    def __init__(self, broker: MosquittoBroker, user: str, topics: list[str], client_id: str) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self.refused: list[int] = []
        self._lock = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.username_pw_set(user, broker.credentials[user])
        self.client.tls_set_context(ssl.create_default_context(cafile=str(broker.ca_path)))
        self.client.reconnect_delay_set(0.2, 1)
        self.topics = topics
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self._published: dict[int, int] = {}
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("localhost", broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        if not self.connected.wait(60):
            raise TimeoutError("collector could not connect")

    def _on_connect(self, client: paho.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            return
        for topic in self.topics:
            client.subscribe(topic, qos=1)
        self.connected.set()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)
            self._lock.notify_all()

    def _on_publish(self, _c: paho.Client, _u: object, mid: int, reason: Any, _p: object) -> None:
        with self._lock:
            self._published[mid] = reason.value
            self._lock.notify_all()

    def publish(self, topic: str, payload: bytes, properties: Properties | None = None, qos: int = 1) -> int:
        """Publish and wait for the PUBACK; returns its reason code value."""
        info = self.client.publish(topic, payload, qos=qos, properties=properties)
        with self._lock:
            self._lock.wait_for(lambda: info.mid in self._published, timeout=60)
            return self._published.get(info.mid, -1)

    def json_on(self, suffix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(m.payload) for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.2))
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
