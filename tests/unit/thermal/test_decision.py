from __future__ import annotations

import pytest

from edged.thermal.config import FeverConfig
from edged.thermal.decision import FeverDecider, trimmed_mean
from edged.thermal.measure import Measurement


def _ok(skin: float, offset: float = 1.2, live: bool = True) -> Measurement:
    return Measurement("ok", site="inner_canthus", skin_c=skin, core_c=skin + offset, live_skin=live)


def test_absolute_threshold_on_the_core_estimate() -> None:
    decider = FeverDecider(FeverConfig(threshold_c=37.5))
    assert decider.decide(_ok(36.29)).decision == "normal"
    high = decider.decide(_ok(36.31))
    assert high.decision == "elevated" and high.threshold_c == 37.5 and high.reading_c == pytest.approx(37.51)


def test_no_verdict_from_bad_data_or_a_spoof() -> None:
    decider = FeverDecider(FeverConfig())
    for m in (
        Measurement("insufficient_resolution", "12 pixels"),
        Measurement("reference_fault", "blackbody occluded"),
        Measurement("bad_frame", "NaN"),
        _ok(38.0, live=False),
    ):
        verdict = decider.decide(m)
        assert verdict.decision == "no_decision" and verdict.reading_c is None


def test_trimmed_mean_drops_extremes() -> None:
    assert trimmed_mean([35.0, 35.2, 35.4, 39.0, 30.0], 1) == pytest.approx(35.2)
    assert trimmed_mean([1.0, 2.0], 0) == 1.5


def test_relative_mode_alarms_above_the_running_average() -> None:
    cfg = FeverConfig(
        mode="relative",
        relative_delta_c=1.0,
        relative_window=10,
        relative_trim=1,
        relative_min_people=5,
        threshold_c=37.5,
    )
    decider = FeverDecider(cfg)
    first = decider.decide(_ok(34.0))  # no history yet: absolute mode, and says so
    assert first.mode == "absolute" and "absolute" in first.reason
    for skin in (34.1, 33.9, 34.2, 34.0, 33.8):
        decider.decide(_ok(skin))
    base = decider.baseline_c()
    assert base is not None and 33.9 < base < 34.1
    # 35.4 is normal in absolute terms (core 36.6) but 1.4 °C above the people before
    verdict = decider.decide(_ok(35.4))
    assert verdict.mode == "relative" and verdict.decision == "elevated"
    assert verdict.threshold_c == pytest.approx(base + 1.0)
    assert decider.decide(_ok(34.3)).decision == "normal"


def test_relative_mode_follows_a_warm_day() -> None:
    decider = FeverDecider(FeverConfig(mode="relative", relative_window=10, relative_min_people=5))
    for i in range(30):
        decider.decide(_ok(35.5 + 0.01 * (i % 3)))
    # everybody is warm today: 35.6 is not elevated relative to them
    assert decider.decide(_ok(35.6)).decision == "normal"


def test_relative_trim_must_leave_people() -> None:
    with pytest.raises(ValueError, match="whole window"):
        FeverConfig(relative_window=4, relative_trim=2)
