"""The size of an uploaded photo, read from its header before anything decodes it (a small file can
claim a huge image): PNG and JPEG only."""

from __future__ import annotations

import struct

MAX_PIXELS = 40_000_000
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class PhotoError(ValueError):
    pass


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG or JPEG header; ``PhotoError`` for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                raise PhotoError("a damaged JPEG header")
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in SOF_MARKERS and i + 9 <= len(data):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            if length < 2:
                raise PhotoError("a damaged JPEG header")
            i += 2 + length
        raise PhotoError("a JPEG without a frame header")
    raise PhotoError("not a PNG or JPEG photo")


def check_upload(data: bytes) -> None:
    width, height = image_size(data)
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise PhotoError(f"{width}x{height} pixels: at most {MAX_PIXELS // 1_000_000} megapixels")
