"""Images from outside are checked (file size, declared pixels) before OpenCV decodes them."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from edged.faults.hostile_files import jpeg_bomb, png_bomb
from edged.identity.enrollment import decode_photo
from edged.vision.image_io import (
    MAX_IMAGE_PIXELS,
    ImageError,
    check_image,
    decode_image,
    image_header,
    load_image,
    read_image_bytes,
)


def encoded(ext: str, width: int = 37, height: int = 23, channels: int = 3) -> bytes:
    shape = (height, width, channels) if channels > 1 else (height, width)
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    ("ext", "fmt", "channels"),
    [(".jpg", "JPEG", 3), (".png", "PNG", 3), (".png", "PNG", 1), (".bmp", "BMP", 3), (".webp", "WebP", 3),
     (".ppm", "PNM", 3), (".pgm", "PNM", 1)],
)  # fmt: skip
def test_headers_give_the_size_opencv_decodes(ext: str, fmt: str, channels: int) -> None:
    data = encoded(ext, channels=channels)
    assert image_header(data) == (fmt, 37, 23)
    assert decode_image(data, "x").shape == (23, 37, 3)


def test_lossless_webp_header() -> None:
    ok, buf = cv2.imencode(".webp", np.zeros((23, 37, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok and image_header(buf.tobytes()) == ("WebP", 37, 23)


@pytest.mark.parametrize(("bomb", "declared"), [(jpeg_bomb, "65000×65000"), (png_bomb, "32000×32000")])
def test_bombs_are_refused_from_their_header(bomb: object, declared: str, tmp_path: Path) -> None:
    data = bomb()  # type: ignore[operator]
    assert len(data) < 200_000  # small files, huge pictures
    path = tmp_path / "bomb"
    path.write_bytes(data)
    for decode in (lambda: load_image(path), lambda: decode_photo(data, "photo")):
        with pytest.raises(ImageError, match=f"declares {declared} pixels, at most {MAX_IMAGE_PIXELS}"):
            decode()


def test_pixel_bound_is_exact() -> None:
    data = encoded(".png", 100, 50)
    assert decode_image(data, "x", max_pixels=5000).shape[:2] == (50, 100)
    with pytest.raises(ImageError, match="100×50 pixels, at most 4999"):
        decode_image(data, "x", max_pixels=4999)


def test_size_bound_refuses_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encoded(".png", 64, 64))
    size = path.stat().st_size
    assert len(read_image_bytes(path, max_bytes=size)) == size
    with pytest.raises(ImageError, match=f"larger than {size - 1} bytes"):
        read_image_bytes(path, max_bytes=size - 1)
    with pytest.raises(ImageError, match="at most 10"):
        check_image(path.read_bytes(), "x", max_bytes=10)


def many_scans(extra: int) -> bytes:
    """A real JPEG with ``extra`` more scans (copies of its scan header and one byte of data)."""
    data = encoded(".jpg")
    sos = data.index(b"\xff\xda")
    header = data[sos : sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")]
    eoi = data.rindex(b"\xff\xd9")
    return data[:eoi] + (header + b"\x00") * extra + data[eoi:]


def test_scans_are_counted_to_the_end_of_the_image_only() -> None:
    assert image_header(many_scans(200)) == ("JPEG", 37, 23)
    motion_photo = encoded(".jpg") + b"\xff\xda\x00\x02" * 1000  # a video appended after the image
    assert decode_image(motion_photo, "x").shape == (23, 37, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (encoded(".tiff"), "not an image edged can read"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00", "truncated header"),
        (b"\xff\xd8\xff\xd9", "JPEG without a frame header"),
        (many_scans(300), "more than 256 scans"),
    ],
)
def test_other_inputs_are_refused_in_words(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode_image(data, "x")


def test_zero_sized_header_is_refused() -> None:
    data = bytearray(encoded(".png"))
    data[16:24] = bytes(8)  # IHDR width and height
    with pytest.raises(ImageError, match="declares 0×0 pixels"):
        decode_image(bytes(data), "x")


def test_png_bomb_inside_a_flir_rjpeg_is_refused_before_decoding() -> None:
    from edged.capture.radiometric_rjpeg import RjpegError, _raw_image

    record = bytes(32) + png_bomb(20000, 20000)  # the raw-image record: a 32-byte header, then the PNG
    with pytest.raises(RjpegError, match="embedded raw PNG: PNG header declares 20000×20000 pixels"):
        _raw_image(record)


def test_decoded_size_bounds_deep_pngs_below_the_pixel_bound() -> None:
    data = bytearray(encoded(".png", 16, 16, channels=4))
    struct.pack_into(">II", data, 16, 6000, 6000)  # 36 MP: under the pixel bound
    assert check_image(bytes(data), "x") == ("PNG", 6000, 6000)  # 8-bit BGRA: 144 MB
    data[24] = 16  # bit depth 16: 8 bytes a pixel, 288 MB
    with pytest.raises(ImageError, match="6000×6000 pixels of 8 bytes, more than 256 MB decoded"):
        check_image(bytes(data), "x")
