import dataclasses
import json

import pytest

from edged.vision.engines.trt_cache import (
    EngineCache,
    EngineCacheError,
    Platform,
    default_engine_cache_dir,
    engine_key,
)

ORIN = Platform(tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7")
GRAPH = b"prepared onnx bytes"


def key(**changes):
    args = {
        "precision": "fp16",
        "profiles": ((1, 1, 1), (2, 4, 8)),
        "workspace_mb": 1024,
    }
    platform = changes.pop("platform", ORIN)
    graph = changes.pop("graph", GRAPH)
    args.update(changes)
    return engine_key("fr_feature", graph, platform, **args)


@pytest.mark.parametrize(
    "other",
    [
        {"platform": dataclasses.replace(ORIN, tensorrt_version="10.4.0")},
        {"platform": dataclasses.replace(ORIN, gpu_name="NVIDIA H100 80GB HBM3")},
        {"platform": dataclasses.replace(ORIN, compute_capability="9.0")},
        {"precision": "fp32"},
        {"profiles": ((1, 1, 1), (2, 4, 16))},
        {"workspace_mb": 2048},
        {"graph": GRAPH + b" changed"},
    ],
)
def test_every_key_field_changes_the_engine_file(other):
    assert key().digest() != key(**other).digest()
    assert key().file_name() != key(**other).file_name()


def test_same_inputs_give_the_same_key():
    assert key() == key()
    assert key().file_name() == key().file_name()


def test_file_name_says_what_it_holds():
    name = key().file_name()
    assert name.startswith("fr_feature.fp16.sm87.orin.trt10.3.0.")
    assert name.endswith(".engine")


def test_int8_needs_its_calibration_set_in_the_key():
    with pytest.raises(EngineCacheError, match="calibration"):
        key(precision="int8")
    a = key(precision="int8", calibration=b"set a")
    b = key(precision="int8", calibration=b"set b")
    assert a.digest() != b.digest()


def test_store_then_load_round_trips(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.check(key()) == "no engine built yet"
    path = cache.store(key(), b"serialized engine")
    assert path.parent == tmp_path
    assert cache.check(key()) is None
    assert cache.load(key()) == b"serialized engine"


def test_engine_for_another_platform_is_not_loaded(tmp_path):
    cache = EngineCache(tmp_path)
    new = key(platform=dataclasses.replace(ORIN, tensorrt_version="10.4.0"))
    old_path = cache.store(key(), b"built on 10.3")
    # someone copies the old engine over the name the new key wants
    cache.engine_path(new).write_bytes(old_path.read_bytes())
    cache.manifest_path(new).write_text(cache.manifest_path(key()).read_text())
    assert "another key" in cache.check(new)
    with pytest.raises(EngineCacheError, match="build-engines"):
        cache.load(new)


def test_engine_without_manifest_is_foreign(tmp_path):
    cache = EngineCache(tmp_path)
    tmp_path.joinpath(key().file_name()).write_bytes(b"from somewhere")
    assert "manifest" in cache.check(key())


def test_corrupt_manifest_is_refused(tmp_path):
    cache = EngineCache(tmp_path)
    cache.store(key(), b"engine")
    cache.manifest_path(key()).write_text("{not json")
    assert "manifest" in cache.check(key())


def test_changed_engine_bytes_are_refused(tmp_path):
    cache = EngineCache(tmp_path)
    cache.store(key(), b"engine")
    cache.engine_path(key()).write_bytes(b"engine, truncated or replaced")
    assert "do not match" in cache.check(key())


def test_manifest_holds_the_key(tmp_path):
    cache = EngineCache(tmp_path)
    cache.store(key(), b"engine", extra={"built_with": "test"})
    meta = json.loads(cache.manifest_path(key()).read_text())
    assert meta["key"]["platform"]["tensorrt_version"] == "10.3.0"
    assert meta["built_with"] == "test"


def test_empty_engine_is_not_cached(tmp_path):
    with pytest.raises(EngineCacheError):
        EngineCache(tmp_path).store(key(), b"")


def test_prune_removes_what_no_current_key_loads(tmp_path):
    cache = EngineCache(tmp_path)
    old = key(platform=dataclasses.replace(ORIN, tensorrt_version="8.6.2"))
    cache.store(old, b"old")
    cache.store(key(), b"new")
    (tmp_path / "notes.txt").write_text("not ours to delete")
    removed = cache.prune([key()])
    assert {p.name for p in removed} == {cache.engine_path(old).name, cache.manifest_path(old).name}
    assert cache.check(key()) is None
    assert (tmp_path / "notes.txt").exists()


def test_prune_of_missing_directory_is_empty(tmp_path):
    assert EngineCache(tmp_path / "none").prune([key()]) == []


def test_default_cache_dir_follows_systemd(monkeypatch, tmp_path):
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    assert default_engine_cache_dir() == tmp_path / "engines"
    monkeypatch.delenv("CACHE_DIRECTORY")
    assert default_engine_cache_dir().name == "engines"
