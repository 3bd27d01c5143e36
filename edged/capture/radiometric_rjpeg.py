"""Decoder of FLIR radiometric JPEGs (R-JPEG): the raw 16-bit sensor image and the Planck constants live in
APP1 segments tagged ``FLIR``, which concatenate to an FFF container. Raw counts become °C with the camera's
Planck curve, corrected for emissivity, reflected temperature and atmospheric transmission (the same formula
FLIR's tools and ExifTool-based tools use).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edged.vision.image_io import ImageError, check_image

_RECORD_RAW = 0x0001
_RECORD_CAMERA_INFO = 0x0020
_DIR_ENTRY = 32


class RjpegError(Exception):
    """The file is not a FLIR radiometric JPEG, or its radiometric data is damaged."""


@dataclass(frozen=True)
class CameraInfo:
    emissivity: float
    object_distance_m: float
    reflected_c: float
    atmosphere_c: float
    ir_window_c: float
    ir_window_transmission: float
    relative_humidity: float
    planck_r1: float
    planck_r2: float
    planck_b: float
    planck_f: float
    planck_o: float
    atm_alpha1: float
    atm_alpha2: float
    atm_beta1: float
    atm_beta2: float
    atm_x: float


def _flir_payload(data: bytes) -> bytes:
    """Concatenate the FLIR APP1 segments in their declared order."""
    if data[:2] != b"\xff\xd8":
        raise RjpegError("not a JPEG file")
    parts: dict[int, bytes] = {}
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise RjpegError(f"corrupt JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment[:5] == b"FLIR\x00" and len(segment) >= 8:
            parts[segment[6]] = segment[8:]
        pos += 2 + length
    if not parts:
        raise RjpegError("no FLIR radiometric segments (a plain JPEG or a non-radiometric FLIR image)")
    return b"".join(parts[i] for i in sorted(parts))


def _records(fff: bytes) -> dict[int, bytes]:
    if fff[:4] != b"FFF\x00":
        raise RjpegError("FLIR segments do not hold an FFF container")
    dir_offset, count = struct.unpack(">II", fff[24:32])
    records: dict[int, bytes] = {}
    for i in range(count):
        entry = fff[dir_offset + i * _DIR_ENTRY : dir_offset + (i + 1) * _DIR_ENTRY]
        if len(entry) < _DIR_ENTRY:
            raise RjpegError("truncated FFF record directory")
        kind = struct.unpack(">H", entry[0:2])[0]
        offset, length = struct.unpack(">II", entry[12:20])
        if kind and offset + length <= len(fff):
            records.setdefault(kind, fff[offset : offset + length])
    return records


def _byte_order(record: bytes) -> str:
    """Records start with the value 2 as uint16 in their own byte order."""
    return "<" if struct.unpack("<H", record[:2])[0] == 2 else ">"


def _camera_info(record: bytes) -> CameraInfo:
    if len(record) < 0x310:
        raise RjpegError("CameraInfo record too short")
    e = _byte_order(record)

    def f(off: int) -> float:
        return float(struct.unpack(e + "f", record[off : off + 4])[0])

    return CameraInfo(
        emissivity=f(0x20),
        object_distance_m=f(0x24),
        reflected_c=f(0x28) - 273.15,
        atmosphere_c=f(0x2C) - 273.15,
        ir_window_c=f(0x30) - 273.15,
        ir_window_transmission=f(0x34),
        relative_humidity=f(0x3C),
        planck_r1=f(0x58),
        planck_b=f(0x5C),
        planck_f=f(0x60),
        atm_alpha1=f(0x70),
        atm_alpha2=f(0x74),
        atm_beta1=f(0x78),
        atm_beta2=f(0x7C),
        atm_x=f(0x80),
        planck_o=float(struct.unpack(e + "i", record[0x308:0x30C])[0]),
        planck_r2=f(0x30C),
    )


def _raw_image(record: bytes) -> np.ndarray:
    e = _byte_order(record)
    width, height = struct.unpack(e + "HH", record[2:6])
    blob = record[32:]
    if blob[:8] == b"\x89PNG\r\n\x1a\n":
        try:  # the declared size is checked before decoding: a file from outside may be a PNG bomb
            check_image(blob, "embedded raw PNG")
        except ImageError as exc:
            raise RjpegError(str(exc)) from None
        img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype != np.uint16:
            raise RjpegError("embedded raw PNG cannot be decoded as 16-bit")
        img = img.byteswap()  # FLIR writes little-endian words into a big-endian PNG
    else:
        need = width * height * 2
        if len(blob) < need:
            raise RjpegError("raw image record shorter than its declared size")
        img = np.frombuffer(blob[:need], dtype=e + "u2").reshape(height, width)
    if img.shape != (height, width):
        raise RjpegError(f"raw image is {img.shape[1]}x{img.shape[0]}, header says {width}x{height}")
    return img.astype(np.uint16)


def _planck_raw(info: CameraInfo, temp_c: float) -> float:
    return info.planck_r1 / (
        info.planck_r2 * (math.exp(info.planck_b / (temp_c + 273.15)) - info.planck_f)
    ) - (info.planck_o)


def raw_to_celsius(raw: np.ndarray, info: CameraInfo, emissivity: float | None = None) -> np.ndarray:
    """Raw counts → object temperature (°C), compensating emissivity, reflection, atmosphere and IR window."""
    em = info.emissivity if emissivity is None else emissivity
    if not 0.0 < em <= 1.0:
        raise RjpegError(f"emissivity {em} outside (0, 1]")
    t_atm = info.atmosphere_c
    h2o = (
        info.relative_humidity if info.relative_humidity <= 1.0 else info.relative_humidity / 100.0
    ) * math.exp(1.5587 + 0.06939 * t_atm - 0.00027816 * t_atm**2 + 0.00000068455 * t_atm**3)
    half = math.sqrt(max(info.object_distance_m, 0.0) / 2.0)
    tau = info.atm_x * math.exp(-half * (info.atm_alpha1 + info.atm_beta1 * math.sqrt(h2o))) + (
        1.0 - info.atm_x
    ) * math.exp(-half * (info.atm_alpha2 + info.atm_beta2 * math.sqrt(h2o)))
    window = info.ir_window_transmission if info.ir_window_transmission > 0 else 1.0
    reflected = (1.0 - em) / em * _planck_raw(info, info.reflected_c)
    atmosphere1 = (1.0 - tau) / em / tau * _planck_raw(info, t_atm)
    window_emit = (1.0 - window) / em / tau / window * _planck_raw(info, info.ir_window_c)
    atmosphere2 = (1.0 - tau) / em / tau / window / tau * _planck_raw(info, t_atm)
    obj = (
        raw.astype(np.float64) / em / tau / window / tau - atmosphere1 - atmosphere2 - window_emit - reflected
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        temp = info.planck_b / np.log(
            info.planck_r1 / (info.planck_r2 * (obj + info.planck_o)) + info.planck_f
        )
    return (temp - 273.15).astype(np.float32)


def decode_rjpeg(path: Path, emissivity: float | None = None) -> tuple[np.ndarray, CameraInfo]:
    """The °C image (float32, raw sensor resolution) and the camera metadata of one R-JPEG file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RjpegError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        records = _records(_flir_payload(data))
        if _RECORD_RAW not in records or _RECORD_CAMERA_INFO not in records:
            raise RjpegError("FFF container lacks the raw image or the camera calibration")
        info = _camera_info(records[_RECORD_CAMERA_INFO])
        raw = _raw_image(records[_RECORD_RAW])
    except (struct.error, IndexError) as exc:
        raise RjpegError(f"{path}: damaged FLIR metadata ({exc})") from None
    return raw_to_celsius(raw, info, emissivity), info
