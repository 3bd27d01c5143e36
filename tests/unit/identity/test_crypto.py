from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edged.config.secrets import SecretRef
from edged.identity.crypto import (
    KEY_BYTES,
    Cipher,
    IntegrityError,
    TemplateKeyError,
    load_key,
    parse_key,
    template_aad,
    write_new_key,
)


def test_keygen_writes_32_random_bytes_owner_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a.key", tmp_path / "b.key"
    write_new_key(a)
    write_new_key(b)
    assert len(a.read_bytes()) == KEY_BYTES
    assert a.read_bytes() != b.read_bytes()
    assert stat.S_IMODE(a.stat().st_mode) == 0o600


def test_keygen_never_replaces_a_key_by_accident(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_new_key(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_new_key(path)
    assert path.read_bytes() == before
    write_new_key(path, overwrite=True)
    assert path.read_bytes() != before


def test_key_accepts_raw_or_hex_and_rejects_the_rest(tmp_path: Path) -> None:
    raw = bytes(range(32))
    assert parse_key(raw, "x") == raw
    assert parse_key(raw.hex().encode() + b"\n", "x") == raw
    for bad in (b"", b"short", raw + b"!", b"z" * 64):
        with pytest.raises(TemplateKeyError, match="expected 32 raw bytes"):
            parse_key(bad, "x")


def test_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateKeyError, match="template_key is not set"):
        load_key(None)
    with pytest.raises(TemplateKeyError, match="cannot read"):
        load_key(SecretRef(file=tmp_path / "nope.key"))


def test_ciphertext_is_bound_to_its_row() -> None:
    cipher = Cipher(bytes(32))
    aad = template_aad("alice", 1, "m", "v")
    nonce, ct = cipher.seal(b"secret vector", aad)
    assert b"secret vector" not in ct
    assert cipher.open(nonce, ct, aad, "t") == b"secret vector"
    with pytest.raises(IntegrityError, match="does not authenticate"):
        cipher.open(nonce, ct, template_aad("bob", 1, "m", "v"), "t")
    with pytest.raises(IntegrityError):
        cipher.open(nonce, ct, template_aad("alice", 2, "m", "v"), "t")
    with pytest.raises(IntegrityError):
        Cipher(bytes([1]) * 32).open(nonce, ct, aad, "t")


def test_key_check_record_recognises_only_its_key() -> None:
    record = Cipher(bytes(32)).key_check_record()
    assert Cipher(bytes(32)).matches_key_check(record)
    assert not Cipher(bytes([7]) * 32).matches_key_check(record)
