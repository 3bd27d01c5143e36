"""The whole thermal chain without a camera: installer calibration → config → recorded radiometric stream →
per-frame measurement with blackbody correction → one fever verdict per person."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edged.capture.radiometric import open_radiometric_source
from edged.capture.radiometric_config import RawReplaySourceConfig
from edged.capture.radiometric_files import write_raw_sequence
from edged.config import validate_text
from edged.thermal.config import ThermalConfig
from edged.thermal.decision import FeverDecider
from edged.thermal.measure import Measurement, ThermalScreener
from edged.thermal.registration import map_points
from edged.thermal.synthetic import Blackbody, SyntheticFace, face_landmarks, render_thermal_frame
from tests.unit.thermal.cli import run

THERMAL = (160, 120)
RGB_TO_THERMAL = np.array([[0.124, 0.002, -3.0], [-0.001, 0.127, 2.0], [0.0, 0.0, 1.0]])
THERMAL_TO_RGB = np.linalg.inv(RGB_TO_THERMAL)
BB = Blackbody(x=148, y=4, width=8, height=8, temperature_c=37.0)


def _calibrate(tmp_path: Path) -> dict[str, Any]:
    xs, ys = np.meshgrid(np.linspace(100, 1180, 7), np.linspace(80, 640, 5))
    rgb = np.column_stack([xs.ravel(), ys.ravel()])
    thermal = map_points(RGB_TO_THERMAL, rgb) + np.random.default_rng(5).normal(0, 0.15, rgb.shape)
    pairs = {
        "rgb_size": [1280, 720],
        "thermal_size": list(THERMAL),
        "baseline_m": 0.025,
        "pairs": [[*a, *b] for a, b in zip(rgb.tolist(), thermal.tolist(), strict=True)],
    }
    path = tmp_path / "pairs.yaml"
    path.write_text(yaml.safe_dump(pairs))
    out = io.StringIO()
    with redirect_stdout(out):
        assert run(["calibrate", "registration", "--pairs", str(path)]) == 0
    snippet = yaml.safe_load(out.getvalue())
    assert isinstance(snippet, dict)
    return snippet


def test_two_people_one_feverish_with_a_drifting_camera(tmp_path: Path) -> None:
    snippet = _calibrate(tmp_path)
    recording = tmp_path / "lane.npz"
    people = [(35.6, "normal"), (36.7, "elevated")]  # canthus truth; core = canthus + 1.22
    frames, stamps, landmarks_rgb, owner = [], [], [], []
    rng = np.random.default_rng(11)
    n_per_person = 12
    drift = np.linspace(-1.5, 1.5, n_per_person * len(people))
    for p, (canthus, _) in enumerate(people):
        for k in range(n_per_person):
            i = p * n_per_person + k
            lm = face_landmarks((70 + k, 52), 58 + k)  # walking towards the camera
            face = SyntheticFace(lm, skin_c=canthus - 1.6, canthus_c=canthus)
            frames.append(
                render_thermal_frame(THERMAL, [face], blackbody=BB, drift_c=float(drift[i]), rng=rng)
            )
            stamps.append(i / 9.0)
            landmarks_rgb.append(map_points(THERMAL_TO_RGB, lm))
            owner.append(p)
    write_raw_sequence(recording, np.stack(frames), np.array(stamps))

    config_text = yaml.safe_dump(
        {
            "enabled": True,
            "source": {"type": "raw_replay", "path": str(recording), "realtime": False},
            "registration": snippet["thermal"]["registration"],
            "reference": {
                "x": BB.x,
                "y": BB.y,
                "width": BB.width,
                "height": BB.height,
                "set_temperature_c": 37.0,
            },
        }
    )
    cfg = validate_text(ThermalConfig, config_text, "thermal.yaml")
    assert isinstance(cfg.source, RawReplaySourceConfig)
    source = open_radiometric_source(cfg.source)
    screener = ThermalScreener(cfg)
    decider = FeverDecider(cfg.fever)
    source.open()
    track: dict[int, list[Measurement]] = {0: [], 1: []}
    i = 0
    while (frame := source.read(1.0)) is not None:
        m = screener.measure(landmarks_rgb[i], frame)
        assert m.status == "ok" and m.site == "inner_canthus" and m.live_skin, m
        track[owner[i]].append(m)
        i += 1
    source.close()
    assert i == len(frames)
    for p, (canthus, expected) in enumerate(people):
        core = [m.core_c for m in track[p] if m.core_c is not None]
        assert len(core) == n_per_person
        assert max(abs(c - (canthus + 1.22)) for c in core) <= 0.1
        # the daemon decides once per person, on the measurement of its best frame (here: the last, nearest)
        verdict = decider.decide(track[p][-1])
        assert verdict.decision == expected, json.dumps(verdict.to_json())
