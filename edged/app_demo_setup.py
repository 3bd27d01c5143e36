"""Everything the demo needs in its work folder: the clip, a key and gallery with one person enrolled
from a frame of the clip, a private broker, and the config that ties them together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edged.app_broker import BrokerError, LocalBroker
from edged.app_demo import FPS, SIZE, DemoError, Walker, head_sprite, render
from edged.config.schema import EdgedConfig, load_config
from edged.vision.pipeline import FacePipeline

ENROLLED_ID = "demo-astronaut"
ENROLL_FRAME = 38  # a frame of the clip where the first walker is near and sharp
FRAMES = 200
# (sample, first frame, last frame, inner-canthus °C): the astronaut, a stranger, the astronaut with fever
WALKS = ((0, 0, 45, 35.6), (1, 70, 115, 35.7), (0, 140, 185, 37.7))
THERMAL_SIZE = (320, 240)  # half the RGB size: the registration is a plain scale


@dataclass
class DemoSetup:
    cfg: EdgedConfig
    config_path: Path
    video: Path
    expected: dict[str, str]
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for c in reversed(self.closers):
            c()


def _largest_face(pipeline: FacePipeline, image: np.ndarray, what: str) -> Any:
    faces = pipeline.detect(image)
    if not faces:
        raise DemoError(f"no face found in {what}")
    return max(faces, key=lambda f: f.width)


def build_demo(work: Path, samples: list[Path], say: Callable[[str], None]) -> DemoSetup:
    base = load_config(None)
    pipeline = FacePipeline.from_config(base)
    sprites = []
    for path in samples:
        img = cv2.imread(str(path))
        if img is None:
            raise DemoError(f"cannot read {path}")
        face = _largest_face(pipeline, img, str(path))
        sprites.append(head_sprite(img, face.box))
    walkers = [Walker(sprites[k][0], sprites[k][1], first, last) for k, first, last, _ in WALKS]
    video = work / "demo.avi"
    render(walkers, FRAMES, video)
    thermal = work / "thermal.npz"
    _thermal_stream(pipeline, video, thermal)
    say(
        f"clip: {video} ({FRAMES} frames at 20 fps): {samples[0].stem} walks up, then {samples[1].stem}, "
        f"then {samples[0].stem} again with a fever; matching thermal stream {thermal}"
    )

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, ENROLL_FRAME)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise DemoError("cannot read back the demo clip")
    face = _largest_face(pipeline, frame, f"frame {ENROLL_FRAME} of the clip")
    pipeline.embed([face])

    key = work / "gallery.key"
    from edged.identity.crypto import write_new_key

    if not key.exists():
        write_new_key(key)
    db = work / "gallery.db"
    doc: dict[str, Any] = {
        "device_id": "edged-demo",
        "lane": "lane-1",
        "identity": {"database": str(db), "template_key": {"file": str(key)}},
        "gate": {"type": "simulator", "passage_delay_s": 0.8},
        "policy": {
            "mode": "access",
            "temperature": {"rule": "hard", "min_samples": 3},
            "timing": {"decide_within_s": 3.0},
        },
        "thermal": {
            "enabled": True,
            "source": {"type": "raw_replay", "path": str(thermal), "realtime": True},
            "registration": {
                "homography": [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]],
                "rgb_size": list(SIZE),
                "thermal_size": list(THERMAL_SIZE),
            },
        },
    }
    broker = LocalBroker()
    try:
        broker.start()
    except BrokerError as exc:
        raise DemoError(str(exc)) from exc
    doc["mqtt"] = {
        "enabled": True,
        "host": broker.host,
        "port": broker.port,
        "outbox": {"path": str(work / "outbox.sqlite3")},
    }
    config_path = work / "edged.yaml"
    config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        cfg = load_config(config_path)
        _enroll(cfg, face)
    except Exception:
        broker.stop()
        raise
    say(
        f"gallery: {ENROLLED_ID} enrolled from frame {ENROLL_FRAME} of the clip; "
        f"broker on 127.0.0.1:{broker.port}"
    )
    return DemoSetup(
        cfg,
        config_path,
        video,
        {"granted": ENROLLED_ID, "denied": "stranger", "fever": ENROLLED_ID},
        [broker.stop],
    )


def _enroll(cfg: EdgedConfig, face: Any) -> None:
    from edged.identity.gallery import Gallery, embedder_tag
    from edged.identity.records import NewTemplate, Person

    with Gallery.open(cfg.identity, embedder_tag(cfg.vision)) as gallery:
        if gallery.person(ENROLLED_ID) is not None:
            return
        person = Person(
            ENROLLED_ID, "Demo Astronaut", datetime.now(timezone.utc), "edged demo (sample image)"
        )
        quality = face.quality.score() if face.quality is not None else 0.0
        gallery.add(person, [NewTemplate(face.embedding, masked=False, quality=quality)])


def _thermal_stream(pipeline: FacePipeline, video: Path, out: Path) -> None:
    """A radiometric recording that matches the clip: each face drawn where the RGB detector finds it
    (mapped by the same scale as the configured registration), at the walk's inner-canthus temperature."""
    from edged.capture.radiometric_files import write_raw_sequence
    from edged.thermal.synthetic import SyntheticFace, render_thermal_frame

    scale = THERMAL_SIZE[0] / SIZE[0]
    rng = np.random.default_rng(11)
    cap = cv2.VideoCapture(str(video))
    frames = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        canthus = next((c for _, first, last, c in WALKS if first <= i <= last), None)
        faces = []
        if canthus is not None:
            for f in pipeline.detect(frame):
                if f.landmarks is not None:
                    faces.append(SyntheticFace(f.landmarks * scale, skin_c=canthus - 1.6, canthus_c=canthus))
        frames.append(render_thermal_frame(THERMAL_SIZE, faces, rng=rng))
        i += 1
    cap.release()
    stamps = np.arange(len(frames), dtype=np.float64) / FPS
    write_raw_sequence(out, np.stack(frames).astype(np.float32), stamps)
