"""A person enrolled without a mask walks through the portal clip wearing one: the daemon must recognise
them through the masked-face head and grant, and nobody else. The mask is drawn on every face of every frame
from its landmarks (the synthetic mask of the LFW benchmark), and the masked clip is run by
``edged bench e2e`` with the same config an integrator would write."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.masked.draw import draw_mask, style_for
from edged.vision.pipeline import FacePipeline
from tests.integration.app.test_bench_e2e import CLIP, edged, enrol_front_person


def _masked_clip(video: Path, out: Path, models_dir: Path) -> Path:
    pipeline = FacePipeline(models_dir, OnnxRuntimeEngineConfig())
    pipeline.config.detector.min_face_px = 24
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 20.0
    writer: cv2.VideoWriter | None = None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        for i, face in enumerate(pipeline.detect(frame)):
            if face.landmarks is not None:
                frame = draw_mask(frame, face.landmarks, style_for(f"portal-{i}", 0))
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        writer.write(frame)
    cap.release()
    assert writer is not None
    writer.release()
    return out


def test_enrolled_person_is_recognised_through_a_mask(
    tmp_path: Path, shared_data: Path, models_dir: Path
) -> None:
    video = shared_data / CLIP
    cfg_path = enrol_front_person(tmp_path, video, models_dir)  # enrolled without a mask
    masked = _masked_clip(video, tmp_path / "masked.avi", models_dir)

    r = edged("bench", "e2e", "--video", str(masked), "--config", str(cfg_path), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    granted = [p for p in report["passages"] if p["decision"] == "grant"]
    assert [p["person_id"] for p in granted] == ["front"]
    assert granted[0]["masked_match"] is True
    assert all(p["person_id"] in ("front", None) for p in report["passages"])
