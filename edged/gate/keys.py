"""OSDP secure channel base keys (SCBK): made with ``secrets``, stored as 32 hex digits in a 0600 file."""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

SCBK_BYTES = 16
_HEX = frozenset(string.hexdigits)


class KeyFormatError(ValueError):
    pass


def generate_scbk() -> bytes:
    return secrets.token_bytes(SCBK_BYTES)


def parse_scbk(raw: bytes) -> bytes:
    """Accept 32 hex digits (surrounding whitespace allowed); anything else is a ``KeyFormatError``."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFormatError("key file must hold 32 hex digits (ASCII)") from None
    if len(text) != 2 * SCBK_BYTES or not set(text) <= _HEX:
        raise KeyFormatError(f"key file must hold exactly {2 * SCBK_BYTES} hex digits")
    return bytes.fromhex(text)


def write_scbk(path: Path, key: bytes, overwrite: bool = False) -> None:
    """Write ``key`` readable by the owner only; refuses to replace an existing key unless told to."""
    if len(key) != SCBK_BYTES:
        raise KeyFormatError(f"an SCBK has {SCBK_BYTES} bytes")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key.hex() + "\n")
    os.chmod(path, 0o600)
