"""A real mosquitto for integration tests: free loopback port, TLS with a throwaway CA, a password
file and an ACL. Stopped in teardown. ``broker.stop()`` / ``broker.start()`` simulate an outage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edged.mqtt.localbroker import MOSQUITTO, LocalBroker, generate_password
from tests.conftest import need

# gate: the daemon; operator: the back office (may send commands); viewer: a dashboard (read only).
ACL = """\
user gate
topic readwrite edged/#
topic readwrite homeassistant/#

user operator
topic readwrite edged/#
topic read homeassistant/#

user viewer
topic read edged/+/events/#
topic read edged/+/availability
"""


@dataclass
class MosquittoBroker:
    host: str
    port: int
    ca_path: Path
    credentials: dict[str, str]
    broker: LocalBroker
    workdir: Path


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    need(Path(MOSQUITTO).exists(), f"mosquitto at {MOSQUITTO} (scripts/setup installs it)")
    users = {name: generate_password() for name in ("gate", "operator", "viewer")}
    broker = LocalBroker(tmp_path / "mosquitto", tls=True, users=users, acl=ACL)
    broker.start()
    assert broker.certificates is not None
    try:
        yield MosquittoBroker(broker.host, broker.port, broker.certificates.ca, users, broker, broker.workdir)
    finally:
        broker.stop()
