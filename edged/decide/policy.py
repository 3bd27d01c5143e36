"""The policy engine: evidence about one person in, one verdict out (grant, deny, or not yet).

Synchronous, and pure but for the relative fever mode's window of recent people, so every rule is tested
directly; the daemon feeds it as evidence arrives and acts on the first verdict that is not ``pending``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from edged.decide.config import PersonRights, PolicyConfig
from edged.decide.operating import OperatingPoints
from edged.identity.operating_point import OperatingPoint, passes_margin
from edged.thermal.config import FeverConfig
from edged.thermal.decision import FeverDecider
from edged.vision.config import VisionConfig

Decision = Literal["grant", "deny", "pending"]


@dataclass(frozen=True)
class Match:
    person_id: str
    similarity: float
    name: str | None = None
    masked: bool = False  # the probe was embedded by the masked-face head: judged by the masked threshold
    runner_up: float | None = None  # similarity of the best *other* person (None: nobody else enrolled)
    frames: int = 1  # embeddings of the track fused into ``similarity``
    agreeing: int = 1  # of those, how many found this person first on their own


@dataclass
class Evidence:
    """What is known about one person (one track) so far."""

    lane: str
    now: datetime
    match: Match | None = None  # best gallery match over the attempts so far (None: nobody above any floor)
    attempts: int = 0  # identity attempts made (embeddings searched)
    liveness: float | None = None  # best live probability seen
    mask_state: str | None = None  # "mask" | "no_mask" | "incorrect", None = unknown
    mask_score: float = 0.0
    temperatures_c: list[float] = field(default_factory=list)
    out_of_time: bool = False  # decide_within_s passed, or the person left: decide with what is known
    rights: PersonRights | None = None  # the matched person's validity and lanes from the gallery
    temperature_entered: bool = False  # this person's reading joined the relative fever window

    @property
    def temperature_c(self) -> float | None:
        return statistics.median(self.temperatures_c) if self.temperatures_c else None


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    # why denied, in the events' vocabulary (edged.events.payloads.DenyReason); or why still pending
    reasons: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()  # soft-rule breaches: allowed, but raised
    person_id: str | None = None
    point: OperatingPoint | None = None  # what the face was judged against (None: no face was judged)

    def to_json(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "alarms": list(self.alarms),
            "person_id": self.person_id,
            "operating_point": self.point.to_json() if self.point is not None else None,
        }


class PolicyEngine:
    """``fever`` says whether a person's fused temperature is a fever (``thermal.fever``: absolute, or
    relative to the recent people); it is the one piece of state, shared across reloads by the daemon.
    ``points``: thresholds from a calibration and the gallery's size; default: the explicit ones."""

    def __init__(
        self,
        cfg: PolicyConfig,
        vision: VisionConfig | None = None,
        points: OperatingPoints | None = None,
        fever: FeverDecider | None = None,
    ):
        vision = vision or VisionConfig.model_validate({})
        self.cfg = cfg
        self.fever = fever or FeverDecider(FeverConfig())
        self.points = points or OperatingPoints.from_config(cfg, vision)
        self.fusion_frames = vision.fusion.frames
        # each attempt on a better frame is corroborated by fusion.frames - 1 frames right after it
        self.max_attempts = cfg.timing.max_attempts * self.fusion_frames
        self.liveness_threshold = (
            cfg.liveness.threshold if cfg.liveness.threshold is not None else vision.liveness_threshold
        )

    @property
    def needs_identity(self) -> bool:
        return self.cfg.mode == "access"

    @property
    def needs_screening(self) -> bool:
        return self.cfg.mode in ("access", "screening")

    def point(self, masked: bool) -> OperatingPoint:
        return self.points.point(masked)

    def threshold_for(self, masked: bool) -> float:
        return self.points.point(masked).threshold

    def margin(self, match: Match) -> float:
        """How far a match is above its own path's threshold: matches from either path compare on this."""
        return match.similarity - self.threshold_for(match.masked)

    def decide(self, ev: Evidence) -> Verdict:
        verdict = self._verdict(ev)
        t = ev.temperature_c
        judged = self.cfg.temperature.rule != "off" and self.needs_screening
        if judged and verdict.decision != "pending" and t is not None and not ev.temperature_entered:
            self.fever.enter(t)  # once per person: the relative window counts people, not frames
            ev.temperature_entered = True
        return verdict

    def _verdict(self, ev: Evidence) -> Verdict:
        mode = self.cfg.mode
        if mode == "locked":
            return Verdict("deny", ("mode_locked",))
        if mode in ("free", "emergency"):
            return Verdict("grant", (f"mode_{mode}",))
        deny: list[str] = []
        wait: list[str] = []
        alarms: list[str] = []
        person: str | None = None
        point: OperatingPoint | None = None
        if mode == "access":
            point = self.point(ev.match is not None and ev.match.masked)
            person = self._identity(ev, point, deny, wait)
        self._mask(ev, deny, wait, alarms)
        self._temperature(ev, deny, wait, alarms)
        if deny and not wait:
            return Verdict("deny", tuple(deny), tuple(alarms), person, point)
        if deny and self._hard_deny_is_final(deny):
            return Verdict("deny", tuple(deny), tuple(alarms), person, point)
        if wait:
            return Verdict("pending", tuple(wait), tuple(alarms), person, point)
        return Verdict("grant", (), tuple(alarms), person, point)

    @staticmethod
    def _hard_deny_is_final(deny: list[str]) -> bool:
        """A blocked, expired or feverish person is denied at once: more frames will not change that."""
        final = {"outside_validity", "not_allowed_on_lane", "fever", "no_mask", "incorrect_mask"}
        return any(r in final for r in deny)

    def _identity(self, ev: Evidence, point: OperatingPoint, deny: list[str], wait: list[str]) -> str | None:
        """Above the threshold, ahead of every other person by the margin, and found by enough frames."""
        cfg = self.cfg
        more = ev.attempts < self.max_attempts and not ev.out_of_time
        match = ev.match
        if match is None or match.similarity < point.threshold:
            (wait if more else deny).append("identity_pending" if more else "unknown")
            return None
        if not passes_margin(match.similarity, match.runner_up, point.margin):
            (wait if more else deny).append("identity_pending" if more else "ambiguous_match")
            return None
        if match.agreeing < self.fusion_frames:
            (wait if more else deny).append("identity_pending" if more else "unconfirmed_match")
            return None
        person = match.person_id
        if cfg.liveness.required and (ev.liveness is None or ev.liveness < self.liveness_threshold):
            (wait if more else deny).append("liveness_pending" if more else "spoof")
        rights = cfg.people.get(person) or ev.rights
        if rights is not None:
            now = ev.now
            outside = rights.blocked
            outside |= bool(rights.valid_from and now < _aware_like(rights.valid_from, now))
            outside |= bool(rights.valid_until and now >= _aware_like(rights.valid_until, now))
            if outside:
                deny.append("outside_validity")
            if rights.lanes is not None and ev.lane not in rights.lanes:
                deny.append("not_allowed_on_lane")
        return person

    def _mask(self, ev: Evidence, deny: list[str], wait: list[str], alarms: list[str]) -> None:
        rule = self.cfg.mask
        if rule.rule == "off":
            return
        known = ev.mask_state is not None and ev.mask_score >= rule.min_score
        if not known:
            if not ev.out_of_time:
                wait.append("mask_pending")
                return
            (deny if rule.rule == "hard" else alarms).append("low_quality")
            return
        if ev.mask_state != "mask":
            reason = "incorrect_mask" if ev.mask_state == "incorrect" else "no_mask"
            (deny if rule.rule == "hard" else alarms).append(reason)

    def _temperature(self, ev: Evidence, deny: list[str], wait: list[str], alarms: list[str]) -> None:
        rule = self.cfg.temperature
        if rule.rule == "off":
            return
        if len(ev.temperatures_c) < rule.min_samples:
            if not ev.out_of_time:
                wait.append("temperature_pending")
                return
            if not ev.temperatures_c:
                (deny if rule.rule == "hard" else alarms).append("low_quality")
                return
        t = ev.temperature_c
        assert t is not None
        # the fused core estimate both ways: the site's skin offset makes forehead and canthus comparable
        if self.fever.judge(t, t).decision == "elevated":
            (deny if rule.rule == "hard" else alarms).append("fever")


def _aware_like(value: datetime, ref: datetime) -> datetime:
    """Compare naive config times as local wall-clock time against an aware ``ref`` (and vice versa)."""
    if (value.tzinfo is None) == (ref.tzinfo is None):
        return value
    if value.tzinfo is None:
        return value.astimezone()  # naive = local time
    return value.astimezone().replace(tzinfo=None)
