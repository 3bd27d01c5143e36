"""Ed25519 operator keys: generation, signing of commands, and loading of public keys from config."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class OperatorKeyError(ValueError):
    """A key that cannot be used (bad encoding, wrong type)."""


def generate_private_key_pem() -> bytes:
    """A new operator key as unencrypted PKCS#8 PEM (store it with mode 0600)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise OperatorKeyError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise OperatorKeyError("the key is not an Ed25519 key")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(b64: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise OperatorKeyError("public key is not valid base64") from None
    if len(raw) != 32:
        raise OperatorKeyError(f"an Ed25519 public key has 32 bytes, this one has {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(key: Ed25519PublicKey, signature_b64: str, body: bytes) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, body)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def sign_command(
    key: Ed25519PrivateKey,
    key_id: str,
    cmd: str,
    device_id: str,
    args: dict[str, object],
    *,
    now_s: float | None = None,
    nonce: str | None = None,
    reply_to: str | None = None,
) -> bytes:
    """The message to publish on ``<prefix>/<device_id>/cmd/<cmd>``."""
    body: dict[str, object] = {
        "cmd": cmd,
        "device_id": device_id,
        "ts_ms": int((time.time() if now_s is None else now_s) * 1000),
        "nonce": nonce or secrets.token_hex(16),
        "args": args,
    }
    if reply_to is not None:
        body["reply_to"] = reply_to
    body_text = json.dumps(body, separators=(",", ":"))
    signature = base64.b64encode(key.sign(body_text.encode())).decode()
    return json.dumps({"v": 1, "key_id": key_id, "sig": signature, "body": body_text}).encode()
