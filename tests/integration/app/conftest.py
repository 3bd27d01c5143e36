from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_clip(path: Path, frames: int = 20, fps: float = 20.0, size: tuple[int, int] = (160, 120)) -> Path:
    """A small faceless clip: the daemon runs on it like on an empty corridor."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(frames):
        w.write(np.full((size[1], size[0], 3), (i * 7) % 200, np.uint8))
    w.release()
    return path
