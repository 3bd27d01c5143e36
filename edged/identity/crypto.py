"""Templates encrypted at rest: AES-256-GCM, each ciphertext bound to its row by associated data."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edged.config.secrets import SecretError, SecretRef

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_CHECK_PLAINTEXT = b"edged gallery key check v1"
_KEY_CHECK_AAD = b"edged/key-check"


class TemplateKeyError(Exception):
    """The template key is missing, malformed or does not open this gallery."""


class IntegrityError(Exception):
    """A ciphertext did not authenticate: tampered, swapped between rows, or the wrong key."""


def parse_key(raw: bytes, where: str) -> bytes:
    """Accept 32 raw bytes or 64 hexadecimal characters (a trailing newline is fine)."""
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    raise TemplateKeyError(
        f"template key from {where}: expected {KEY_BYTES} raw bytes or {2 * KEY_BYTES} hex characters, "
        f"got {len(raw)} bytes (create one with 'edged gallery keygen --out FILE')"
    )


def load_key(ref: SecretRef | None) -> bytes:
    if ref is None:
        raise TemplateKeyError(
            "identity.template_key is not set (create a key with 'edged gallery keygen --out FILE')"
        )
    try:
        raw = ref.read_bytes()
    except SecretError as exc:
        raise TemplateKeyError(f"template key: {exc}") from None
    return parse_key(raw, ref.describe())


def write_new_key(path: Path, *, overwrite: bool = False) -> None:
    """Write a fresh random key readable by the owner only (0600), never replacing one by accident."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_bytes(KEY_BYTES))
    finally:
        os.close(fd)


def template_aad(person_id: str, template_id: int, model_id: str, model_version: str) -> bytes:
    return f"edged/template/v1\x00{person_id}\x00{template_id}\x00{model_id}\x00{model_version}".encode()


def photo_aad(person_id: str, photo_id: int) -> bytes:
    return f"edged/photo/v1\x00{person_id}\x00{photo_id}".encode()


class Cipher:
    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise TemplateKeyError(f"template key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        """Returns ``(nonce, ciphertext)``; a fresh random nonce every call."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, plaintext, aad)

    def open(self, nonce: bytes, ciphertext: bytes, aad: bytes, what: str) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise IntegrityError(
                f"{what}: does not authenticate (tampered, moved between rows or wrong key)"
            ) from None

    def key_check_record(self) -> bytes:
        nonce, ct = self.seal(_KEY_CHECK_PLAINTEXT, _KEY_CHECK_AAD)
        return nonce + ct

    def matches_key_check(self, record: bytes) -> bool:
        try:
            plain = self._aead.decrypt(record[:NONCE_BYTES], record[NONCE_BYTES:], _KEY_CHECK_AAD)
        except InvalidTag:
            return False
        return plain == _KEY_CHECK_PLAINTEXT
