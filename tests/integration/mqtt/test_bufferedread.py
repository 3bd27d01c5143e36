"""The command connection's chunked reader delivers every message intact and in order, over TLS, for
payloads far smaller and far larger than one read (it relies on paho internals: an upgrade that breaks
them fails here)."""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edged.mqtt.bufferedread import CHUNK_BYTES, BufferedReadClient
from tests.integration.conftest import MosquittoBroker
from tests.integration.mqtt.clients import Collector


def test_every_message_arrives_intact_and_in_order(mosquitto_broker: MosquittoBroker) -> None:
    received: list[bytes] = []
    done = threading.Event()
    subscribed = threading.Event()
    sizes = [1, 40, 150, 4096, CHUNK_BYTES + 12_345, 3] * 40 + [200] * 2000
    payloads = [bytes([i % 251]) * size for i, size in enumerate(sizes)]

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        if len(received) == len(payloads):
            done.set()

    client = BufferedReadClient(CallbackAPIVersion.VERSION2, client_id="buffered", protocol=paho.MQTTv5)
    client.username_pw_set("gate", mosquitto_broker.credentials["gate"])
    client.tls_set_context(ssl.create_default_context(cafile=str(mosquitto_broker.ca_path)))
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("edged/buffered/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("localhost", mosquitto_broker.port)
    client.loop_start()
    sender = Collector(mosquitto_broker, "operator", [], "buffered-sender")
    try:
        assert subscribed.wait(10)
        for payload in payloads:
            sender.client.publish("edged/buffered/x", payload, qos=1)
        assert done.wait(60), f"{len(received)} of {len(payloads)} arrived"
    finally:
        sender.close()
        client.disconnect()
        client.loop_stop()
    assert received == payloads
