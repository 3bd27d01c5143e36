"""Reader of the PhysioNet "Facial and oral temperature" CSVs (one file per camera, 3 header rows).

Each subject has up to 4 measurement rounds of 27 facial readings (``T_offset`` = the blackbody offset, then
canthi, forehead, face and mouth maxima). We keep each reading's mean over the rounds present (what the data
set's own analysis uses) and its maximum, with ambient temperature, humidity, distance and the oral truth.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CAMERAS = ("FLIR", "ICI")
ROUNDS = 4
READINGS_PER_ROUND = 27


class DatasetError(Exception):
    """The data folder or a file in it is missing or not in the expected layout."""


@dataclass(frozen=True)
class FacialOralData:
    camera: str
    subjects: list[str]
    reading_names: list[str]  # e.g. "canthiMax", "T_Max", "T_FHCC"
    readings: np.ndarray  # (n, len(reading_names)) °C, mean over rounds
    readings_max: np.ndarray  # (n, len(reading_names)) °C, max over rounds
    ambient_c: np.ndarray  # (n,)
    humidity: np.ndarray  # (n,) percent
    distance_m: np.ndarray  # (n,)
    oral_c: np.ndarray  # (n,) truth: "aveOralM" (monitor mode oral thermometer)

    def reading(self, name: str) -> np.ndarray:
        return self.readings[:, self.reading_names.index(name)]

    def reading_max(self, name: str) -> np.ndarray:
        return self.readings_max[:, self.reading_names.index(name)]

    def __len__(self) -> int:
        return len(self.subjects)


def _float(text: str) -> float:
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return float("nan")


def load_camera(data_dir: Path, camera: str) -> FacialOralData:
    """Load ``<camera>_groups1and2.csv``; subjects without oral truth or any complete round are dropped."""
    if camera not in CAMERAS:
        raise DatasetError(f"unknown camera {camera!r}; expected one of {', '.join(CAMERAS)}")
    path = Path(data_dir) / f"{camera}_groups1and2.csv"
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(rows) < 4:
        raise DatasetError(f"{path}: expected 3 header rows and data rows")
    header = rows[2]
    try:
        starts = [header.index(f"T_offset{r}") for r in range(1, ROUNDS + 1)]
        col = {name: header.index(name) for name in ("aveOralM", "T_atm", "Humidity", "Distance")}
    except ValueError as exc:
        raise DatasetError(f"{path}: column missing ({exc})") from None
    names = [
        header[starts[0] + k][:-1].rstrip("_") for k in range(READINGS_PER_ROUND)
    ]  # drop the round digit
    subjects: list[str] = []
    readings: list[np.ndarray] = []
    maxima: list[np.ndarray] = []
    extra: list[tuple[float, float, float, float]] = []
    for row in rows[3:]:
        if len(row) != len(header) or not row[0].strip():
            continue
        per_round = np.array(
            [[_float(row[s + k]) for k in range(READINGS_PER_ROUND)] for s in starts], dtype=np.float64
        )
        complete = ~np.isnan(per_round).any(axis=1)
        oral = _float(row[col["aveOralM"]])
        if not complete.any() or np.isnan(oral):
            continue
        subjects.append(row[0].strip())
        readings.append(per_round[complete].mean(axis=0))
        maxima.append(per_round[complete].max(axis=0))
        extra.append(
            (oral, _float(row[col["T_atm"]]), _float(row[col["Humidity"]]), _float(row[col["Distance"]]))
        )
    if not subjects:
        raise DatasetError(f"{path}: no usable subject rows")
    ex = np.array(extra, dtype=np.float64)
    return FacialOralData(
        camera=camera,
        subjects=subjects,
        reading_names=names,
        readings=np.vstack(readings),
        readings_max=np.vstack(maxima),
        ambient_c=ex[:, 1],
        humidity=ex[:, 2],
        distance_m=ex[:, 3],
        oral_c=ex[:, 0],
    )
