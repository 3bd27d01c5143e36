"""The engine cache: where built engines live, and the key that says whether one may be loaded.

A TensorRT engine is only valid for the TensorRT version, GPU (name and compute capability) and
build settings it was made with, and for the exact ONNX graph it was built from. All of these go into
the key; each engine file has a JSON manifest beside it holding its key and its own sha256. An engine
whose manifest is missing, differs from the wanted key or whose bytes no longer match is stale or
foreign: it is never loaded, it is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

KEY_FORMAT = 1  # bump when the meaning of a key field changes


class EngineCacheError(Exception):
    pass


@dataclass(frozen=True)
class Platform:
    """What a serialized engine is tied to on this machine."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.7" for Orin


@dataclass(frozen=True)
class EngineKey:
    model: str
    onnx_sha256: str  # of the prepared graph (denormals flushed, dynamic batch), not of the file
    platform: Platform
    precision: str
    profiles: tuple[tuple[int, int, int], ...]  # (min, opt, max) batch of each optimisation profile
    workspace_mb: int
    calibration_sha256: str | None = None  # int8 only: the calibration set it was built with

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["profiles"] = [list(p) for p in self.profiles]
        d["key_format"] = KEY_FORMAT
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    def file_name(self) -> str:
        gpu = "".join(c if c.isalnum() else "-" for c in self.platform.gpu_name.lower()).strip("-")
        return (
            f"{self.model}.{self.precision}.sm{self.platform.compute_capability.replace('.', '')}.{gpu}."
            f"trt{self.platform.tensorrt_version}.{self.digest()[:16]}.engine"
        )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_engine_cache_dir() -> Path:
    """``$CACHE_DIRECTORY/engines`` under systemd (/var/cache/edged/engines), else the user cache dir."""
    cache = os.environ.get("CACHE_DIRECTORY")
    if cache:
        return Path(cache.split(":")[0]) / "engines"
    return Path(platformdirs.user_cache_dir("edged")) / "engines"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EngineCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def engine_path(self, key: EngineKey) -> Path:
        return self.directory / key.file_name()

    def manifest_path(self, key: EngineKey) -> Path:
        return self.engine_path(key).with_suffix(".json")

    def check(self, key: EngineKey) -> str | None:
        """Why the cached engine for ``key`` must not be loaded, or ``None`` when it may."""
        engine, manifest = self.engine_path(key), self.manifest_path(key)
        if not engine.is_file():
            return "no engine built yet"
        try:
            meta = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return "engine has no readable manifest (foreign or interrupted build)"
        if not isinstance(meta, dict) or meta.get("key") != key.as_dict():
            return "engine was built for another key (TensorRT, GPU, precision, graph or profiles differ)"
        if meta.get("engine_sha256") != sha256_bytes(engine.read_bytes()):
            return "engine bytes do not match their manifest (corrupt or replaced)"
        return None

    def load(self, key: EngineKey) -> bytes:
        reason = self.check(key)
        if reason is not None:
            raise EngineCacheError(f"{self.engine_path(key)}: {reason}; run `edged build-engines`")
        return self.engine_path(key).read_bytes()

    def store(self, key: EngineKey, engine: bytes, extra: dict[str, object] | None = None) -> Path:
        """Write the engine, then its manifest: a crash in between leaves an engine without manifest,
        which :meth:`check` reports as unusable."""
        if not engine:
            raise EngineCacheError(f"{key.model}: refusing to cache an empty engine")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.engine_path(key)
        self.manifest_path(key).unlink(missing_ok=True)
        _atomic_write(path, engine)
        meta = {"key": key.as_dict(), "engine_sha256": sha256_bytes(engine), **(extra or {})}
        _atomic_write(self.manifest_path(key), json.dumps(meta, indent=2, sort_keys=True).encode())
        return path

    def stale_files(self, keep: list[EngineKey]) -> list[Path]:
        """Engines and manifests of the cache that none of ``keep`` would load."""
        wanted = set()
        for key in keep:
            wanted |= {self.engine_path(key).name, self.manifest_path(key).name}
        if not self.directory.is_dir():
            return []
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.suffix in (".engine", ".json") and p.is_file() and p.name not in wanted
        )

    def prune(self, keep: list[EngineKey]) -> list[Path]:
        removed = self.stale_files(keep)
        for p in removed:
            p.unlink(missing_ok=True)
        return removed


def engine_key(
    model: str,
    prepared_onnx: bytes,
    platform: Platform,
    *,
    precision: str,
    profiles: tuple[tuple[int, int, int], ...],
    workspace_mb: int,
    calibration: bytes | None = None,
) -> EngineKey:
    if precision == "int8" and calibration is None:
        raise EngineCacheError(f"{model}: an int8 engine needs its calibration set in the key")
    return EngineKey(
        model=model,
        onnx_sha256=sha256_bytes(prepared_onnx),
        platform=platform,
        precision=precision,
        profiles=profiles,
        workspace_mb=workspace_mb,
        calibration_sha256=sha256_bytes(calibration) if calibration is not None else None,
    )
