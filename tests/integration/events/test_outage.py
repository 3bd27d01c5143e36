"""1,000 events through a broker outage and SIGKILLs of the publishing process (once while the
broker is down, with a backlog in the outbox; once while connected, with messages in flight):
every event arrives, in order; duplicates only as QoS 1 allows, recognisable by their event id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from edged.events.outbox import Outbox
from edged.events.schema_files import load_schema
from tests.conftest import REPO
from tests.integration.conftest import MosquittoBroker
from tests.integration.mqtt.clients import Collector, gate_config

TOTAL = 1000
RATE = 60.0
DEVICE = "gate-outage"


class Emitter:
    """The publishing process, with its output read on a thread so the test can react to progress."""

    running: list[subprocess.Popen[str]] = []

    def __init__(self, config_path: Path) -> None:
        self.last_seq = 0
        self.lines: list[str] = []
        self.progress = threading.Condition()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.events.emitter",
                "--config",
                str(config_path),
                "--device",
                DEVICE,
                "--total",
                str(TOTAL),
                "--rate",
                str(RATE),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        Emitter.running.append(self.process)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.progress:
                self.lines.append(line.strip())
                if line.strip().isdigit():
                    self.last_seq = int(line)
                self.progress.notify_all()

    def wait_seq(self, seq: int, timeout_s: float) -> None:
        with self.progress:
            ok = self.progress.wait_for(
                lambda: self.last_seq >= seq or self.process.poll() is not None, timeout_s
            )
        assert ok and self.last_seq >= seq, f"emitter stuck at seq {self.last_seq}"


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_every_event_arrives_in_order_through_outage_and_sigkill(
    mosquitto_broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = gate_config(mosquitto_broker, tmp_path)
    config_path = tmp_path / "mqtt.json"
    config_path.write_text(config.model_dump_json())
    collector = Collector(
        mosquitto_broker,
        "viewer",
        [f"edged/{DEVICE}/events/#", f"edged/{DEVICE}/availability"],
        "viewer-outage",
    )
    t0 = time.monotonic()
    marks: dict[str, float] = {}
    try:
        # 1. The broker goes down; the gate keeps emitting into its outbox.
        first = Emitter(config_path)
        first.wait_seq(200, 120)
        marks["broker down"] = time.monotonic() - t0
        mosquitto_broker.broker.stop()
        # 2. The gate is killed while the broker is down: its backlog must survive in the outbox.
        first.wait_seq(350, 120)
        marks["kill 1"] = time.monotonic() - t0
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        backlog = Outbox.from_config(config.outbox)
        stranded = len(backlog)
        backlog.close()
        # 3. It restarts (broker still down), then the broker comes back.
        second = Emitter(config_path)
        second.wait_seq(450, 120)
        marks["broker up"] = time.monotonic() - t0
        mosquitto_broker.broker.start()
        # 4. Killed again while connected, with messages in flight; a third run finishes.
        second.wait_seq(700, 120)
        marks["kill 2"] = time.monotonic() - t0
        os.kill(second.process.pid, signal.SIGKILL)
        second.process.wait(10)
        third = Emitter(config_path)
        assert third.process.wait(100) == 0, third.process.stderr.read() if third.process.stderr else ""
        marks["drained"] = time.monotonic() - t0
        assert collector.wait_for(
            lambda: len({e["seq"] for e in collector.json_on("/passage")}) >= TOTAL, 120
        )
        events = collector.json_on("/passage")
        availability = [m.payload for m in collector.messages if m.topic.endswith("/availability")]
    finally:
        collector.close()
        for process in Emitter.running:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        Emitter.running.clear()

    by_seq: dict[int, dict[str, object]] = {}
    first_seen: list[int] = []
    for event in events:
        seq = int(event["seq"])
        if seq in by_seq:
            assert by_seq[seq] == event, f"seq {seq} arrived twice with different content"
            continue
        by_seq[seq] = event
        first_seen.append(seq)
    assert sorted(by_seq) == list(range(1, TOTAL + 1)), "events missing"
    assert first_seen == sorted(first_seen), "events arrived out of order"
    assert len({e["id"] for e in by_seq.values()}) == TOTAL, "event ids are not unique"
    ids_in_order = [by_seq[s]["id"] for s in range(1, TOTAL + 1)]
    assert ids_in_order == sorted(ids_in_order), "event ids do not sort in creation order"
    validator = jsonschema.Draft202012Validator(load_schema("passage"))
    for event in by_seq.values():
        validator.validate(event)
    # The last will marks the killed gate offline, the restart online again, the clean stop offline.
    assert availability.count(b"offline") >= 2 and availability[-1] == b"offline"
    assert availability.count(b"online") >= 2
    duplicates = len(events) - TOTAL
    timeline = ", ".join(f"{k} {v:.1f} s" for k, v in marks.items())
    assert stranded >= 100, f"only {stranded} events were waiting in the outbox at the first kill"
    print(
        f"{stranded} events stranded at the first kill; "
        f"{duplicates} duplicate deliveries of {len(events)}; {timeline}"
    )
