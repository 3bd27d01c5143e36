"""Identity decisions that need more than one lucky frame: a margin over the best other person, several
agreeing frames, and a threshold that follows a target FPIR as the gallery grows (issue 33, item 3)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edged.decide.config import PolicyConfig
from edged.decide.fusion import TrackIdentity
from edged.decide.operating import OperatingPoints, find_calibration
from edged.decide.policy import Evidence, Match, PolicyEngine
from edged.identity.operating_point import (
    Calibration,
    CalibrationError,
    ImpostorTail,
    fpir,
    threshold_for_fpir,
)
from edged.vision.config import VisionConfig

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
EMBEDDER = "fr_feature@test"
# per-comparison false-accept rates of the grey embedder on LFW, as measured in issue 33's table
TAIL = ImpostorTail(
    np.array([0.36, 0.45, 0.50, 0.55]), np.array([5.4e-4, 2.8e-5, 5.5e-6, 1.9e-6]), 17_048_321
)
CAL = Calibration(EMBEDDER, TAIL, None, "issue 33")


def vision(**kw: object) -> VisionConfig:
    base: dict[str, object] = {"match_threshold": 0.4, "masked_match_threshold": 0.5, "target_fpir": None}
    base.update(kw)
    return VisionConfig.model_validate(base)


def engine(
    v: VisionConfig, size: list[int] | None = None, cal: Calibration | None = None, **policy: object
) -> PolicyEngine:
    """``size``: a one-element list, the gallery's people (change it to enrol or erase)."""
    cfg = PolicyConfig.model_validate(policy)
    gallery = (lambda: size[0]) if size is not None else None
    return PolicyEngine(cfg, v, OperatingPoints.from_config(cfg, v, cal, gallery))


def ev(match: Match | None, attempts: int = 1, out_of_time: bool = False) -> Evidence:
    return Evidence(
        lane="lane-1", now=NOW, match=match, attempts=attempts, liveness=0.9, out_of_time=out_of_time
    )


def test_margin_denies_an_ambiguous_match() -> None:
    """Two people both above the threshold and within the margin of each other: nobody is granted."""
    e = engine(vision(match_margin=0.05, fusion={"frames": 1}), timing={"max_attempts": 2})
    close = Match("alice", 0.62, runner_up=0.59)
    assert e.decide(ev(close, attempts=1)).decision == "pending"  # another frame may settle it
    v = e.decide(ev(close, attempts=2))
    assert v.decision == "deny" and v.reasons == ("ambiguous_match",) and v.person_id is None
    assert e.decide(ev(Match("alice", 0.62, runner_up=0.57), attempts=2)).decision == "grant"
    assert e.decide(ev(Match("alice", 0.62, runner_up=None), attempts=2)).decision == "grant"  # nobody else


def test_a_single_lucky_frame_is_not_enough() -> None:
    """With fusion.frames 2, one frame far above the threshold waits for a second that agrees; a track that
    never gives one is denied, not granted."""
    e = engine(vision(fusion={"frames": 2}), timing={"max_attempts": 3})
    lucky = Match("alice", 0.9, frames=1, agreeing=1)
    assert e.decide(ev(lucky, attempts=1)).decision == "pending"
    v = e.decide(ev(lucky, attempts=1, out_of_time=True))
    assert v.decision == "deny" and v.reasons == ("unconfirmed_match",)
    split = Match("alice", 0.5, frames=2, agreeing=1)  # the fused embedding finds alice, one frame did
    assert e.decide(ev(split, attempts=5)).decision == "pending"  # 3 attempts x 2 frames: one more
    v = e.decide(ev(split, attempts=6))
    assert v.decision == "deny" and v.reasons == ("unconfirmed_match",)
    agreed = Match("alice", 0.5, frames=2, agreeing=2)
    assert e.decide(ev(agreed, attempts=2)).decision == "grant"


def test_fusion_frames_raise_the_attempts_a_track_gets() -> None:
    """Each attempt on a better frame is corroborated by the frames after it: a track may take
    max_attempts x fusion.frames embeddings."""
    e = engine(vision(fusion={"frames": 3}), timing={"max_attempts": 1})
    assert e.max_attempts == 3
    assert e.decide(ev(Match("alice", 0.9, frames=2, agreeing=2), attempts=2)).decision == "pending"


def test_threshold_from_target_fpir_grows_with_the_gallery() -> None:
    size = [10]
    e = engine(vision(target_fpir=0.01, fusion={"frames": 1}), size, CAL, timing={"max_attempts": 1})
    small = e.point(False)
    assert small.target_fpir == 0.01 and small.gallery_size == 10
    assert small.predicted_fpir is not None and small.predicted_fpir <= 0.01 * 1.001
    probe = Match("alice", 0.43)
    assert e.decide(ev(probe)).decision == "grant"
    size[0] = 1000  # people enrolled since: the same engine recomputes
    large = e.point(False)
    assert large.gallery_size == 1000 and large.threshold > small.threshold + 0.02
    v = e.decide(ev(probe))
    assert v.decision == "deny" and v.reasons == ("unknown",)
    assert v.point is not None and v.point.to_json()["gallery_size"] == 1000


def test_operating_point_is_computed_once_per_gallery_size() -> None:
    calls = []

    def size() -> int:
        calls.append(1)
        return 100

    points = OperatingPoints((0.4, 0.5), 0.05, target_fpir=0.01, calibration=CAL, gallery_size=size)
    first = points.point(False)
    assert all(points.point(False) is first for _ in range(5))  # cached: no recomputation per decision


def test_explicit_threshold_still_works() -> None:
    """target_fpir null: the configured threshold, whatever the gallery's size; the calibration, when
    there is one, only predicts the FPIR it gives. A lane's own policy.match_threshold beats a target."""
    size = [5000]
    e = engine(vision(fusion={"frames": 1}), size, CAL, timing={"max_attempts": 1})
    point = e.point(False)
    assert point.threshold == 0.4 and point.target_fpir is None
    assert point.predicted_fpir is not None and point.predicted_fpir > 0.01  # 5,000 people at 0.4
    assert e.decide(ev(Match("alice", 0.41))).decision == "grant"
    assert engine(vision(fusion={"frames": 1})).point(False).predicted_fpir is None  # no calibration
    lane = engine(vision(target_fpir=0.01), size, CAL, match_threshold=0.37)
    assert lane.point(False).threshold == 0.37 and lane.point(False).target_fpir is None
    assert lane.point(True).target_fpir == 0.01  # the masked path still follows the target


def test_verdict_states_the_operating_point() -> None:
    e = engine(vision(match_margin=0.07, fusion={"frames": 1}), [3], CAL)
    v = e.decide(ev(Match("alice", 0.6)))
    assert v.to_json()["operating_point"] == {
        "threshold": 0.4,
        "margin": 0.07,
        "gallery_size": 3,
        "masked": False,
        "target_fpir": None,
        "predicted_fpir": float(f"{fpir(TAIL.far_at(0.4), 3):.3g}"),
    }
    assert engine(vision(), mode="free").decide(ev(None)).point is None  # no face judged


def _write(path: Path, embedder: str) -> Path:
    cal = Calibration(embedder, TAIL, None, "test")
    path.write_text(json.dumps(cal.to_json()))
    return path


def test_calibration_for_another_embedder_is_refused(tmp_path: Path) -> None:
    other = _write(tmp_path / "cal.json", "fr_feature@another")
    with pytest.raises(CalibrationError, match="made for embedder fr_feature@another.*fr_feature@test"):
        find_calibration(vision(calibration=other), EMBEDDER, tmp_path / "none")
    with pytest.raises(CalibrationError, match="target_fpir needs a calibration"):
        find_calibration(vision(target_fpir=0.01), EMBEDDER, tmp_path / "none")
    assert find_calibration(vision(), EMBEDDER, tmp_path / "none") is None


def test_packaged_calibration_of_the_configured_embedder_is_found(tmp_path: Path) -> None:
    _write(tmp_path / "calibration-a.json", "fr_feature@another")
    _write(tmp_path / "calibration-b.json", EMBEDDER)
    (tmp_path / "calibration-c.json").write_text("{not json")  # skipped with a warning, not fatal
    cal = find_calibration(vision(target_fpir=0.01), EMBEDDER, tmp_path)
    assert cal is not None and cal.embedder == EMBEDDER


def test_track_identity_fuses_and_counts_agreement() -> None:
    rng = np.random.default_rng(3)
    face = rng.standard_normal(512).astype(np.float32)
    t = TrackIdentity()
    for i, first in enumerate(["alice", "bob", "alice"]):
        t.add(face + 0.5 * rng.standard_normal(512).astype(np.float32) * (i + 1), first)
    assert t.frames == 3 and t.agreeing("alice", 3) == 2 and t.agreeing("carol", 3) == 0
    assert t.agreeing("bob", 2) == 1 and t.agreeing("alice", 1) == 1  # the newest k only
    fused = t.mean(3)
    assert abs(float(np.linalg.norm(fused)) - 1.0) < 1e-5
    cos = float(fused @ face / np.linalg.norm(face))
    assert cos > max(
        float(v @ face / np.linalg.norm(face)) for v in t.vectors[1:]
    )  # steadier than noisy ones
    with pytest.raises(ValueError):
        t.add(np.zeros(512, np.float32), "x")


def test_explicit_thresholds_are_floors_under_a_target() -> None:
    """A target FPIR never loosens a small gallery below the configured threshold."""
    one = OperatingPoints((0.4, 0.5), 0.05, target_fpir=0.01, calibration=CAL, gallery_size=lambda: 1)
    free = threshold_for_fpir(CAL.tail(False), 1, 0.01).threshold
    assert free < 0.4  # the calibration alone would allow a looser threshold for one person
    point = one.point(False)
    assert point.threshold == 0.4 and point.target_fpir == 0.01
    assert point.predicted_fpir is not None and point.predicted_fpir <= 0.01


def test_the_default_target_needs_a_calibration_but_an_operators_target_must_have_one(tmp_path: Path) -> None:
    default = VisionConfig.model_validate({})
    assert default.target_fpir == 0.01
    assert find_calibration(default, EMBEDDER, tmp_path / "none") is None  # falls back to the floors
    points = OperatingPoints.from_config(PolicyConfig.model_validate({}), default, None, lambda: 5000)
    assert (
        points.point(False).target_fpir is None and points.point(False).threshold == default.match_threshold
    )
    with pytest.raises(CalibrationError, match="target_fpir needs a calibration"):
        find_calibration(VisionConfig.model_validate({"target_fpir": 0.01}), EMBEDDER, tmp_path / "none")
