"""Commands through a real mosquitto: only operator-signed, fresh, unreplayed, schema-valid commands
reach the daemon; every refusal is answered with its reason and the request's correlation data."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edged.events.outbox import Outbox
from edged.events.payloads import PassageBody
from edged.events.schema_files import load_schema
from edged.events.stream import EventStream
from edged.mqtt.client import MqttLink
from edged.mqtt.command_models import EnrollArgs, EraseArgs, ModeArgs, OpenArgs, PingArgs, ReloadArgs
from edged.mqtt.dispatch import REFUSAL_REPLIES_BURST, REFUSAL_REPLIES_PER_S
from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64, sign_command
from tests.integration.conftest import MosquittoBroker
from tests.integration.mqtt.clients import Collector, gate_config

DEVICE = "gate-cmd"
BASE = f"edged/{DEVICE}"


class RecordingHandler:
    """A real handler: it records what it was asked to do and answers like the daemon would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.end_thread_on_ping = False  # fault injection: a handler that ends its thread

    def _record(self, name: str, args: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append((name, args))
        return {"done": name}

    def open(self, args: OpenArgs) -> dict[str, Any]:
        return self._record("open", args)

    def mode(self, args: ModeArgs) -> dict[str, Any]:
        return self._record("mode", args)

    def enroll(self, args: EnrollArgs) -> dict[str, Any]:
        return self._record("enroll", args)

    def erase(self, args: EraseArgs) -> dict[str, Any]:
        return self._record("erase", args)

    def reload(self, args: ReloadArgs) -> dict[str, Any]:
        return self._record("reload", args)

    def ping(self, args: PingArgs) -> dict[str, Any]:
        if self.end_thread_on_ping:
            self.end_thread_on_ping = False
            raise SystemExit("injected fault")
        return self._record("ping", args)


@pytest.fixture
def operator_key() -> Any:
    return load_private_key(generate_private_key_pem())


@pytest.fixture
def gate(mosquitto_broker: MosquittoBroker, tmp_path: Path, operator_key: Any) -> Any:
    config = gate_config(
        mosquitto_broker,
        tmp_path,
        commands={"operator_keys": {"alice": public_key_b64(operator_key)}, "rate_per_s": 50, "burst": 20},
        homeassistant={"enabled": True},
    )
    outbox = Outbox.from_config(config.outbox)
    handler = RecordingHandler()
    link = MqttLink(config, DEVICE, outbox, handler)
    link.start()
    assert link.connected.wait(60)
    yield link, handler, EventStream(DEVICE, outbox)
    link.stop()
    outbox.close()


def _send(operator: Collector, name: str, payload: bytes, correlation: bytes) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = f"{BASE}/reply/backoffice"
    props.CorrelationData = correlation
    assert operator.publish(f"{BASE}/cmd/{name}", payload, props) == 0


def _response(operator: Collector, correlation: bytes) -> dict[str, Any]:
    def found() -> bool:
        return any(
            m.properties is not None and getattr(m.properties, "CorrelationData", None) == correlation
            for m in operator.messages
        )

    assert operator.wait_for(found, 10), f"no response for {correlation!r}"
    message = next(
        m for m in operator.messages if getattr(m.properties, "CorrelationData", None) == correlation
    )
    assert message.topic == f"{BASE}/reply/backoffice"
    body: dict[str, Any] = json.loads(message.payload)
    jsonschema.validate(body, load_schema("command-response"))
    return body


def test_signed_commands_are_carried_out_and_bad_ones_refused_with_reason(
    mosquitto_broker: MosquittoBroker, gate: Any, operator_key: Any
) -> None:
    _link, handler, _stream = gate
    operator = Collector(mosquitto_broker, "operator", [f"{BASE}/reply/#"], "operator-1")
    try:
        good = sign_command(operator_key, "alice", "open", DEVICE, {"lane": "lane-1", "reason": "visitor"})
        _send(operator, "open", good, b"c-open")
        assert _response(operator, b"c-open")["ok"] is True
        _send(
            operator,
            "mode",
            sign_command(operator_key, "alice", "mode", DEVICE, {"mode": "locked"}),
            b"c-mode",
        )
        assert _response(operator, b"c-mode")["result"] == {"done": "mode"}

        intruder = load_private_key(generate_private_key_pem())
        body = json.loads(good)
        cases = {
            "unsigned": json.dumps({"v": 1, "key_id": "alice", "body": body["body"]}).encode(),
            "bad_signature": sign_command(intruder, "alice", "open", DEVICE, {}),
            "unknown_key": sign_command(intruder, "mallory", "open", DEVICE, {}),
            "replayed": good,
            "expired": sign_command(operator_key, "alice", "open", DEVICE, {}, now_s=time.time() - 120),
            "invalid_args": sign_command(operator_key, "alice", "open", DEVICE, {"lane": "x", "force": True}),
            "wrong_target": sign_command(operator_key, "alice", "open", "another-gate", {}),
            "schema": b'{"v": 1, "key_id": "alice", "sig": 42}',
        }
        for reason, payload in cases.items():
            _send(operator, "open", payload, reason.encode())
        for reason in cases:
            response = _response(operator, reason.encode())
            assert response["ok"] is False and response["reason"] == reason, response
        enroll_bad = sign_command(operator_key, "alice", "enroll", DEVICE, {"person_id": "p1"})
        _send(operator, "enroll", enroll_bad, b"c-enroll")
        assert _response(operator, b"c-enroll")["reason"] == "invalid_args"
    finally:
        operator.close()
    assert [name for name, _ in handler.calls] == ["open", "mode"]
    assert handler.calls[0][1] == OpenArgs(lane="lane-1", reason="visitor")


def test_a_dashboard_account_cannot_publish_commands(mosquitto_broker: MosquittoBroker, gate: Any) -> None:
    viewer = Collector(mosquitto_broker, "viewer", [], "viewer-cmd")
    try:
        assert viewer.publish(f"{BASE}/cmd/open", b"{}") == 135  # v5 PUBACK: not authorized (ACL)
    finally:
        viewer.close()
    assert gate[1].calls == []


def test_home_assistant_discovery_and_availability_are_retained(
    mosquitto_broker: MosquittoBroker, gate: Any
) -> None:
    watcher = Collector(mosquitto_broker, "operator", ["homeassistant/#", f"{BASE}/availability"], "ha")
    try:
        assert watcher.wait_for(lambda: len(watcher.messages) >= 2, 60)
        discovery = next(m for m in watcher.messages if m.topic.startswith("homeassistant/"))
        availability = next(m for m in watcher.messages if m.topic.endswith("/availability"))
    finally:
        watcher.close()
    assert discovery.retain and availability.retain and availability.payload == b"online"
    assert discovery.topic == f"homeassistant/device/edged_{DEVICE}/config"
    payload = json.loads(discovery.payload)
    assert payload["avty_t"] == f"{BASE}/availability"
    assert {c["p"] for c in payload["cmps"].values()} == {"sensor", "binary_sensor"}
    assert payload["cmps"]["last_passage"]["stat_t"] == f"{BASE}/events/passage"


def test_a_flood_of_bad_commands_does_not_stop_event_delivery(
    mosquitto_broker: MosquittoBroker, gate: Any, operator_key: Any
) -> None:
    link, handler, stream = gate
    watcher = Collector(mosquitto_broker, "viewer", [f"{BASE}/events/passage"], "viewer-flood")
    flooder = Collector(mosquitto_broker, "operator", [], "flooder")
    events = 300
    flood = 3000
    try:
        start = time.monotonic()
        for i in range(flood):
            flooder.client.publish(
                f"{BASE}/cmd/open", b'{"v": 1, "key_id": "x", "sig": "AA==", "body": "{}"}', qos=0
            )
            if i % 10 == 0:
                stream.emit(PassageBody(decision="denied", reasons=["unknown"], lane="lane-1"))
        assert watcher.wait_for(lambda: len(watcher.messages) >= events, 120)
        elapsed = time.monotonic() - start
        seqs = [json.loads(m.payload)["seq"] for m in watcher.messages]
    finally:
        watcher.close()
        flooder.close()
    assert seqs == sorted(seqs) and len(set(seqs)) == events
    counters = link.dispatcher.counters
    # Refusals are answered within their own small budget; the rest are counted, never answered.
    answered = counters.refused - counters.unanswered
    assert answered <= REFUSAL_REPLIES_BURST + REFUSAL_REPLIES_PER_S * (elapsed + 1)
    assert counters.unanswered + counters.queue_full > 0
    assert handler.calls == []
    print(f"{flood} bad commands, {events} events in {elapsed:.2f} s; counters {counters}")


def _hostile(operator_key: Any) -> dict[str, bytes]:
    now_ms = int(time.time() * 1000)

    def signed(body_text: str) -> bytes:
        sig = base64.b64encode(operator_key.sign(body_text.encode())).decode()
        return json.dumps({"v": 1, "key_id": "alice", "sig": sig, "body": body_text}).encode()

    body = f'{{"cmd":"open","device_id":"{DEVICE}","nonce":"{"a" * 32}","args":{{}},"ts_ms":'
    return {
        "deep-array": b"[" * 100_000 + b"]" * 100_000,
        "huge-ts": signed(body + "1" + "0" * 400 + "}"),
        "deep-args": signed(
            body.replace('"args":{}', '"args":{"lane":' + "[" * 50_000 + "]" * 50_000 + "}")
            + str(now_ms)
            + "}"
        ),
        "surrogates": b'{"v": 1, "key_id": "alice", "sig": "AA==", "body": "\\udc80"}',
        "not-utf8": b'{"v": 1, "key_id": "\xff", "sig": "AA==", "body": "{}"}',
    }


def test_no_message_stops_command_handling(
    mosquitto_broker: MosquittoBroker, gate: Any, operator_key: Any
) -> None:
    """A 100,000-deep JSON array and a signed ts_ms of 10^400 once ended the command thread for good."""
    link, handler, _stream = gate
    operator = Collector(mosquitto_broker, "operator", [f"{BASE}/reply/#"], "operator-hostile")
    try:
        for name, payload in _hostile(operator_key).items():
            _send(operator, "open", payload, name.encode())
        for name in _hostile(operator_key):
            assert _response(operator, name.encode())["reason"] == "schema", name
        locked = sign_command(operator_key, "alice", "mode", DEVICE, {"mode": "locked"})
        _send(operator, "mode", locked, b"locked")
        assert _response(operator, b"locked")["ok"] is True
    finally:
        operator.close()
    assert handler.calls == [("mode", ModeArgs(mode="locked"))]
    assert link.dispatcher.counters.worker_restarts == 0  # survived, not restarted


def test_signed_commands_are_answered_through_a_junk_flood(
    mosquitto_broker: MosquittoBroker, gate: Any, operator_key: Any
) -> None:
    """Junk once spent the one token bucket and queue before any signature check: 0 of 6 answered."""
    link, handler, _stream = gate
    operator = Collector(mosquitto_broker, "operator", [f"{BASE}/reply/#"], "operator-flood")
    flooder = Collector(mosquitto_broker, "operator", [], "junk-flooder")
    junk = b'{"v": 1, "key_id": "alice", "sig": "AA==", "body": "{}"}'
    stop = threading.Event()

    def flood() -> None:
        for _ in range(20_000):
            if stop.is_set():
                return
            flooder.client.publish(f"{BASE}/cmd/mode", junk, qos=0)

    thread = threading.Thread(target=flood)
    try:
        thread.start()
        while sum(vars(link.dispatcher.counters).values()) < 200:  # the flood has reached the gate
            time.sleep(0.01)
        for i in range(6):
            command = sign_command(operator_key, "alice", "mode", DEVICE, {"mode": "locked"})
            _send(operator, "mode", command, f"m{i}".encode())
            time.sleep(0.05)
        answers = [_response(operator, f"m{i}".encode()) for i in range(6)]
    finally:
        stop.set()
        thread.join()
        operator.close()
        flooder.close()
    assert [a["ok"] for a in answers] == [True] * 6
    assert len(handler.calls) == 6
    counters = link.dispatcher.counters
    assert counters.rate_limited == 0 and counters.refused > 200
    print(f"flood counters {counters}")


def test_a_dead_command_thread_is_restarted_and_reported(
    mosquitto_broker: MosquittoBroker, gate: Any, operator_key: Any
) -> None:
    link, handler, _stream = gate
    operator = Collector(mosquitto_broker, "operator", [f"{BASE}/reply/#", f"{BASE}/events/alarm"], "op-dead")
    handler.end_thread_on_ping = True
    try:
        _send(operator, "ping", sign_command(operator_key, "alice", "ping", DEVICE, {}), b"dies")
        assert _response(operator, b"dies")["reason"] == "internal_error"
        _send(operator, "mode", sign_command(operator_key, "alice", "mode", DEVICE, {"mode": "locked"}), b"m")
        assert _response(operator, b"m")["ok"] is True
        assert operator.wait_for(lambda: bool(operator.json_on("/events/alarm")), 10)
        alarm = operator.json_on("/events/alarm")[0]
    finally:
        operator.close()
    assert alarm["alarm"] == "software_fault" and alarm["severity"] == "critical"
    assert "mqtt-commands died (SystemExit: injected fault)" in alarm["detail"]
    jsonschema.validate(alarm, load_schema("alarm"))
    assert link.dispatcher.counters.worker_restarts == 1 and link.counters.command_worker_restarts == 1
