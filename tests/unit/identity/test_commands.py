from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edged.identity.config import IdentityConfig
from edged.identity.gallery import Gallery, embedder_tag
from edged.vision.config import VisionConfig
from tests.unit.identity.cli_helper import run_cli
from tests.unit.identity.conftest import person, templates, unit_vectors


def write_config(tmp_path: Path, key: Path) -> Path:
    path = tmp_path / "edged.yaml"
    path.write_text(f"identity:\n  database: {tmp_path / 'gallery.db'}\n  template_key:\n    file: {key}\n")
    return path


def test_keygen_writes_a_private_key_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k"
    assert run_cli(["gallery", "keygen", "--out", str(key)]) == 0
    assert len(key.read_bytes()) == 32 and stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_bytes()
    assert run_cli(["gallery", "keygen", "--out", str(key)]) == 1
    assert "exists" in capsys.readouterr().err
    assert key.read_bytes() == before


def test_bench_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "gallery", "--size", "3000", "--queries", "50", "--index", "binary", "--json"]
    assert run_cli(argv) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("size", "dim", "p50_ms", "p99_ms", "recall_at_1", "build_s", "rss_mb", "index"):
        assert key in result
    assert result["size"] == 3000 and result["dim"] == 512 and result["index"] == "binary"
    assert 0.0 <= result["recall_at_1"] <= 1.0 and result["p99_ms"] >= result["p50_ms"] > 0


def test_bench_rejects_bad_arguments_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["bench", "gallery", "--size", "0"]) == 1
    assert run_cli(["bench", "gallery", "--size", "10", "--code-bits", "100"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("edged: ") for line in err)
    assert "Traceback" not in "".join(err)


def test_list_and_erase_with_receipt(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, key_file)
    cfg = IdentityConfig.model_validate(
        {"database": str(tmp_path / "gallery.db"), "template_key": {"file": str(key_file)}}
    )
    with Gallery.open(cfg, embedder_tag(VisionConfig())) as g:
        g.add(person("alice", credential="42"), templates(unit_vectors(2)))
        g.add(person("bob"), templates(unit_vectors(1, seed=1)))
    assert run_cli(["gallery", "list", "-c", str(config), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["person_id"] for p in listed["people"]] == ["alice", "bob"]
    assert sum(listed["templates"].values()) == 3

    assert run_cli(["gallery", "erase", "alice", "-c", str(config), "--json"]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["person_id"] == "alice" and receipt["templates_removed"] == 2
    assert receipt["index_entries_removed"] == 2 and receipt["storage_compacted"] is True

    assert run_cli(["gallery", "erase", "alice", "-c", str(config)]) == 1
    assert "no enrolled person 'alice'" in capsys.readouterr().err
    assert run_cli(["gallery", "verify", "-c", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["templates_in_index"] == 1


def test_wrong_key_is_one_clear_line(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, key_file)
    assert run_cli(["gallery", "list", "-c", str(config)]) == 0
    key_file.write_bytes(bytes(32))
    capsys.readouterr()
    assert run_cli(["gallery", "list", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not open gallery" in err


def test_missing_key_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, tmp_path / "absent.key")
    assert run_cli(["gallery", "list", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err


def test_bench_store_times_a_real_gallery_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "gallery", "--store", "--size", "300", "--store-dir", str(tmp_path), "--json"]
    assert run_cli(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["templates_indexed"] == 300 and result["verify_ok"] is True
    assert result["open_s"] > 0 and result["db_mb"] > 0.3  # 300 encrypted 2 KiB templates
    assert list(tmp_path.iterdir()) == []  # the temporary gallery and its key are gone
