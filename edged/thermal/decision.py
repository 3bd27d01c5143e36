"""Fever decision for one person: absolute threshold on the estimated core temperature, or the relative
(elevated-skin-temperature) mode: alarm when the skin reading exceeds a trimmed running average of the last
N people by more than a delta (the FLIR screening practice: drop the highest and lowest, average the rest).

Call :meth:`FeverDecider.decide` once per person (per track), never per frame: the relative mode's window
counts people. Measurements that are not ``ok`` or not live skin give ``no_decision`` and do not enter it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from edged.thermal.config import FeverConfig
from edged.thermal.measure import Measurement

Decision = Literal["normal", "elevated", "no_decision"]


@dataclass(frozen=True)
class FeverVerdict:
    decision: Decision
    mode: Literal["absolute", "relative"]
    threshold_c: float | None  # what the reading was compared with (core °C, or skin °C in relative mode)
    reading_c: float | None
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "mode": self.mode,
            "threshold_c": None if self.threshold_c is None else round(self.threshold_c, 2),
            "reading_c": None if self.reading_c is None else round(self.reading_c, 2),
            "reason": self.reason,
        }


def trimmed_mean(values: list[float], trim: int) -> float:
    ordered = sorted(values)
    kept = ordered[trim : len(ordered) - trim] if trim else ordered
    return sum(kept) / len(kept)


class FeverDecider:
    def __init__(self, config: FeverConfig):
        self.config = config
        self._recent_skin: deque[float] = deque(maxlen=config.relative_window)

    def baseline_c(self) -> float | None:
        """The relative mode's current trimmed running average of skin readings, once enough people passed."""
        if len(self._recent_skin) < max(self.config.relative_min_people, 2 * self.config.relative_trim + 1):
            return None
        return trimmed_mean(list(self._recent_skin), self.config.relative_trim)

    def decide(self, m: Measurement) -> FeverVerdict:
        c = self.config
        if m.status != "ok" or m.core_c is None or m.skin_c is None:
            return FeverVerdict(
                "no_decision", c.mode, None, None, f"no valid reading ({m.status}: {m.detail})"
            )
        if not m.live_skin:
            return FeverVerdict("no_decision", c.mode, None, None, f"not live skin: {m.liveness_detail}")
        verdict = self.judge(m.core_c, m.skin_c)
        self.enter(m.skin_c)
        return verdict

    def judge(self, core_c: float, relative_c: float) -> FeverVerdict:
        """One person's valid reading judged against the rule, without entering it into the window:
        ``relative_c`` is compared with the running average in relative mode, ``core_c`` with the
        absolute threshold (and in relative mode until enough people passed)."""
        c = self.config
        if c.mode == "relative":
            baseline = self.baseline_c()
            if baseline is not None:
                limit = baseline + c.relative_delta_c
                decision: Decision = "elevated" if relative_c > limit else "normal"
                return FeverVerdict(
                    decision, "relative", limit, relative_c, f"running average {baseline:.2f} °C"
                )
            reason = f"fewer than {c.relative_min_people} people seen: absolute threshold used"
        else:
            reason = ""
        decision = "elevated" if core_c >= c.threshold_c else "normal"
        return FeverVerdict(decision, "absolute", c.threshold_c, core_c, reason)

    def enter(self, relative_c: float) -> None:
        """One decided person's reading joins the relative mode's window (ignored in absolute mode)."""
        if self.config.mode == "relative":
            self._recent_skin.append(relative_c)
