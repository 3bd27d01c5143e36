"""``edged bench e2e`` on the ChokePoint portal clip, the way an integrator would run it: a key, one
person enrolled with ``edged enroll`` from one frame of the clip, then the benchmark with that config.

Timings are measured and reported by the benchmark, not asserted here; what is asserted is what the
daemon decided."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import yaml

from tests.conftest import REPO

CLIP = Path("video/chokepoint/portal_walk_1.mp4")
ENROLL_FRAME = 60  # the person in front, near the camera


def edged(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "edged", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def enrol_front_person(tmp_path: Path, video: Path, models_dir: Path, **config: Any) -> Path:
    """A key and a gallery with the clip's front person enrolled, unmasked, from frame ENROLL_FRAME with
    ``edged enroll``; returns the config (``config`` adds or replaces top-level sections)."""
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, ENROLL_FRAME)
    ok, frame = cap.read()
    cap.release()
    assert ok
    photo = tmp_path / "front.png"
    cv2.imwrite(str(photo), frame)

    key = tmp_path / "gallery.key"
    cfg = {
        "models": {"dir": str(models_dir)},
        "identity": {"database": str(tmp_path / "gallery.db"), "template_key": {"file": str(key)}},
        "gate": {"type": "simulator", "passage_delay_s": 0.5},
        "vision": {"detector": {"min_face_px": 24}},  # also track the small face behind
        "mqtt": {"outbox": {"path": str(tmp_path / "outbox.sqlite3")}},
        **config,
    }
    cfg_path = tmp_path / "edged.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    r = edged("gallery", "keygen", "--out", str(key))
    assert r.returncode == 0, r.stderr
    r = edged(
        "enroll",
        "--config",
        str(cfg_path),
        "--id",
        "front",
        "--name",
        "Front",
        "--consent-source",
        "integration test",
        str(photo),
    )
    assert r.returncode == 0, r.stderr
    return cfg_path


def test_front_person_granted_and_the_one_behind_is_not(
    tmp_path: Path, shared_data: Path, models_dir: Path
) -> None:
    video = shared_data / CLIP
    # a second person walks through on every grant: the tailgating alarm must fire, never a grant
    gate = {"type": "simulator", "passage_delay_s": 0.5, "tailgater": True}
    cfg_path = enrol_front_person(tmp_path, video, models_dir, gate=gate)

    r = edged("bench", "e2e", "--video", str(video), "--config", str(cfg_path), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for key_name in (
        "frames",
        "dropped",
        "decision_latency_ms",
        "stages",
        "cpu_percent",
        "rss_mb",
        "passages",
    ):
        assert key_name in report
    assert report["frames"] == 100
    for stage in ("detect", "embed", "liveness"):
        assert {"p50", "p95", "p99"} <= set(report["stages"][stage])
    assert {"p50", "p95", "p99"} <= set(report["decision_latency_ms"])
    granted = [p for p in report["passages"] if p["decision"] == "grant"]
    assert [p["person_id"] for p in granted] == ["front"]
    assert all(p["person_id"] in ("front", None) for p in report["passages"])
    assert report["events"].get("alarm.tailgating", 0) >= 1
    assert report["events"].get("passage.granted") == 1
