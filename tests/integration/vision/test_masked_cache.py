"""The masked-probe cache on real LFW images: more mask variants are added without recomputing the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.masked import cache as probe_cache
from edged.vision.masked.head import HeadSettings
from edged.vision.pipeline import FacePipeline


@pytest.fixture
def images(shared_data: Path) -> tuple[Path, list[Path]]:
    from edged.vision.lfw import read_pairs

    data = shared_data / "lfw"
    pairs = [p for p in read_pairs(data) if p.same][:2]
    return data, sorted({p.a for p in pairs} | {p.b for p in pairs})


def test_asking_for_more_variants_computes_only_the_new_ones(
    images: tuple[Path, list[Path]], models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, paths = images
    monkeypatch.setenv("EDGED_CACHE_DIR", str(tmp_path))
    pipeline = FacePipeline(models_dir, OnnxRuntimeEngineConfig())
    drawn: list[int] = []
    style_for = probe_cache.style_for

    def counting_style_for(key: str, variant: int = 0):  # type: ignore[no-untyped-def]
        drawn.append(variant)
        return style_for(key, variant)

    monkeypatch.setattr(probe_cache, "style_for", counting_style_for)
    one = probe_cache.build(pipeline, data, paths, 1)
    assert sorted(set(drawn)) == [0] and len(drawn) == len(paths)
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "lfw_mask_probe").iterdir()}

    drawn.clear()
    two = probe_cache.build(pipeline, data, paths, 2)
    assert sorted(set(drawn)) == [1] and len(drawn) == len(paths)
    files = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "lfw_mask_probe").iterdir()}
    assert {n: files[n] for n in first} == first  # plain and variant 0 were not rewritten
    assert len(files) == len(first) + 1
    keys = [str(p.relative_to(data)) for p in paths]
    for k in keys:
        a, b, c = one.masked[0][k], two.masked[0][k], two.masked[1][k]
        assert a is not None and b is not None and c is not None
        assert np.array_equal(a.emb, b.emb)
        assert not np.allclose(b.emb, c.emb)  # another mask, another embedding
    assert sorted(two.masked) == [0, 1]

    with pytest.raises(ValueError, match="variants"):
        probe_cache.build(pipeline, data, paths, 0)


@pytest.fixture
def two_masks(
    images: tuple[Path, list[Path]], models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], probe_cache.ProbeCache]:
    """The test images' keys and their cache with two mask variants, in a cache folder of this test's own."""
    data, paths = images
    monkeypatch.setenv("EDGED_CACHE_DIR", str(tmp_path))
    cache = probe_cache.build(FacePipeline(models_dir, OnnxRuntimeEngineConfig()), data, paths, 2)
    return [str(p.relative_to(data)) for p in paths], cache


def test_the_head_trains_on_as_many_variants_as_its_settings_say(
    two_masks: tuple[list[str], probe_cache.ProbeCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edged.vision import lfw_mask_probe
    from edged.vision.masked.head import MaskedHead

    keys, cache = two_masks
    seen: list[int] = []
    monkeypatch.setattr(MaskedHead, "fit", lambda self, feats, targets, identity: seen.append(len(feats)))
    for variants in (1, 2):
        lfw_mask_probe.train_head(keys, cache, {}, HeadSettings(mask_variants=variants))
    assert seen == [len(keys), 2 * len(keys)]


def test_a_soup_trains_one_head_per_seed_on_the_same_faces(
    two_masks: tuple[list[str], probe_cache.ProbeCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edged.vision import lfw_mask_probe
    from edged.vision.masked.head import MaskedHead

    keys, cache = two_masks
    seen: list[tuple[int, int, int]] = []

    def fit(self: MaskedHead, feats: np.ndarray, targets: np.ndarray, identity: np.ndarray) -> None:
        seen.append((self.settings.seed, self.settings.soup, len(feats)))
        self.params = {k: np.full(1, float(self.settings.seed), np.float32) for k in ("wc", "bc")}

    monkeypatch.setattr(MaskedHead, "fit", fit)
    heads = lfw_mask_probe.train_heads(keys, cache, {}, HeadSettings(seed=10, soup=3, mask_variants=1))
    assert seen == [(10, 1, len(keys)), (11, 1, len(keys)), (12, 1, len(keys))]
    assert [h.settings.seed for h in heads] == [10, 11, 12]
    soup = lfw_mask_probe.train_head(keys, cache, {}, HeadSettings(seed=10, soup=3, mask_variants=1))
    assert soup.params["wc"].tolist() == [11.0] and soup.settings.soup == 3


def test_only_the_images_named_for_training_wear_every_variant(
    images: tuple[Path, list[Path]], models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, paths = images
    monkeypatch.setenv("EDGED_CACHE_DIR", str(tmp_path))
    pipeline = FacePipeline(models_dir, OnnxRuntimeEngineConfig())
    drawn: list[tuple[str, int]] = []
    style_for = probe_cache.style_for

    def counting_style_for(key: str, variant: int = 0):  # type: ignore[no-untyped-def]
        drawn.append((key, variant))
        return style_for(key, variant)

    monkeypatch.setattr(probe_cache, "style_for", counting_style_for)
    trained, probes = paths[:1], paths[1:]
    cache = probe_cache.build(pipeline, data, paths, 3, all_variants=trained)
    key = {p: str(p.relative_to(data)) for p in paths}
    assert sorted(drawn) == sorted([(key[trained[0]], v) for v in range(3)] + [(key[p], 0) for p in probes])
    assert sorted(cache.masked[0]) == sorted(key.values()) and sorted(cache.plain) == sorted(key.values())
    assert list(cache.masked[1]) == list(cache.masked[2]) == [key[trained[0]]]

    # the same faces as a cache built with every variant for every image
    monkeypatch.setenv("EDGED_CACHE_DIR", str(tmp_path / "full"))
    full = probe_cache.build(pipeline, data, paths, 3)
    for v, faces in cache.masked.items():
        for k, face in faces.items():
            other = full.masked[v][k]
            assert face is not None and other is not None and np.array_equal(face.emb, other.emb)


def test_the_one_fold_probe_gives_every_variant_to_its_training_fold_only(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edged.vision import lfw_mask_probe
    from edged.vision.lfw import read_pairs

    seen: dict[str, set[Path]] = {}

    class Stop(Exception):
        pass

    def build(pipeline, data_dir, paths, variants, all_variants=None):  # type: ignore[no-untyped-def]
        seen["images"], seen["trained"] = set(paths), set(all_variants)
        raise Stop

    monkeypatch.setattr(lfw_mask_probe, "build", build)
    with pytest.raises(Stop):
        lfw_mask_probe.run_mask_probe(None, shared_data / "lfw", 1, train_folds=1)  # type: ignore[arg-type]
    pairs = read_pairs(shared_data / "lfw")
    of = {k: {x for p in pairs if p.fold == k for x in (p.a, p.b)} for k in (0, 1, 2)}
    assert seen["images"] == of[0] | of[1] | of[2]  # test, calibration and training fold
    assert seen["trained"] == of[2]


def test_giving_every_variant_to_the_training_fold_only_changes_no_figure(
    shared_data: Path, models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-fold masked probe on 16 pairs of each of its three folds, its cache built as run_mask_probe
    builds it (every variant for the training fold only) and with every variant for every image."""
    from edged.vision import lfw_mask_probe
    from edged.vision.lfw import read_pairs

    data = shared_data / "lfw"
    pairs = read_pairs(data)
    few = [
        p
        for k in (0, 1, 2)
        for same in (True, False)
        for p in [q for q in pairs if q.fold == k and q.same == same][:8]
    ]
    monkeypatch.setattr(lfw_mask_probe, "read_pairs", lambda _: few)
    pipeline = FacePipeline(models_dir, OnnxRuntimeEngineConfig())
    settings = HeadSettings(epochs=1, mask_variants=2)

    def run(cache: str) -> dict:
        monkeypatch.setenv("EDGED_CACHE_DIR", str(tmp_path / cache))
        result = lfw_mask_probe.run_mask_probe(pipeline, data, 1, train_folds=1, settings=settings)
        return {k: v for k, v in result.items() if k not in ("images_per_second", "training_seconds")}

    restricted = run("restricted")
    real_build = lfw_mask_probe.build
    monkeypatch.setattr(
        lfw_mask_probe,
        "build",
        lambda pipeline, data_dir, paths, variants, all_variants=None: real_build(
            pipeline, data_dir, paths, variants
        ),
    )
    assert run("full") == restricted
    assert restricted["pairs"] == 16 and restricted["missed"] == 0
