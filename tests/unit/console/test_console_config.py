"""The console is off unless configured, and on only with a certificate, a key and a password hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edged.config.loader import ConfigError, validate_text
from edged.config.schema import EdgedConfig
from edged.console.passwords import PasswordHashError, check_hash_format, hash_password, verify_password
from edged.console.server import ConsoleError, start_console


class FakeDaemon:
    def __init__(self, cfg: EdgedConfig) -> None:
        self.cfg = cfg


def test_the_console_is_off_by_default_and_nothing_is_started() -> None:
    cfg = EdgedConfig()
    assert cfg.console.enabled is False
    assert start_console(FakeDaemon(cfg)) is None  # type: ignore[arg-type]


def test_enabling_it_needs_certificate_key_and_password_hash() -> None:
    with pytest.raises(ConfigError) as err:
        validate_text(EdgedConfig, "console:\n  enabled: true\n  tls_cert: /x.pem\n", "edged.yaml")
    assert "tls_key, password_hash" in str(err.value)
    assert str(err.value).startswith("edged.yaml:1: console:")
    with pytest.raises(ValidationError):
        EdgedConfig.model_validate(
            {
                "console": {
                    "enabled": True,
                    "tls_cert": "/c.pem",
                    "tls_key": {"env": "KEY"},
                    "password_hash": {"file": "/h"},
                }
            }
        )


def test_scrypt_hash_round_trip_and_format(tmp_path: Path) -> None:
    stored = hash_password("correct horse battery staple", n_log2=10)
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not verify_password("", stored)
    assert hash_password("same", n_log2=10) != hash_password("same", n_log2=10)  # salted
    with pytest.raises(PasswordHashError) as err:
        check_hash_format("plain-text-password")
    assert "plain-text-password" not in str(err.value)


def enabled(tmp_path: Path, hash_text: str, cert: bool = True) -> EdgedConfig:
    (tmp_path / "hash").write_text(hash_text)
    (tmp_path / "key.pem").write_text("key")
    if cert:
        (tmp_path / "cert.pem").write_text("cert")
    return EdgedConfig.model_validate(
        {
            "console": {
                "enabled": True,
                "tls_cert": str(tmp_path / "cert.pem"),
                "tls_key": {"file": str(tmp_path / "key.pem")},
                "password_hash": {"file": str(tmp_path / "hash")},
            }
        }
    )


def test_a_plain_password_where_the_hash_belongs_stops_the_start_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError) as err:
        start_console(FakeDaemon(enabled(tmp_path, "hunter2-plain-password\n")))  # type: ignore[arg-type]
    assert "hash-password" in str(err.value) and "hunter2" not in str(err.value)


def test_a_missing_certificate_stops_the_start_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match="tls_cert: cannot read"):
        start_console(FakeDaemon(enabled(tmp_path, hash_password("x" * 12, n_log2=10), cert=False)))  # type: ignore[arg-type]
