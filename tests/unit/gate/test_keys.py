from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.cli import main
from edged.gate.keys import SCBK_BYTES, KeyFormatError, generate_scbk, parse_scbk, write_scbk


def test_generated_keys_are_16_random_bytes() -> None:
    keys = {generate_scbk() for _ in range(64)}
    assert len(keys) == 64
    assert all(len(k) == SCBK_BYTES for k in keys)


def test_write_then_parse(tmp_path: Path) -> None:
    key = generate_scbk()
    path = tmp_path / "scbk"
    write_scbk(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert parse_scbk(path.read_bytes()) == key


def test_existing_key_is_not_replaced_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "scbk"
    first = generate_scbk()
    write_scbk(path, first)
    with pytest.raises(FileExistsError):
        write_scbk(path, generate_scbk())
    assert parse_scbk(path.read_bytes()) == first
    second = generate_scbk()
    write_scbk(path, second, overwrite=True)
    assert parse_scbk(path.read_bytes()) == second


@pytest.mark.parametrize("raw", [b"", b"00" * 15, b"00" * 17, b"zz" * 16, b"\xff" * 32, "ä".encode() * 16])
def test_malformed_key_files_are_refused(raw: bytes) -> None:
    with pytest.raises(KeyFormatError):
        parse_scbk(raw)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.binary(max_size=80))
def test_parse_fuzz(raw: bytes) -> None:
    try:
        key = parse_scbk(raw)
    except KeyFormatError:
        return
    assert len(key) == SCBK_BYTES
    assert key.hex() == raw.decode("ascii").strip().lower()


def test_keygen_command_never_prints_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scbk"
    assert main(["gate", "keygen", "--out", str(path)]) == 0
    key_hex = path.read_text().strip()
    out = capsys.readouterr()
    assert key_hex not in out.out + out.err
    assert len(bytes.fromhex(key_hex)) == SCBK_BYTES
    assert main(["gate", "keygen", "--out", str(path)]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and err.count("\n") == 1
    assert path.read_text().strip() == key_hex


def test_keygen_into_missing_directory_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "keygen", "--out", str(tmp_path / "no" / "scbk"), "--json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edged gate keygen: cannot write") and err.count("\n") == 1
