"""Readers of radiometric files: Fluke CSV exports and recorded raw sequences (``.npz``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edged.capture.source import SourceError

_UNIT = re.compile(r"temperatures in\s*°?\s*([FC])\b", re.IGNORECASE)


def _decode_text(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("utf-16")


def read_fluke_csv(path: Path) -> np.ndarray:
    """A Fluke SmartView CSV export → float32 °C image. Line 1 names the unit; then a header row of column
    numbers, then one row per image row: ``row,t1..tW``. Values may carry stray quotes."""
    try:
        text = _decode_text(Path(path).read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
    lines = text.splitlines()
    found = next((m for ln in lines[:5] if (m := _UNIT.search(ln))), None)
    if found is None:
        raise SourceError(f"{path}: no temperature unit (°F or °C) in the first lines")
    unit = found.group(1).upper()
    rows: list[list[float]] = []
    header_seen = False
    for line in lines:
        cells = [c.strip() for c in line.replace('"', "").split(",")]
        if not header_seen:
            if len(cells) > 2 and cells[0] == "" and cells[1] == "1":
                header_seen = True
            continue
        if not cells or not cells[0]:
            if rows:
                break
            continue
        try:
            rows.append([float(c) for c in cells[1:] if c != ""])
        except ValueError:
            if rows:
                break  # a trailing section after the image (Fluke adds metadata below it)
            raise SourceError(f"{path}: non-numeric value in row {cells[0]!r}") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise SourceError(f"{path}: no rectangular temperature table found")
    image = np.asarray(rows, dtype=np.float64)
    if unit == "F":
        image = (image - 32.0) * 5.0 / 9.0
    return image.astype(np.float32)


def read_raw_sequence(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N, H, W) float32 °C and timestamps (N,) of a recording made by :func:`write_raw_sequence`."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            frames = np.asarray(data["frames_c"])
            stamps = np.asarray(data["timestamps"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as exc:
        raise SourceError(f"cannot read recording {path}: {exc}") from None
    if frames.ndim != 3 or frames.dtype != np.float32:
        raise SourceError(f"{path}: frames_c must be float32 (N, H, W), got {frames.dtype} {frames.shape}")
    if stamps.shape != (frames.shape[0],) or np.any(np.diff(stamps) < 0):
        raise SourceError(f"{path}: timestamps must be one non-decreasing value per frame")
    return frames, stamps


def write_raw_sequence(path: Path, frames_c: np.ndarray, timestamps: np.ndarray) -> None:
    frames = np.asarray(frames_c, dtype=np.float32)
    stamps = np.asarray(timestamps, dtype=np.float64)
    if frames.ndim != 3 or stamps.shape != (frames.shape[0],):
        raise ValueError("frames must be (N, H, W) with one timestamp per frame")
    with Path(path).open("wb") as fh:
        np.savez_compressed(fh, frames_c=frames, timestamps=stamps)
