from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.peers.bench import Curves
from edged.peers.plots import roc, write_plots


def test_roc_counts_ties_as_one_point() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.1])
    same = np.array([True, True, False, False])
    far, tar = roc(scores, same)
    assert far.tolist() == [0.0, 0.5, 1.0]
    assert tar.tolist() == [0.5, 1.0, 1.0]


def test_writes_both_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    same = np.arange(200) % 2 == 0
    scores = rng.normal(size=200) + same
    curves = Curves(
        lfw={"edged": (scores, same)},
        masked={"edged": (scores - 0.5, same)},
        times={
            "lfw": {"edged": list(rng.uniform(5, 9, 50)), "face_recognition": list(rng.uniform(90, 120, 50))}
        },
    )
    paths = write_plots(curves, tmp_path / "img")
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
