"""The ChokePoint portal clip through the real daemon with the decision rules of issue 33: the threshold
derived from a target FPIR at the gallery's size, a margin over the best other person, two agreeing
frames. The person in front is still granted, and the passage event that reaches the broker states the
operating point it was decided at."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import paho.mqtt.client as mqtt
import yaml

from edged.app_bench import local_peers, run_e2e
from edged.app_broker import LocalBroker
from edged.config.schema import load_config
from edged.events.schema_files import load_schema
from edged.identity.gallery import embedder_tag
from edged.identity.operating_point import Calibration, ImpostorTail, threshold_for_fpir
from tests.integration.app.test_bench_e2e import CLIP, edged, enrol_front_person

# per-comparison false-accept rates of the grey embedder on LFW (issue 33's table, 17,048,321 pairs)
TAIL = ImpostorTail(
    np.array([0.36, 0.45, 0.50, 0.55]), np.array([5.4e-4, 2.8e-5, 5.5e-6, 1.9e-6]), 17_048_321
)
TARGET_FPIR = 1e-4
WAIT_S = 20.0  # for delivery to the subscriber; never asserts how fast
OTHER = Path("lfw/lfw-deepfunneled/Aaron_Peirsol/Aaron_Peirsol_0001.jpg")  # a second enrolled person


class Subscriber:
    def __init__(self, broker: LocalBroker) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-fused")
        self.client.on_connect = lambda c, *_: c.subscribe("edged/+/events/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(10), "subscriber not subscribed"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.bodies.append(json.loads(msg.payload))

    def wait_for_passages(self, granted: int, timeout: float) -> None:
        """Until ``granted`` granted passages arrived (the outbox acknowledged them; delivery follows)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if sum(1 for b in self.bodies if b.get("decision") == "granted") >= granted:
                    return
            time.sleep(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_front_person_granted_at_a_stated_operating_point(
    tmp_path: Path, shared_data: Path, models_dir: Path
) -> None:
    video = shared_data / CLIP
    cfg_path = enrol_front_person(tmp_path, video, models_dir)
    r = edged(
        "enroll",
        "--config",
        str(cfg_path),
        "--id",
        "other",
        "--name",
        "Other",
        "--consent-source",
        "integration test",
        str(shared_data / OTHER),
    )
    assert r.returncode == 0, r.stderr
    raw = yaml.safe_load(cfg_path.read_text())
    tag = embedder_tag(load_config(cfg_path).vision)
    calibration = tmp_path / "calibration.json"
    cal = Calibration(f"{tag.model_id}@{tag.version}", TAIL, None, "issue 33's LFW table")
    calibration.write_text(json.dumps(cal.to_json()))
    raw["vision"].update(
        {
            "target_fpir": TARGET_FPIR,
            "calibration": str(calibration),
            "match_margin": 0.05,
            "fusion": {"frames": 2},
        }
    )
    cfg_path.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg_path)

    with LocalBroker() as broker:
        sub = Subscriber(broker)
        try:
            report = run_e2e(
                local_peers(cfg, broker, tmp_path), video, config_path=cfg_path, with_peers=False
            )
            sub.wait_for_passages(report["events"].get("passage.granted", 0), WAIT_S)
        finally:
            sub.close()
    granted = [p for p in report["passages"] if p["decision"] == "grant"]
    assert [p["person_id"] for p in granted] == ["front"], json.dumps(report["passages"])
    assert all(p["person_id"] in ("front", None) for p in report["passages"])
    assert granted[0]["frames"] >= 2 and granted[0]["runner_up"] is not None

    passages = [b for b in sub.bodies if b["type"] == "passage"]
    assert passages, "no passage event reached the broker"
    for body in passages:
        jsonschema.validate(body, load_schema("passage"))
    front = [b for b in passages if b["decision"] == "granted"]
    assert [b["identity"]["person_id"] for b in front] == ["front"]
    point = front[0]["operating_point"]
    expected = threshold_for_fpir(TAIL, 2, TARGET_FPIR)
    assert point["gallery_size"] == 2 and point["target_fpir"] == TARGET_FPIR and point["masked"] is False
    assert abs(point["threshold"] - expected.threshold) < 1e-3 and point["threshold"] > 0.36
    assert point["margin"] == 0.05 and point["predicted_fpir"] <= TARGET_FPIR * 1.01
    assert front[0]["score"] >= point["threshold"] and front[0]["threshold"] == point["threshold"]
    assert front[0]["score"] - front[0]["runner_up"] >= point["margin"] and front[0]["frames"] >= 2


def test_a_calibration_for_another_embedder_stops_the_daemon_with_one_line(
    tmp_path: Path, shared_data: Path, models_dir: Path
) -> None:
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps(Calibration("fr_feature@another", TAIL, None, "test").to_json()))
    cfg_path = tmp_path / "edged.yaml"
    cfg = {
        "models": {"dir": str(models_dir)},
        "cameras": {"rgb": {"type": "file", "path": str(shared_data / CLIP)}},
        "gate": {"type": "simulator"},
        "vision": {"target_fpir": 0.01, "calibration": str(calibration)},
    }
    cfg_path.write_text(yaml.safe_dump(cfg))
    r = edged("run", "--config", str(cfg_path), timeout=120)
    assert r.returncode == 1
    assert "made for embedder fr_feature@another" in r.stderr and "Traceback" not in r.stderr
