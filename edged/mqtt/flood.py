"""``edged bench commands-flood``: signed ``mode locked`` commands sent while another process floods the
gate's command topics with junk, as an account that may publish to the broker but holds no operator key
would. Reported: how many signed commands were answered and how fast, and whether events kept flowing.

The load generator is bounded by a message count and a duration and only ever talks to a broker on
127.0.0.1 (``python -m edged.mqtt.flood PORT RATE COUNT SECONDS KIND [DEVICE]`` runs it alone)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

if TYPE_CHECKING:  # the generator process imports only paho, so it starts fast
    from edged.mqtt.command_models import ModeArgs

DEVICE = "flood"
KEY_ID = "ops"
LOOPBACK = "127.0.0.1"
MAX_RATE = 50_000  # messages a second; the generator refuses more
MAX_SECONDS = 120.0
EVENTS_PER_S = 50.0


def junk_payloads(kind: str, device: str = DEVICE) -> list[bytes]:
    """What the flood sends, cycled. ``mixed`` includes messages with the gate's real key id and a random
    signature: the kind that costs the gate a full Ed25519 verification."""
    body = json.dumps(
        {"cmd": "mode", "device_id": device, "ts_ms": 0, "nonce": "ab" * 16, "args": {"mode": "free"}}
    )
    forged = base64.b64encode(secrets.token_bytes(64)).decode()
    kinds = {
        "unsigned": [json.dumps({"v": 1, "key_id": KEY_ID, "body": body}).encode()],
        "not_json": [b"\x00\xff not json"],
        "deep": [b"[" * 2000 + b"]" * 2000],
        "unknown_key": [json.dumps({"v": 1, "key_id": "mallory", "sig": forged, "body": body}).encode()],
        "forged": [json.dumps({"v": 1, "key_id": KEY_ID, "sig": forged, "body": body}).encode()],
    }
    if kind == "mixed":
        return [p for payloads in kinds.values() for p in payloads]
    return kinds[kind]


JUNK_KINDS = ("mixed", "unsigned", "not_json", "deep", "unknown_key", "forged")


def flood(
    port: int, rate: float, count: int, seconds: float, kind: str, device: str = DEVICE
) -> dict[str, Any]:
    """Publish ``count`` junk commands (QoS 0) at ``rate`` a second to the broker on 127.0.0.1, for at most
    ``seconds``. Returns what was sent."""
    if not (0 < rate <= MAX_RATE and count > 0 and 0 < seconds <= MAX_SECONDS):
        raise ValueError(f"rate 1-{MAX_RATE}/s, count >= 1 and 0-{MAX_SECONDS:g} s only")
    payloads = junk_payloads(kind, device)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{os.getpid()}", protocol=paho.MQTTv5)
    client.max_queued_messages_set(10_000)
    client.connect(LOOPBACK, port)
    client.loop_start()
    topic = f"edged/{device}/cmd/mode"
    sent = 0
    start = time.monotonic()
    try:
        while sent < count:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            due = min(count, int(rate * elapsed) + 1)
            while sent < due:
                client.publish(topic, payloads[sent % len(payloads)], qos=0)
                sent += 1
            time.sleep(0.002)
    finally:
        took = time.monotonic() - start
        client.disconnect()
        client.loop_stop()
    return {"sent": sent, "seconds": round(took, 3), "rate_per_s": round(sent / max(took, 1e-6), 1)}


class _ModeHandler:
    """Carries out ``mode`` (as the daemon does: it records the new mode); other commands are refused."""

    def __init__(self) -> None:
        self.modes: list[str] = []

    def mode(self, args: ModeArgs) -> dict[str, Any]:
        self.modes.append(args.mode)
        return {"mode": args.mode}

    def _refuse(self, _args: object) -> dict[str, Any]:
        from edged.mqtt.dispatch import CommandFailed

        raise CommandFailed("not part of this benchmark")

    open = enroll = erase = reload = ping = _refuse


class _Watcher:
    """Receives the command responses (by correlation data) and the events (by seq), with arrival times."""

    def __init__(self, port: int) -> None:
        self.answers: dict[bytes, tuple[float, dict[str, Any]]] = {}
        self.events: dict[int, float] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="flood-operator", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.connect(LOOPBACK, port)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe([(f"edged/{DEVICE}/reply/#", 1), (f"edged/{DEVICE}/events/#", 1)])

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        now = time.monotonic()
        body = json.loads(message.payload)
        with self.lock:
            if "/events/" in message.topic:
                self.events[int(body["seq"])] = now
                return
            correlation = getattr(message.properties, "CorrelationData", None)
            if correlation is not None:
                self.answers[bytes(correlation)] = (now, body)

    def send(self, payload: bytes, correlation: bytes) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"edged/{DEVICE}/reply/{KEY_ID}"
        props.CorrelationData = correlation
        self.client.publish(f"edged/{DEVICE}/cmd/mode", payload, qos=1, properties=props)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_flooder(
    port: int, rate: float, seconds: float, kind: str = "mixed", device: str = DEVICE
) -> subprocess.Popen[bytes]:
    """The generator in its own process (its own interpreter, as a real second client would be); its
    report is the JSON line it prints when done."""
    args = [str(port), str(rate), str(int(rate * seconds)), str(seconds), kind, device]
    return subprocess.Popen([sys.executable, "-m", "edged.mqtt.flood", *args], stdout=subprocess.PIPE)


def run_commands_flood(
    rate: float, seconds: float, kind: str = "mixed", every_s: float = 0.5, grace_s: float = 20.0
) -> dict[str, Any]:
    """A gate (``MqttLink`` and its dispatcher) on a local mosquitto; a flood in a second process; one
    signed ``mode locked`` every ``every_s`` and 50 events a second from the gate while it lasts."""
    from edged.events.config import MqttConfig
    from edged.events.outbox import Outbox
    from edged.events.payloads import PassageBody
    from edged.events.stream import EventStream
    from edged.health.metrics import percentiles
    from edged.mqtt.client import MqttLink
    from edged.mqtt.localbroker import LocalBroker
    from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64, sign_command

    key = load_private_key(generate_private_key_pem())
    with tempfile.TemporaryDirectory(prefix="edged-flood-") as tmp:
        broker = LocalBroker(Path(tmp) / "broker", tls=False)
        broker.start()
        flooder: subprocess.Popen[bytes] | None = None
        watcher: _Watcher | None = None
        link: MqttLink | None = None
        outbox: Outbox | None = None
        try:
            config = MqttConfig.model_validate(
                {
                    "enabled": True,
                    "host": LOOPBACK,
                    "port": broker.port,
                    "outbox": {"path": str(Path(tmp) / "outbox.sqlite3")},
                    "commands": {"operator_keys": {KEY_ID: public_key_b64(key)}},
                }
            )
            outbox = Outbox(config.outbox.path, synchronous="normal")
            stream = EventStream(DEVICE, outbox)
            handler = _ModeHandler()
            link = MqttLink(config, DEVICE, outbox, handler)
            link.start()
            watcher = _Watcher(broker.port)
            if not link.connected.wait(10) or not watcher.ready.wait(10):
                raise RuntimeError("the gate or the operator could not connect to the local broker")
            time.sleep(0.5)  # the gate's command subscription is in place
            assert link.dispatcher is not None
            counters = link.dispatcher.counters
            flooder = start_flooder(broker.port, rate, seconds, kind)
            deadline = time.monotonic() + 10
            while counters.received < 100:
                if time.monotonic() > deadline or flooder.poll() is not None:
                    raise RuntimeError("the flood never reached the gate")
                time.sleep(0.01)
            sent: dict[bytes, float] = {}
            emitted: dict[int, float] = {}
            start = time.monotonic()
            next_command = start
            next_event = start
            while flooder.poll() is None and time.monotonic() - start < seconds:
                now = time.monotonic()
                if now >= next_command:
                    correlation = f"c{len(sent)}".encode()
                    payload = sign_command(key, KEY_ID, "mode", DEVICE, {"mode": "locked"})
                    sent[correlation] = time.monotonic()
                    watcher.send(payload, correlation)
                    next_command += every_s
                if now >= next_event:
                    envelope = stream.emit(PassageBody(decision="denied", reasons=["mode_locked"], lane="l1"))
                    emitted[envelope.seq] = time.monotonic()
                    next_event += 1 / EVENTS_PER_S
                time.sleep(0.002)
            flood_window = time.monotonic() - start
            end = time.monotonic() + grace_s
            while time.monotonic() < end:
                with watcher.lock:
                    if len(watcher.answers) >= len(sent) and set(emitted) <= set(watcher.events):
                        break
                time.sleep(0.05)
            out, _ = flooder.communicate(timeout=MAX_SECONDS)
            flooder = None
            junk = json.loads(out)
        finally:
            if flooder is not None:
                flooder.kill()
                flooder.wait()
            if watcher is not None:
                watcher.close()
            if link is not None:
                link.stop()
            if outbox is not None:
                outbox.close()
            broker.stop()
    with watcher.lock:
        answers = dict(watcher.answers)
        events = dict(watcher.events)
    latency = [(answers[c][0] - t) * 1000 for c, t in sent.items() if c in answers]
    ok = sum(1 for c in sent if c in answers and answers[c][1].get("ok") is True)
    event_latency = [(events[s] - t) * 1000 for s, t in emitted.items() if s in events]
    return {
        "junk_kind": kind,
        "junk_target_per_s": rate,
        "junk_sent": junk["sent"],
        "junk_sent_per_s": junk["rate_per_s"],
        "flood_window_s": round(flood_window, 2),
        "gate_received": counters.received,
        "gate_refused": counters.refused,
        "gate_unanswered_refusals": counters.unanswered,
        "gate_queue_full": counters.queue_full,
        "signed_sent": len(sent),
        "signed_answered": len(latency),
        "signed_ok": ok,
        "signed_within_1s": sum(1 for ms in latency if ms <= 1000),
        "signed_latency_ms": percentiles(latency),
        "events_emitted": len(emitted),
        "events_delivered": len(event_latency),
        "event_latency_ms": percentiles(event_latency),
        "modes_set": len(handler.modes),
        "broker": "local mosquitto, loopback, no TLS",
    }


if __name__ == "__main__":
    port_arg, rate_arg, count_arg, seconds_arg, kind_arg = sys.argv[1:6]
    device_arg = sys.argv[6] if len(sys.argv) > 6 else DEVICE
    result = flood(int(port_arg), float(rate_arg), int(count_arg), float(seconds_arg), kind_arg, device_arg)
    print(json.dumps(result))
