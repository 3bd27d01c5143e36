"""The evidence for LIVE_INDEX, re-measured: live camera captures score live, screen replays do not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edged.vision.liveness import LIVE_INDEX

REPO = Path(__file__).resolve().parents[3]


def test_live_captures_and_replays_fall_on_opposite_sides(shared_data: Path, models_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "liveness-evidence"), str(shared_data)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["faces"] >= 50
    live = result["mean_probability"]["live_bgr"][LIVE_INDEX]
    replay = result["mean_probability"]["replay_bgr"][LIVE_INDEX]
    assert live > 0.9, result
    assert replay < 0.1, result
