"""TLS with server verification and client certificates, and MQTT 3.1.1, against a real mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

from edged.events.outbox import Outbox
from edged.events.payloads import AlarmBody
from edged.events.stream import EventStream
from edged.mqtt.client import MqttLink
from edged.mqtt.localbroker import LocalBroker
from tests.integration.conftest import ACL, MosquittoBroker
from tests.integration.mqtt.clients import Collector, gate_config


def _deliver_one(broker: MosquittoBroker, tmp_path: Path, device: str, **overrides: object) -> MqttLink:
    config = gate_config(broker, tmp_path, **overrides)
    outbox = Outbox.from_config(config.outbox)
    link = MqttLink(config, device, outbox)
    EventStream(device, outbox).emit(AlarmBody(alarm="forced_entry", severity="critical"))
    link.start()
    return link


def test_v311_fallback_setting_delivers(mosquitto_broker: MosquittoBroker, tmp_path: Path) -> None:
    watcher = Collector(mosquitto_broker, "viewer", ["edged/g311/events/#"], "w311")
    link = _deliver_one(mosquitto_broker, tmp_path, "g311", protocol="v311")
    try:
        assert watcher.wait_for(lambda: len(watcher.messages) == 1, 60)
        assert json.loads(watcher.messages[0].payload)["alarm"] == "forced_entry"
        assert link.outbox.wait_until_empty(5)
    finally:
        link.stop()
        watcher.close()


def test_a_broker_with_an_unknown_ca_is_refused(mosquitto_broker: MosquittoBroker, tmp_path: Path) -> None:
    other = LocalBroker(tmp_path / "other-ca", tls=True)
    other.prepare()  # only to mint a different CA
    assert other.certificates is not None
    link = _deliver_one(
        mosquitto_broker, tmp_path, "gbad", tls={"enabled": True, "ca_file": str(other.certificates.ca)}
    )
    try:
        assert not link.connected.wait(3)
        assert len(link.outbox) == 1  # kept for later, not lost
    finally:
        link.stop()


def test_client_certificate_is_presented(tmp_path: Path) -> None:
    users = {"gate": "pw-gate", "viewer": "pw-viewer"}
    broker = LocalBroker(tmp_path / "mtls", tls=True, users=users, acl=ACL, require_client_cert=True)
    broker.start()
    assert broker.certificates is not None
    handle = MosquittoBroker(broker.host, broker.port, broker.certificates.ca, users, broker, broker.workdir)
    try:
        without = _deliver_one(handle, tmp_path / "a", "gnocert")
        assert not without.connected.wait(3)
        without.stop()
        certs = broker.certificates
        link = _deliver_one(
            handle,
            tmp_path / "b",
            "gcert",
            tls={
                "enabled": True,
                "ca_file": str(certs.ca),
                "client_cert": str(certs.client_cert),
                "client_key": {"file": str(certs.client_key)},
            },
        )
        assert link.connected.wait(60)
        assert link.outbox.wait_until_empty(10)
        link.stop()
    finally:
        broker.stop()
