"""Radiometric FrameSources (edged/capture/radiometric*.py): fixtures decode to plausible skin temperatures,
and bad files give a clear SourceError."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edged.capture.radiometric import (
    Y16UvcSource,
    is_ffc_frame,
    open_radiometric_source,
    y16_frame,
    y16_to_celsius,
)
from edged.capture.radiometric_config import (
    FlirRjpegSourceConfig,
    FlukeCsvSourceConfig,
    RawReplaySourceConfig,
    Y16UvcSourceConfig,
)
from edged.capture.radiometric_files import read_fluke_csv, write_raw_sequence
from edged.capture.radiometric_rjpeg import CameraInfo, RjpegError, _planck_raw, decode_rjpeg, raw_to_celsius
from edged.capture.source import SourceError

RJPEG = "thermal/flir_e53_radiometric_rjpeg_sample"
FLUKE = "thermal/fluke_fever_faces/temperature"


def _read_all(source: object) -> list[np.ndarray]:
    from edged.capture.source import FrameSource

    assert isinstance(source, FrameSource)
    source.open()
    images = []
    while (frame := source.read(1.0)) is not None:
        images.append(frame.image)
    assert source.ended
    source.close()
    return images


def test_flir_rjpegs_decode_to_skin_temperatures(shared_data: Path) -> None:
    images = _read_all(open_radiometric_source(FlirRjpegSourceConfig(path=shared_data / RJPEG)))
    assert len(images) == 8
    for image in images:
        assert image.dtype == np.float32 and image.shape == (180, 240)
        assert np.isfinite(image).all()
        # people are the warmest large surfaces of these classroom scenes; lamps are a few pixels
        assert 33.0 <= float(np.percentile(image, 99.5)) <= 37.0
        assert 18.0 <= float(np.median(image)) <= 31.0


def test_fluke_csvs_decode_to_skin_temperatures(shared_data: Path) -> None:
    images = _read_all(open_radiometric_source(FlukeCsvSourceConfig(path=shared_data / FLUKE)))
    assert len(images) == 22
    for image in images:
        assert image.dtype == np.float32 and image.shape == (240, 320)
        assert 33.0 <= float(image.max()) <= 37.0  # the hottest face of each scene
        assert 15.0 <= float(np.median(image)) <= 28.0


def test_planck_round_trip_with_unit_emissivity() -> None:
    info = CameraInfo(
        emissivity=1.0,
        object_distance_m=0.0,
        reflected_c=20.0,
        atmosphere_c=20.0,
        ir_window_c=20.0,
        ir_window_transmission=1.0,
        relative_humidity=0.5,
        planck_r1=16380.2,
        planck_r2=0.0115598,
        planck_b=1424.8,
        planck_f=1.0,
        planck_o=-5065.0,
        atm_alpha1=0.0124,
        atm_alpha2=0.0111,
        atm_beta1=-0.0052,
        atm_beta2=-0.0016,
        atm_x=1.9,
    )
    raw = np.array([[_planck_raw(info, t) for t in (25.0, 35.0, 37.5)]])
    assert np.allclose(raw_to_celsius(raw, info), [[25.0, 35.0, 37.5]], atol=0.01)
    # a lower emissivity means the same radiance came from a warmer object
    warmer = raw_to_celsius(raw, dataclasses.replace(info, emissivity=0.95))
    assert (warmer > [[25.0, 35.0, 37.5]]).all()


def test_plain_jpeg_is_not_radiometric(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "plain.jpg"
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(RjpegError, match="no FLIR radiometric segments"):
        decode_rjpeg(path)
    source = open_radiometric_source(FlirRjpegSourceConfig(path=path))
    source.open()
    with pytest.raises(SourceError):
        source.read(1.0)


def _fluke_text(unit: str, rows: list[list[float]]) -> str:
    lines = [f"All temperatures in °{unit}.", "", r"C:\x\IR_1.IS2", ""]
    lines.append('",' + ",".join(str(i + 1) for i in range(len(rows[0]))))
    lines += ['"' + f"{r + 1}," + ",".join(f"{v:.1f}" for v in row) for r, row in enumerate(rows)]
    return "\r\n".join(lines) + "\r\n"


def test_fluke_units_and_stray_quotes(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(_fluke_text("F", [[98.6, 68.0], [95.0, 77.0]]), encoding="utf-16")
    assert np.allclose(read_fluke_csv(path), [[37.0, 20.0], [35.0, 25.0]], atol=1e-4)
    path.write_text(_fluke_text("C", [[36.5, 20.0], [35.0, 25.0]]), encoding="utf-16")
    assert np.allclose(read_fluke_csv(path), [[36.5, 20.0], [35.0, 25.0]], atol=1e-4)


def test_fluke_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("no unit here\n1,2,3\n", encoding="utf-16")
    with pytest.raises(SourceError, match="unit"):
        read_fluke_csv(path)
    path.write_text(_fluke_text("C", [[36.5, 20.0], [35.0]]), encoding="utf-16")
    with pytest.raises(SourceError, match="rectangular"):
        read_fluke_csv(path)


def test_raw_replay_round_trip_and_end(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).normal(30, 2, (3, 12, 16)).astype(np.float32)
    path = tmp_path / "rec.npz"
    write_raw_sequence(path, frames, np.array([0.0, 0.11, 0.22]))
    images = _read_all(open_radiometric_source(RawReplaySourceConfig(path=path, realtime=False)))
    assert len(images) == 3 and all(np.array_equal(a, b) for a, b in zip(images, frames, strict=True))


def test_raw_replay_refuses_wrong_dtype_and_stamps(tmp_path: Path) -> None:
    path = tmp_path / "rec.npz"
    np.savez(path, frames_c=np.zeros((2, 4, 4)), timestamps=np.array([0.0, 1.0]))
    source = open_radiometric_source(RawReplaySourceConfig(path=path))
    with pytest.raises(SourceError, match="float32"):
        source.open()
    np.savez(path, frames_c=np.zeros((2, 4, 4), np.float32), timestamps=np.array([1.0, 0.0]))
    with pytest.raises(SourceError, match="non-decreasing"):
        open_radiometric_source(RawReplaySourceConfig(path=path)).open()
    with pytest.raises(SourceError, match="cannot read"):
        open_radiometric_source(RawReplaySourceConfig(path=tmp_path / "missing.npz")).open()


def test_y16_counts_to_celsius() -> None:
    raw = np.array([[30815, 27315]], np.uint16)
    assert np.allclose(y16_to_celsius(raw, 0.01), [[35.0, 0.0]], atol=1e-3)
    assert np.allclose(y16_to_celsius(np.array([[3082]], np.uint16), 0.1), [[35.05]], atol=1e-3)
    assert Y16UvcSourceConfig(tlinear="decikelvin").kelvin_per_count == 0.1
    with pytest.raises(SourceError, match="16-bit"):
        y16_to_celsius(np.zeros((2, 2), np.uint8), 0.01)


def test_y16_frames_from_either_opencv_layout() -> None:
    counts = np.arange(12, dtype=np.uint16).reshape(3, 4) + 30000
    assert np.array_equal(y16_frame(counts, 4, 3), counts)
    as_bytes = counts.astype("<u2").view(np.uint8).reshape(1, -1)
    assert np.array_equal(y16_frame(as_bytes, 4, 3), counts)
    with pytest.raises(SourceError, match="expected 4x3 Y16"):
        y16_frame(np.zeros((3, 4, 3), np.uint8), 4, 3)  # an 8-bit BGR frame: CONVERT_RGB was not honoured


def test_ffc_frames_are_recognised() -> None:
    rng = np.random.default_rng(0)
    scene = (25 + rng.normal(0, 1.0, (120, 160))).astype(np.float32)
    shutter = np.full((120, 160), 28.0, np.float32) + rng.normal(0, 0.01, (120, 160)).astype(np.float32)
    assert is_ffc_frame(shutter, None, 0.05)
    assert is_ffc_frame(scene, scene.copy(), 0.05)  # frozen during the correction
    assert not is_ffc_frame(scene, scene + 0.01, 0.05)


def test_missing_uvc_device_is_a_source_error() -> None:
    source = Y16UvcSource(Y16UvcSourceConfig(device="/dev/video-does-not-exist"))
    with pytest.raises(SourceError, match="cannot open"):
        source.open()


def test_missing_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        open_radiometric_source(FlukeCsvSourceConfig(path=tmp_path / "nope"))
    with pytest.raises(SourceError, match="no .csv files"):
        open_radiometric_source(FlukeCsvSourceConfig(path=tmp_path))
