"""Hostile files, made on the spot: small images whose headers declare huge pictures, and YAML that
explodes when read naively. Used by the ``hostile`` fault scenarios and the tests."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def jpeg_bomb(width: int = 65000, height: int = 65000) -> bytes:
    """A real (tiny) JPEG whose frame header is rewritten to declare ``width``×``height`` pixels."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 32000, height: int = 32000) -> bytes:
    """A valid 1-bit grey PNG of ``width``×``height`` black pixels; zlib keeps it near 124 KB."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte, then the packed bits
    z = zlib.compressobj(9)
    parts = [z.compress(row * 1000) for _ in range(height // 1000)]
    parts.append(z.compress(row * (height % 1000)))
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def yaml_alias_bomb(levels: int = 9, fan: int = 10) -> str:
    """Billion laughs: each level lists the one before ``fan`` times (10^9 strings at 9 levels)."""
    lines = ['a: &a ["lol"]']
    prev = "a"
    for n in range(1, levels):
        name = f"l{n}"
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * fan)}]")
        prev = name
    return "\n".join(lines) + "\n"


def yaml_deep(depth: int = 100_000) -> str:
    """Flow sequences nested ``depth`` deep under one key."""
    return "policy: " + "[" * depth + "]" * depth + "\n"


def yaml_complex_key() -> str:
    """A mapping whose key is itself a list (YAML allows it; no config key is)."""
    return "policy:\n  ? [mode, other]\n  : free\n"


def yaml_huge_int(digits: int = 5000) -> str:
    """An integer past Python's 4300-digit conversion limit."""
    return "engine:\n  intra_op_threads: " + "9" * digits + "\n"


def yaml_oversize(megabytes: int = 50) -> bytes:
    """A valid config padded with comment lines to ``megabytes`` MB."""
    line = b"# " + b"x" * 77 + b"\n"
    return b"log_level: info\n" + line * (megabytes * 1024 * 1024 // len(line))
