from __future__ import annotations

from pathlib import Path

import pytest

from edged.cli import main
from edged.config import ConfigError, SecretError, SecretRef
from edged.config.schema import EdgedConfig, load_config

REPO = Path(__file__).resolve().parents[3]

BAD = """\
device_id: gate-7
vision:
  detecter:
    score_threshold: 0.8
  match_threshold: high
engine:
  type: onnxruntime
  intra_op_threads: 2
  warmup_runs: -3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text(text)
    return path


def test_shipped_config_documents_exactly_the_defaults() -> None:
    assert load_config(REPO / "config" / "edged.yaml") == EdgedConfig()


def test_three_problems_reported_with_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert lines == [
        f"{path}:3: unknown key 'vision.detecter'",
        f"{path}:5: vision.match_threshold: Input should be a valid number, "
        "unable to parse string as a number"
        " (got 'high')",
        f"{path}:9: engine.warmup_runs: Input should be greater than or equal to 0 (got -3)",
    ]


def test_check_config_command_prints_problems_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, BAD)
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: unknown key" in err
    assert f"{path}:5: vision.match_threshold" in err
    assert f"{path}:9: engine.warmup_runs" in err


def test_check_config_accepts_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "device_id: gate-7\nvision:\n  match_threshold: 0.4\n")
    assert main(["check-config", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_unknown_engine_type_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "device_id: a\nengine:\n  type: tensorflow\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2:") or str(info.value).startswith(f"{path}:3:")
    assert "tensorflow" in str(info.value)


def test_variant_field_of_the_other_variant_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "engine:\n  type: onnxruntime\n  precision: fp16\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:3: unknown key 'engine.precision'"


def test_duplicate_key_and_syntax_errors_have_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "device_id: a\nlane: b\ndevice_id: c\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:3: YAML syntax: duplicate key 'device_id'")
    path = write(tmp_path, "vision:\n  match_threshold: [0.3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:")
    assert "YAML syntax" in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_unreadable_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == EdgedConfig()


def test_secret_from_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mqtt-password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    ref = SecretRef(credential="mqtt-password")
    assert ref.read_text() == "s3cret"
    assert "s3cret" not in ref.describe()


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGED_TEST_SECRET", "abc")
    assert SecretRef(env="EDGED_TEST_SECRET").read_text() == "abc"
    (tmp_path / "k").write_bytes(b"\x00\x01")
    assert SecretRef(file=tmp_path / "k").read_bytes() == b"\x00\x01"


def test_secret_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(SecretError, match="CREDENTIALS_DIRECTORY is not set"):
        SecretRef(credential="key").read_bytes()
    with pytest.raises(SecretError, match="cannot read"):
        SecretRef(file=tmp_path / "nope").read_bytes()
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef(env="A", file=tmp_path / "x")
    with pytest.raises(ValueError, match="plain name"):
        SecretRef(credential="../etc/shadow")
