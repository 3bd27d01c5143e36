"""Throughput of the whole delivery path: event -> SQLite outbox -> MQTT (QoS 1) -> a subscriber.

With ``flood`` another process keeps sending junk commands at the gate for the whole run, as an
account that may publish to the broker but holds no operator key would. The junk commands the gate took
per second are counted from the first event over the run, or over ``MIN_FLOOD_WINDOW_S`` when the run is
shorter: a 50-event run lasts under 10 ms, too short to count a bursty flood in."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edged.events.config import MqttConfig
from edged.events.outbox import Outbox
from edged.events.payloads import PassageBody
from edged.events.stream import EventStream
from edged.mqtt.localbroker import LocalBroker

DEVICE = "bench"
JUNK_COMMAND = b'{"v": 1, "key_id": "x", "sig": "AA==", "body": "{}"}'
MIN_FLOOD_WINDOW_S = 1.0


class _Counter:
    def __init__(self, port: int, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = threading.Event()
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"edged/{DEVICE}/events/#", qos=1)
        self.client.loop_start()

    def _on_message(self, *_: Any) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class _RefusingHandler:
    """Never reached by the flood (every flooded command is refused before a handler runs)."""

    def _none(self, _args: object) -> dict[str, Any]:
        raise RuntimeError("a flooded command reached the handler")

    open = mode = enroll = erase = reload = ping = _none


def flood_forever(port: int) -> None:
    """Publish junk commands at the bench gate until killed (QoS 0, as fast as paho goes)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-flood", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    while True:
        client.publish(f"edged/{DEVICE}/cmd/open", JUNK_COMMAND, qos=0)


def run_bench(events: int, synchronous: str, inflight: int, flood: bool = False) -> dict[str, Any]:
    from edged.mqtt.client import MqttLink

    with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp:
        broker = LocalBroker(Path(tmp) / "broker", tls=False)
        broker.start()
        flooder: subprocess.Popen[bytes] | None = None
        try:
            counter = _Counter(broker.port, events)
            if not counter.subscribed.wait(10):
                raise RuntimeError("bench subscriber could not subscribe")
            config = MqttConfig.model_validate(
                {
                    "enabled": True,
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "outbox": {"path": str(Path(tmp) / "outbox.sqlite3"), "inflight": inflight},
                }
            )
            outbox = Outbox(config.outbox.path, synchronous="full" if synchronous == "full" else "normal")
            stream = EventStream(DEVICE, outbox)
            link = MqttLink(config, DEVICE, outbox, _RefusingHandler() if flood else None)
            link.start()
            if not link.connected.wait(10):
                raise RuntimeError("bench publisher could not connect")
            if flood:
                flooder = subprocess.Popen([sys.executable, "-m", "edged.mqtt.bench", str(broker.port)])
                _wait_for_flood(link, 30)
            seen_before = _commands_seen(link)
            body = PassageBody(decision="granted", granted_by="face", lane="lane-1", direction="in")
            start = time.perf_counter()
            for _ in range(events):
                stream.emit(body)
            appended = time.perf_counter() - start
            delivered = counter.done.wait(120)
            total = time.perf_counter() - start
            window = max(total, MIN_FLOOD_WINDOW_S) if flood else total
            time.sleep(max(0.0, start + window - time.perf_counter()))
            commands = _commands_seen(link) - seen_before
            drained = outbox.wait_until_empty(30)
            link.stop()
            counter.close()
            outbox.close()
        finally:
            if flooder is not None:
                flooder.kill()
                flooder.wait()
            broker.stop()
    if not delivered or not drained:
        raise RuntimeError(f"only {counter.count} of {events} events arrived")
    return {
        "events": events,
        "synchronous": synchronous,
        "inflight": inflight,
        "append_per_s": round(events / appended, 1),
        "end_to_end_per_s": round(events / total, 1),
        "seconds": round(total, 3),
        "flood": flood,
        "flood_commands_per_s": round(commands / window, 1),
        "flood_window_s": round(window, 3),
        "broker": "local mosquitto, loopback, no TLS",
    }


def _commands_seen(link: Any) -> int:
    c = link.dispatcher.counters if link.dispatcher else None
    return 0 if c is None else c.refused + c.rate_limited + c.queue_full + c.handled + c.failed


def _wait_for_flood(link: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _commands_seen(link) < 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the flood never reached the gate")
        time.sleep(0.05)


if __name__ == "__main__":
    flood_forever(int(sys.argv[1]))
