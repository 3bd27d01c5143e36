"""Reading images from disk or bytes into the BGR uint8 arrays the pipeline expects, with clear errors.

Every image from outside goes through :func:`decode_image`: the size of the file and the pixel count its
header declares are checked before OpenCV decodes anything, so a small file that declares a huge picture
(a decompression bomb) is refused in microseconds instead of taking gigabytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

MAX_IMAGE_BYTES = 32 * 1024 * 1024  # a photo of a face is a few MB; more is refused unread
MAX_IMAGE_PIXELS = 40_000_000  # 40 MP (7700×5200): more than any camera a face is enrolled from
MAX_DECODED_BYTES = 256 * 1024 * 1024  # what OpenCV returns; a 16-bit BGRA PNG takes 8 bytes a pixel
MAX_JPEG_SCANS = 256  # progressive JPEGs use about 10; thousands of scans only burn CPU
FORMATS = "JPEG, PNG, WebP, BMP or PNM"


class ImageError(Exception):
    pass


def to_bgr8(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Convert grey, BGRA, 16-bit or float images to BGR uint8; refuse what cannot be a photo."""
    if image is None or image.size == 0:
        raise ImageError(f"{what}: empty image")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ImageError(f"{what}: unsupported shape {image.shape} (expected H×W, H×W×3 or H×W×4)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        if not np.isfinite(image).all():
            raise ImageError(f"{what}: contains NaN or infinite values")
        scale = 255.0 if image.max(initial=0.0) <= 1.0 else 1.0
        image = np.clip(image * scale, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{what}: unsupported pixel type {image.dtype}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def read_image_bytes(path: str | Path, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of ``path``, refused unread when the file is larger than ``max_bytes``."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ImageError(f"{path}: file larger than {max_bytes} bytes: not a photo edged reads")
    return data


def load_image(path: str | Path) -> np.ndarray:
    """Read ``path`` as BGR uint8; raises :class:`ImageError` naming the file and the problem."""
    return decode_image(read_image_bytes(path), str(path))


def check_image(
    data: bytes, source: str, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[str, int, int]:
    """``(format, width, height)`` of an image from outside, refused when it is empty, larger than
    ``max_bytes``, in a format without a header we read, or declares more than ``max_pixels``."""
    if not data:
        raise ImageError(f"{source}: empty file")
    if len(data) > max_bytes:
        raise ImageError(f"{source}: {len(data)} bytes, at most {max_bytes}")
    fmt, width, height = image_header(data, source)
    if width <= 0 or height <= 0:
        raise ImageError(f"{source}: {fmt} header declares {width}×{height} pixels")
    if width * height > max_pixels:
        raise ImageError(
            f"{source}: {fmt} header declares {width}×{height} pixels, at most {max_pixels} decoded"
        )
    per_pixel = _decoded_bytes_per_pixel(fmt, data)
    if width * height * per_pixel > MAX_DECODED_BYTES:
        raise ImageError(
            f"{source}: {fmt} header declares {width}×{height} pixels of {per_pixel} bytes, more than "
            f"{MAX_DECODED_BYTES >> 20} MB decoded"
        )
    return fmt, width, height


def _decoded_bytes_per_pixel(fmt: str, data: bytes) -> int:
    """Bytes a pixel of ``data`` takes once OpenCV decodes it unchanged (an upper bound)."""
    if fmt == "PNG":  # IHDR bit depth and colour type; a palette decodes to 8-bit BGR
        depth, colour = data[24], data[25]
        channels = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}.get(colour, 4)
        return channels * (2 if depth == 16 and colour != 3 else 1)
    if fmt == "PNM":
        return 6  # 16-bit RGB at most
    return 4  # JPEG, WebP, BMP: 8-bit, at most four channels


def check_image_file(path: str | Path) -> tuple[str, int, int]:
    """:func:`check_image` on a file, read within the size bound; decodes nothing."""
    return check_image(read_image_bytes(path), str(path))


def decode_image(
    data: bytes, source: str, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Decode an image from outside as BGR uint8, within the size and pixel bounds.

    The format is recognised from its first bytes and the width and height are read from its header
    (:func:`check_image`); a format without a header we read is refused, so OpenCV never sees an
    unchecked file. Every image from outside (files, MQTT commands, kept photos) is decoded here.
    """
    fmt, _, _ = check_image(data, source, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"{source}: {fmt} cannot be decoded: {_first_line(str(exc))}") from None
    if image is None:
        raise ImageError(f"{source}: not an image OpenCV can decode (damaged {fmt})")
    if image.shape[0] * image.shape[1] > max_pixels:  # the header did not tell the truth
        raise ImageError(f"{source}: decoded {image.shape[1]}×{image.shape[0]} pixels, at most {max_pixels}")
    if image.dtype == np.uint16:  # in place: this array is ours, a copy would double the peak
        image = np.right_shift(image, 8, out=image).astype(np.uint8)
    return to_bgr8(image, source)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def image_header(data: bytes, source: str = "image") -> tuple[str, int, int]:
    """``(format, width, height)`` from the header alone; :class:`ImageError` for anything else."""
    try:
        if data.startswith(b"\xff\xd8\xff"):
            return ("JPEG", *_jpeg_size(data, source))
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return ("PNG", *_png_size(data, source))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return ("WebP", *_webp_size(data, source))
        if data[:2] == b"BM":
            return ("BMP", *_bmp_size(data, source))
        if data[:1] == b"P" and data[1:2] in b"123456" and len(data) > 2:
            return ("PNM", *_pnm_size(data, source))
    except (struct.error, IndexError, ValueError):
        raise ImageError(f"{source}: not an image edged can read (truncated header)") from None
    raise ImageError(f"{source}: not an image edged can read ({FORMATS} only)")


# start-of-frame markers: baseline, extended, progressive, lossless, and their arithmetic variants
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(data: bytes, source: str) -> tuple[int, int]:
    """Width and height from the frame header; the walk goes on to the end of the image to count its
    scans (a few thousand scans make a CPU bomb out of a small picture). Entropy-coded data is skipped
    by looking for the next 0xFF that is neither stuffing (0xFF00) nor a restart marker."""
    size: tuple[int, int] | None = None
    scans = 0
    pos = 2
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            break
        marker = data[pos + 1]
        if marker in (0x00, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:  # stuffing, fill or no length
            pos += 1
            continue
        if marker == 0xD9:  # end of image: what follows (a motion photo's video) is not decoded
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _JPEG_SOF and size is None:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            size = (width, height)
        elif marker == 0xDA:
            if size is None:
                break
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageError(f"{source}: JPEG with more than {MAX_JPEG_SCANS} scans")
        pos += 2 + max(length, 2)
    if size is None:
        raise ImageError(f"{source}: JPEG without a frame header")
    return size


def _png_size(data: bytes, source: str) -> tuple[int, int]:
    if data[12:16] != b"IHDR":
        raise ImageError(f"{source}: PNG whose first chunk is not IHDR")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _webp_size(data: bytes, source: str) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit canvas size minus one
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8L":  # lossless: 14 bits each, minus one
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":  # lossy: 14 bits each after the frame tag and start code
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    raise ImageError(f"{source}: WebP without a VP8, VP8L or VP8X chunk")


def _bmp_size(data: bytes, source: str) -> tuple[int, int]:
    (header,) = struct.unpack_from("<I", data, 14)
    if header == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack_from("<HH", data, 18)
        return width, height
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # a negative height means top-down rows


def _pnm_size(data: bytes, source: str) -> tuple[int, int]:
    fields: list[int] = []
    pos = 2
    while len(fields) < 2 and pos < min(len(data), 4096):
        c = data[pos : pos + 1]
        if c == b"#":  # comment to the end of the line
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
        elif c.isspace():
            pos += 1
        elif c.isdigit():
            start = pos
            while pos < len(data) and data[pos : pos + 1].isdigit() and pos - start < 12:
                pos += 1
            fields.append(int(data[start:pos]))
        else:
            raise ValueError("bad PNM header")
    if len(fields) < 2:
        raise ValueError("PNM header without a size")
    return fields[0], fields[1]
