"""MQTT 3.1.1 fallback: a proxy in front of a real mosquitto plays a broker that refuses MQTT 5
(both ways old brokers answer: a v5 CONNACK 0x84, or a 3.1.1 CONNACK "unacceptable protocol")."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from edged.events.config import MqttConfig
from edged.events.outbox import Outbox
from edged.events.payloads import AlarmBody
from edged.events.stream import EventStream
from edged.mqtt.client import MqttLink
from edged.mqtt.localbroker import MOSQUITTO, LocalBroker
from tests.conftest import need

REFUSE_V5 = b"\x20\x03\x00\x84\x00"
REFUSE_AS_V311 = b"\x20\x02\x00\x01"


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class OldBrokerProxy:
    """Refuses CONNECTs of protocol level 5, forwards the rest to ``upstream_port``."""

    def __init__(self, upstream_port: int, refusal: bytes) -> None:
        self.upstream_port = upstream_port
        self.refusal = refusal
        self.levels: list[int] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _serve(self, conn: socket.socket) -> None:
        try:
            head = self._read(conn, 2)  # packet type, first byte of the remaining length
            while head[-1] & 0x80:  # the remaining length is a varint
                head += self._read(conn, 1)
            head += self._read(conn, 7)  # "\x00\x04MQTT" and the protocol level
        except ConnectionError:
            conn.close()
            return
        level = head[-1]
        self.levels.append(level)
        if level == 5:
            conn.sendall(self.refusal)
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        upstream.sendall(head)
        threading.Thread(target=_pipe, args=(upstream, conn), daemon=True).start()
        _pipe(conn, upstream)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def plain_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    need(Path(MOSQUITTO).exists(), f"mosquitto at {MOSQUITTO}")
    broker = LocalBroker(tmp_path / "plain", tls=False)
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.parametrize("refusal", [REFUSE_V5, REFUSE_AS_V311], ids=["v5-connack", "v311-connack"])
def test_falls_back_to_311_and_delivers(plain_broker: LocalBroker, tmp_path: Path, refusal: bytes) -> None:
    proxy = OldBrokerProxy(plain_broker.port, refusal)
    received: list[bytes] = []
    got = threading.Event()
    watcher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="watch-311", protocol=paho.MQTTv311)
    watcher.on_message = lambda _c, _u, m: (received.append(m.payload), got.set())
    watcher.connect("127.0.0.1", plain_broker.port)
    watcher.subscribe("edged/old/events/#", qos=1)
    watcher.loop_start()
    config = MqttConfig.model_validate(
        {"enabled": True, "host": "127.0.0.1", "port": proxy.port, "outbox": {"path": str(tmp_path / "o.db")}}
    )
    outbox = Outbox.from_config(config.outbox)
    link = MqttLink(config, "old", outbox)
    EventStream("old", outbox).emit(AlarmBody(alarm="gate_fault"))
    link.start()
    try:
        assert link.connected.wait(60), f"never connected; protocol levels seen {proxy.levels}"
        assert got.wait(60)
        assert outbox.wait_until_empty(5)
    finally:
        link.stop()
        watcher.disconnect()
        watcher.loop_stop()
        proxy.close()
    assert proxy.levels[0] == 5 and 4 in proxy.levels  # tried MQTT 5 first, then 3.1.1
    assert link.protocol == paho.MQTTv311
    assert json.loads(received[0])["alarm"] == "gate_fault"
