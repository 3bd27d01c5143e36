"""An uploaded photo's size is read from its header and bounded before it is decoded."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from edged.console.photos import PhotoError, check_upload, image_size


def test_size_from_real_png_and_jpeg_headers() -> None:
    image = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg"):
        ok, buf = cv2.imencode(ext, image)
        assert ok
        assert image_size(buf.tobytes()) == (53, 37)
        check_upload(buf.tobytes())


def test_a_small_png_claiming_a_huge_image_is_refused_before_decoding() -> None:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk
    with pytest.raises(PhotoError, match="megapixels"):
        check_upload(bomb)


def test_other_files_are_refused() -> None:
    for data in (b"", b"GIF89a....", b"\xff\xd8\xff\xe0\x00\x01"):
        with pytest.raises(PhotoError):
            check_upload(data)
