"""Face quality from what the pipeline already has: box size, sharpness of the aligned crop, head pose."""

from __future__ import annotations

import math

import cv2
import numpy as np

from edged.vision.config import DetectorConfig, QualityConfig
from edged.vision.faces import Quality

# Nose tip between the eye line and the mouth line, as a fraction, for a frontal face (median on LFW).
_FRONTAL_NOSE_RATIO = 0.52


def head_pose(landmarks: np.ndarray, frame_w: int = 0, frame_h: int = 0) -> tuple[float, float]:
    """Approximate yaw and pitch in degrees from landmark geometry.

    Yaw: how far the nose tip sits from the middle of the jaw contour (0 = centred, ±90 = at an edge).
    Pitch: where the nose tip sits between the eye line and the mouth line, against a frontal face.
    Good enough to reject turned-away faces; not a calibrated angle.
    """
    nose = landmarks[30]
    left, right = landmarks[0:3].mean(axis=0), landmarks[14:17].mean(axis=0)
    d_left = float(np.linalg.norm(nose - left))
    d_right = float(np.linalg.norm(right - nose))
    r = (d_left - d_right) / max(d_left + d_right, 1e-6)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, r))))
    eyes_y = float(landmarks[36:48, 1].mean())
    mouth_y = float(landmarks[48:68, 1].mean())
    span = max(mouth_y - eyes_y, 1e-6)
    ratio = (float(nose[1]) - eyes_y) / span
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (ratio - _FRONTAL_NOSE_RATIO) * 2.0))))
    return yaw, pitch


def sharpness(aligned_bgr: np.ndarray) -> float:
    grey = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(
    box: np.ndarray,
    landmarks: np.ndarray,
    aligned: np.ndarray,
    frame_w: int,
    frame_h: int,
    detector: DetectorConfig,
    config: QualityConfig,
) -> Quality:
    width = float(box[2] - box[0])
    sharp = sharpness(aligned)
    yaw, pitch = head_pose(landmarks, frame_w, frame_h)
    reasons = []
    if width < detector.min_face_px:
        reasons.append("too_small")
    if sharp < config.min_sharpness:
        reasons.append("blurred")
    if abs(yaw) > config.max_yaw_deg or abs(pitch) > config.max_pitch_deg:
        reasons.append("not_frontal")
    return Quality(face_px=width, sharpness=sharp, yaw_deg=yaw, pitch_deg=pitch, reasons=reasons)
