"""Password hashes for the console: scrypt from the standard library, in a self-describing string."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N_LOG2, R, P = 15, 8, 1  # 32 MiB and about 0.1 s per check on a Jetson-class core
MAXMEM = 64 * 1024 * 1024
MAX_PASSWORD_BYTES = 1024


class PasswordHashError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, n_log2: int = N_LOG2) -> str:
    if not password:
        raise PasswordHashError("the password is empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=1 << n_log2, r=R, p=P, maxmem=MAXMEM, dklen=32)
    return f"{SCHEME}${n_log2}${R}${P}${_b64(salt)}${_b64(digest)}"


def check_hash_format(stored: str) -> None:
    """Raise ``PasswordHashError`` (never echoing the value) unless ``stored`` is one of our hashes."""
    parts = stored.strip().split("$")
    try:
        ok = len(parts) == 6 and parts[0] == SCHEME and 10 <= int(parts[1]) <= 20
        ok = ok and 1 <= int(parts[2]) <= 32 and 1 <= int(parts[3]) <= 16
        ok = ok and len(_unb64(parts[4])) >= 8 and len(_unb64(parts[5])) >= 16
    except ValueError:
        ok = False
    if not ok:
        raise PasswordHashError("not a console password hash (make one with `edged console hash-password`)")


def verify_password(password: str, stored: str) -> bool:
    check_hash_format(stored)
    raw = password.encode()
    if not raw or len(raw) > MAX_PASSWORD_BYTES:
        return False
    _, n_log2, r, p, salt, digest = stored.strip().split("$")
    want = _unb64(digest)
    got = hashlib.scrypt(
        raw, salt=_unb64(salt), n=1 << int(n_log2), r=int(r), p=int(p), maxmem=MAXMEM, dklen=len(want)
    )
    return hmac.compare_digest(got, want)
