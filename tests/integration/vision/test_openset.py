"""``edged eval openset`` on a small real subset of LFW (no warm cache); the committed calibration file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.cli import main
from edged.identity.operating_point import load_calibration

FIELDS = {"images", "identities", "impostor_pairs", "genuine_pairs", "tar_at_far", "fpir", "fnir"}


def test_openset_on_sixty_people_through_the_cli(
    shared_data: Path,
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDGED_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached: the pipeline runs
    argv = ["eval", "openset", "--data", str(shared_data / "lfw"), "--max-identities", "60"]
    assert main([*argv, "--sizes", "10", "--splits", "2", "--draws", "50", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["identities"] == 60 and r["images"] >= 60 and r["images_with_face"] == r["images"]
    n = r["images"]
    assert r["impostor_pairs"] + r["genuine_pairs"] == n * (n - 1) // 2  # every pair of images, once
    assert FIELDS | {"operating_point", "masked"} <= set(r)
    assert set(r["fpir"]) == set(r["fnir"]) == {"10", "full"}
    assert r["gallery_size"]["full"] == 45  # 75 % of 60 people enrolled
    assert r["operating_point"]["threshold"] == 0.36
    assert set(r["tar_at_far"]) == {"1e-3", "1e-4", "1e-5", "1e-6"}
    assert r["tar_at_far"]["1e-6"] is None  # a few thousand impostor pairs cannot show 1e-6
    for side in (r, r["masked"]):
        assert set(side) >= FIELDS
        for label in ("10", "full"):
            assert 0.0 <= side["fpir"][label] <= 1.0 and 0.0 <= side["fnir"][label] <= 1.0
            low, high = side["fnir_interval"][label]
            assert low <= side["fnir"][label] <= high
    m = r["masked"]
    # every ordered pair of an unmasked image with another image's masked probe (probes with a face)
    probes = n - m["routing"]["no_face_with_mask"]
    assert m["impostor_pairs"] + m["genuine_pairs"] == probes * (n - 1)
    assert m["routing"]["to_head"] + m["routing"]["to_plain"] == probes


def test_committed_calibration_is_for_the_shipped_embedder() -> None:
    from edged.config.schema import load_config
    from edged.identity.gallery import embedder_tag
    from edged.vision.openset_cmd import DEFAULT_CALIBRATION_DIR

    tag = embedder_tag(load_config(None).vision)
    cal = load_calibration(DEFAULT_CALIBRATION_DIR / f"calibration-{tag.model_id}.json")
    assert cal.embedder == f"{tag.model_id}@{tag.version}"
    assert cal.unmasked.pairs > 10_000_000 and cal.masked is not None
    # the shipped threshold lets about 5e-4 of impostor comparisons through (the measurement)
    assert 1e-4 < cal.unmasked.far_at(0.36) < 2e-3
