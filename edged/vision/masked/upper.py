"""The upper face only: the aligned crop blanked from just below the nose bridge, so the embedding comes
from the eyes, brows and forehead that a mask leaves visible."""

from __future__ import annotations

import numpy as np

BLANK_FROM_ROW = 66  # of the 112×112 aligned crop; the nose tip sits near row 72, the eyes near row 52


def upper_face(aligned_bgr: np.ndarray) -> np.ndarray:
    out = aligned_bgr.copy()
    out[BLANK_FROM_ROW:] = 0
    return out
