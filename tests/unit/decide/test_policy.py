from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edged.decide.config import PolicyConfig
from edged.decide.policy import Evidence, Match, PolicyEngine
from edged.vision.config import VisionConfig

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


def engine(**kw: object) -> PolicyEngine:
    """Single-frame decisions (``fusion.frames`` 1): these tests are about the other rules; fusion and
    the margin are tested in test_policy_fusion.py."""
    vision = VisionConfig.model_validate(
        {"match_threshold": 0.4, "masked_match_threshold": 0.5, "fusion": {"frames": 1}}
    )
    return PolicyEngine(PolicyConfig.model_validate(kw), vision)


def ev(**kw: object) -> Evidence:
    base: dict[str, object] = {"lane": "lane-1", "now": NOW, "attempts": 1, "liveness": 0.9}
    base.update(kw)
    return Evidence(**base)  # type: ignore[arg-type]


def test_access_grants_a_live_match_above_threshold() -> None:
    v = engine().decide(ev(match=Match("alice", 0.55)))
    assert v.decision == "grant" and v.person_id == "alice" and v.reasons == ()


def test_access_waits_then_denies_an_unknown_face() -> None:
    e = engine(timing={"max_attempts": 2})
    assert e.decide(ev(match=Match("bob", 0.39), attempts=1)).decision == "pending"
    v = e.decide(ev(match=Match("bob", 0.39), attempts=2))
    assert v.decision == "deny" and v.reasons == ("unknown",)
    assert e.decide(ev(match=None, attempts=1, out_of_time=True)).reasons == ("unknown",)


def test_masked_faces_use_their_own_threshold() -> None:
    """A match made by the masked-face head is judged against the masked threshold, whatever the mask
    state's best reading says; a plain embedding against the plain one."""
    e = engine(timing={"max_attempts": 1})
    assert e.decide(ev(match=Match("a", 0.45), mask_state="no_mask", mask_score=0.9)).decision == "grant"
    v = e.decide(ev(match=Match("a", 0.45, masked=True), mask_state="mask", mask_score=0.9))
    assert v.decision == "deny" and "unknown" in v.reasons
    masked = Match("a", 0.51, masked=True)
    assert e.decide(ev(match=masked, mask_state="mask", mask_score=0.9)).decision == "grant"
    assert e.decide(ev(match=Match("a", 0.45), mask_state="mask", mask_score=0.9)).decision == "grant"


def test_matches_from_the_two_paths_compare_by_margin_over_their_threshold() -> None:
    e = engine()
    assert e.margin(Match("a", 0.45)) == pytest.approx(0.05)
    assert e.margin(Match("a", 0.45, masked=True)) == pytest.approx(-0.05)


def test_policy_thresholds_override_vision_defaults() -> None:
    e = engine(match_threshold=0.6, timing={"max_attempts": 1})
    assert e.decide(ev(match=Match("a", 0.55))).decision == "deny"


def test_liveness_required_and_threshold() -> None:
    e = engine(liveness={"threshold": 0.8}, timing={"max_attempts": 1})
    v = e.decide(ev(match=Match("a", 0.9), liveness=0.7))
    assert v.decision == "deny" and v.reasons == ("spoof",)
    assert (
        engine(liveness={"required": False}).decide(ev(match=Match("a", 0.9), liveness=0.1)).decision
        == "grant"
    )


@pytest.mark.parametrize(
    ("rights", "reason"),
    [
        ({"blocked": True}, "outside_validity"),
        ({"valid_until": "2026-11-01T00:00:00Z"}, "outside_validity"),
        ({"valid_from": "2026-12-01T00:00:00Z"}, "outside_validity"),
        ({"lanes": ["lane-2"]}, "not_allowed_on_lane"),
    ],
)
def test_person_rights_deny_at_once(rights: dict[str, object], reason: str) -> None:
    e = engine(people={"alice": rights}, temperature={"rule": "hard"})
    # even while temperature is still pending, a final reason denies at once
    v = e.decide(ev(match=Match("alice", 0.9)))
    assert v.decision == "deny" and reason in v.reasons


def test_person_rights_that_allow() -> None:
    later = (NOW + timedelta(days=1)).isoformat()
    e = engine(people={"alice": {"valid_until": later, "lanes": ["lane-1"]}})
    assert e.decide(ev(match=Match("alice", 0.9))).decision == "grant"


def test_temperature_hard_and_soft() -> None:
    hard = engine(mode="screening", temperature={"rule": "hard", "min_samples": 3})
    assert hard.decide(ev(temperatures_c=[38.0, 38.1])).decision == "pending"
    v = hard.decide(ev(temperatures_c=[38.0, 38.1, 36.0]))  # median 38.0
    assert v.decision == "deny" and v.reasons == ("fever",)
    assert hard.decide(ev(temperatures_c=[36.5, 36.6, 39.0])).decision == "grant"  # median ignores one spike
    soft = engine(mode="screening", temperature={"rule": "soft", "min_samples": 1})
    v = soft.decide(ev(temperatures_c=[38.4]))
    assert v.decision == "grant" and v.alarms == ("fever",)


def test_temperature_missing_when_time_is_up() -> None:
    hard = engine(mode="screening", temperature={"rule": "hard"})
    assert hard.decide(ev(out_of_time=True)).reasons == ("low_quality",)
    soft = engine(mode="screening", temperature={"rule": "soft"})
    v = soft.decide(ev(out_of_time=True))
    assert v.decision == "grant" and v.alarms == ("low_quality",)


def test_mask_hard_and_soft() -> None:
    hard = engine(mode="screening", mask={"rule": "hard", "min_score": 0.6})
    assert hard.decide(ev()).decision == "pending"
    assert hard.decide(ev(mask_state="mask", mask_score=0.5)).decision == "pending"  # not sure enough
    assert hard.decide(ev(mask_state="mask", mask_score=0.9)).decision == "grant"
    assert hard.decide(ev(mask_state="no_mask", mask_score=0.9)).reasons == ("no_mask",)
    assert hard.decide(ev(mask_state="incorrect", mask_score=0.9)).reasons == ("incorrect_mask",)
    soft = engine(mode="screening", mask={"rule": "soft"})
    v = soft.decide(ev(mask_state="no_mask", mask_score=0.9))
    assert v.decision == "grant" and v.alarms == ("no_mask",)


def test_screening_needs_no_identity() -> None:
    assert engine(mode="screening").decide(ev(match=None, attempts=0)).decision == "grant"


@pytest.mark.parametrize(
    ("mode", "decision"), [("free", "grant"), ("emergency", "grant"), ("locked", "deny")]
)
def test_fixed_modes(mode: str, decision: str) -> None:
    v = engine(mode=mode).decide(ev(match=None, attempts=0, liveness=None))
    assert v.decision == decision and v.reasons == (f"mode_{mode}",)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        PolicyConfig.model_validate({"mode": "open"})
    with pytest.raises(ValueError):
        PolicyConfig.model_validate({"facing": {"region": [0.5, 0, 0.4, 1]}})
    with pytest.raises(ValueError):
        PolicyConfig.model_validate(
            {"people": {"a": {"valid_from": "2026-02-01", "valid_until": "2026-01-01"}}}
        )
    with pytest.raises(ValueError):
        PolicyConfig.model_validate({"temperature": {"rule": "strict"}})


def test_gallery_rights_apply_unless_the_policy_overrides_them() -> None:
    from edged.decide.config import PersonRights

    gallery = PersonRights(lanes=["lane-9"])
    v = engine().decide(ev(match=Match("alice", 0.9), rights=gallery))
    assert v.decision == "deny" and v.reasons == ("not_allowed_on_lane",)
    override = engine(people={"alice": {"lanes": ["lane-1"]}})
    assert override.decide(ev(match=Match("alice", 0.9), rights=gallery)).decision == "grant"
