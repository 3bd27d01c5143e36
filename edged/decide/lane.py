"""One lane's control loop body: faces → tracks → evidence → policy verdict → gate command and events.

Runs on the vision thread, one frame at a time. Embedding and liveness run only on a track's best few
frames, and a person is decided once, as soon as the policy says the evidence is enough.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from edged.capture.source import Frame
from edged.decide.fusion import TrackIdentity
from edged.decide.passage import Action, PassageMachine
from edged.decide.policy import Evidence, Match, PolicyEngine, Verdict
from edged.decide.ports import EventSink, IdentityHit, IdentitySearch, ThermalProbe
from edged.gate.driver import GateDriver
from edged.gate.events import GateEvent
from edged.health.metrics import LatencyRecorder
from edged.track import IouTracker, Observation, Track
from edged.vision.faces import Face
from edged.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

MIN_QUALITY_GAIN = 0.05  # a new attempt on a track needs a frame this much better than the ones used


@dataclass
class Case:
    """What is known and done about one track."""

    evidence: Evidence
    usable_at: float | None = None  # capture time of the first usable frame facing this gate
    verdict: Verdict | None = None
    hit: IdentityHit | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    fused: dict[bool, TrackIdentity] = field(default_factory=dict)  # by path: masked-face head or not
    corroborate: int = 0  # frames still to embed right after the last better one (fusion.frames - 1)


@dataclass
class PassageRecord:
    track_id: int
    person_id: str | None
    name: str | None
    decision: str
    reasons: list[str]
    alarms: list[str]
    similarity: float | None
    masked_match: bool  # the match came from the masked-face head and was judged by the masked threshold
    match_threshold: float | None  # the similarity the match had to reach on its path
    runner_up: float | None  # similarity of the best other person
    frames: int | None  # embeddings of the track fused into the similarity
    operating_point: dict[str, Any] | None  # OperatingPoint.to_json() the face was judged at
    mask_state: str | None  # the classifier's "mask" | "no_mask" | "incorrect"; None = not classified
    mask_score: float | None
    liveness: float | None
    temperature_c: float | None
    latency_ms: float | None
    gate: str  # what the gate said

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class LaneController:
    def __init__(
        self,
        *,
        lane: str,
        policy: PolicyEngine,
        pipeline: FacePipeline,
        gate: GateDriver,
        events: EventSink,
        identity: IdentitySearch | None = None,
        thermal: ThermalProbe | None = None,
        latency: LatencyRecorder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lane = lane
        self.policy = policy
        self.pipeline = pipeline
        self.gate = gate
        self.events = events
        self.identity = identity
        self.thermal = thermal
        self.latency = latency or LatencyRecorder()
        self.clock = clock
        self.tracker = IouTracker()
        timing = policy.cfg.timing
        self.machine = PassageMachine(timing.grant_timeout_s, timing.denied_hold_s)
        self.cases: dict[int, Case] = {}
        self.passages: list[PassageRecord] = []
        self.frames = 0
        self.repeats = 0  # grants not repeated for a person granted moments ago (a track that split)
        self.splits = 0  # tracks whose identity evidence a successor took over
        self._granted_at: dict[str, float] = {}
        self._seen: tuple[set[int], float] = (set(), 0.0)  # tracks in the current frame, its time
        self._gate_events: queue.SimpleQueue[GateEvent] = queue.SimpleQueue()
        # called on this thread after each frame with the tracks seen in it (the console's live view)
        self.on_frame: Callable[[Frame, list[Track]], None] | None = None
        gate.add_listener(self._gate_events.put)

    # ---- configuration --------------------------------------------------------------------------
    def set_policy(self, policy: PolicyEngine) -> None:
        """Swap the policy (reload); people already decided stay decided, the others follow the new rules."""
        self.policy = policy
        self.machine.grant_timeout_s = policy.cfg.timing.grant_timeout_s
        self.machine.denied_hold_s = policy.cfg.timing.denied_hold_s

    # ---- per frame ------------------------------------------------------------------------------
    def process(self, frame: Frame) -> None:
        start = self.clock()
        self.latency.add("queue", (start - frame.timestamp) * 1000.0)
        self.pipeline.times.ms.clear()
        faces = self.pipeline.detect(frame.image)
        self.latency.add_all(dict(self.pipeline.times.ms))
        seen, ended = self.tracker.update(faces, frame.image, frame.timestamp, frame.index)
        self._seen = ({t.id for t in seen}, frame.timestamp)
        h, w = frame.image.shape[:2]
        for track in seen:
            self._advance(track, frame, w, h)
        for track in ended:
            self._ended(track)
        if self.on_frame is not None:
            self.on_frame(frame, seen)
        self.tick()
        self.frames += 1
        self.latency.add("frame", (self.clock() - start) * 1000.0)

    def tick(self) -> None:
        """Gate events and timeouts; called every frame and when no frame comes."""
        now = self.clock()
        while True:
            try:
                ev = self._gate_events.get_nowait()
            except queue.Empty:
                break
            self._on_gate_event(ev, now)
        self._apply(self.machine.tick(now))

    def finish(self) -> None:
        """The source ended: decide whoever is still in view with what is known."""
        for track in self.tracker.flush():
            self._ended(track)
        self.tick()

    # ---- one track ------------------------------------------------------------------------------
    def _facing(self, face: Face, w: int, h: int) -> bool:
        rule = self.policy.cfg.facing
        if face.quality is not None and abs(face.quality.yaw_deg) > rule.max_yaw_deg:
            return False
        cx = float(face.box[0] + face.box[2]) / 2.0 / max(w, 1)
        cy = float(face.box[1] + face.box[3]) / 2.0 / max(h, 1)
        x1, y1, x2, y2 = rule.region
        return x1 <= cx <= x2 and y1 <= cy <= y2

    def _case(self, track: Track) -> Case:
        case = self.cases.get(track.id)
        if case is None:
            case = Case(Evidence(lane=self.lane, now=datetime.now(timezone.utc)))
            self.cases[track.id] = case
        return case

    def _advance(self, track: Track, frame: Frame, w: int, h: int) -> None:
        case = self._case(track)
        if case.verdict is not None:
            return
        obs = track.latest
        if obs is None or not self._facing(obs.face, w, h):
            return  # turned away or in the next lane: that gate decides (cross-lane suppression)
        usable = obs.face.quality is None or obs.face.quality.ok
        if case.usable_at is None:
            if not usable:
                return
            case.usable_at = frame.timestamp
            self.machine.deciding(track.id, self.clock())
        ev = case.evidence
        ev.now = datetime.now(timezone.utc)
        policy = self.policy
        if self.thermal is not None and policy.cfg.temperature.rule != "off":
            t0 = time.perf_counter()
            temp = self.thermal.measure(obs.face, frame.timestamp)
            self.latency.add("thermal", (time.perf_counter() - t0) * 1000.0)
            if temp is not None:
                ev.temperatures_c.append(temp)
        if policy.needs_screening or policy.needs_identity:
            cand = track.next_candidate(MIN_QUALITY_GAIN) if ev.attempts < policy.max_attempts else None
            if cand is not None:
                case.corroborate = policy.fusion_frames - 1 if policy.needs_identity else 0
            elif case.corroborate > 0 and ev.attempts < policy.max_attempts:
                cand = self._corroborating(track)
                if cand is not None:
                    case.corroborate -= 1
            if cand is not None:
                self._examine(track, cand, case)
        ev.out_of_time = frame.timestamp - case.usable_at >= policy.cfg.timing.decide_within_s
        self._decide(track, case)

    def _examine(self, track: Track, obs: Observation, case: Case) -> None:
        """Embedding, liveness and mask on one of the track's best frames; updates the evidence."""
        policy = self.policy
        ev = case.evidence
        faces = [obs.face]
        self.pipeline.times.ms.clear()
        if self.pipeline.mask_classifier is not None:  # also picks the embedder: plain or masked-face head
            self.pipeline.classify_masks(obs.frame, faces)
            m = obs.face.mask
            if m is not None and m.score >= ev.mask_score:
                ev.mask_state, ev.mask_score = m.state, m.score
        if policy.needs_identity:
            self.pipeline.embed(faces)
            live = ev.liveness is not None and ev.liveness >= policy.liveness_threshold
            if policy.cfg.liveness.required and not live:  # the best reading counts: once live, enough
                self.pipeline.check_liveness(obs.frame, faces)
                if obs.face.liveness is not None:
                    ev.liveness = max(ev.liveness or 0.0, obs.face.liveness)
            self.latency.add_all(dict(self.pipeline.times.ms))
            if obs.face.embedding is not None and self.identity is not None:
                self._identify(case, obs.face.embedding, obs.face.embedded_by == "masked_head")
        else:
            self.latency.add_all(dict(self.pipeline.times.ms))
        track.mark_used(obs)
        ev.attempts = track.attempts

    @staticmethod
    def _corroborating(track: Track) -> Observation | None:
        """The newest usable frame, not yet embedded, to corroborate the better frame just embedded: a
        grant needs several frames that agree, and they need not be better than the first."""
        obs = track.latest
        if obs is None or obs.used or not (obs.face.quality is None or obs.face.quality.ok):
            return None
        return obs

    def _search(self, embedding: Any) -> IdentityHit | None:
        assert self.identity is not None
        t0 = time.perf_counter()
        hit = self.identity.search(embedding)
        self.latency.add("search", (time.perf_counter() - t0) * 1000.0)
        return hit

    def _identify(self, case: Case, embedding: Any, masked: bool) -> None:
        """Search one embedding, fuse it with the track's others on the same path, and keep the match the
        evidence supports: with ``fusion.frames`` 1 the best single frame, else the fused embedding's."""
        policy, ev = self.policy, case.evidence
        hit = self._search(embedding)
        if hit is None:
            return
        track_identity = case.fused.setdefault(masked, TrackIdentity())
        k = policy.fusion_frames
        if k > 1 and track_identity.frames == 0:
            self._continue_split(case, track_identity, masked, hit.person_id)
        track_identity.add(embedding, hit.person_id)
        if k > 1 and track_identity.frames > 1:
            fused = self._search(track_identity.mean(k))
            if fused is None:
                return
            hit = fused
        agreeing = track_identity.agreeing(hit.person_id, k) if k > 1 else 1
        frames = min(track_identity.frames, k)
        match = Match(hit.person_id, hit.similarity, hit.name, masked, hit.runner_up, frames, agreeing)
        current = ev.match
        if policy.fusion_frames > 1 and current is not None and current.masked != masked:
            # two paths (the mask state changed within the track): the one with more frames counts
            better = (frames, policy.margin(match)) > (current.frames, policy.margin(current))
        else:
            better = (
                current is None or policy.fusion_frames > 1 or policy.margin(match) > policy.margin(current)
            )
        if better:
            ev.match, ev.rights, case.hit = match, hit.rights, hit

    def _continue_split(self, case: Case, into: TrackIdentity, masked: bool, person_id: str) -> None:
        """A lane that falls behind (frames dropped while it embeds) loses a walking person between two
        processed frames, and the tracker starts a new track: the new track takes over the evidence of
        an undecided one that the tracker still holds but did not see in this frame, and whose last
        embedding found the same person first. The old track is then not decided on its own."""
        seen, _ = self._seen
        donors = [
            (t.last_seen, tid, c)
            for tid, c in self.cases.items()
            if c is not case
            and c.verdict is None
            and tid not in seen
            and (t := self.tracker.tracks.get(tid)) is not None
            and masked in c.fused
            and c.fused[masked].firsts[-1:] == [person_id]
        ]
        if not donors:
            return
        _, donor_id, donor = max(donors, key=lambda d: d[0])
        into.adopt(donor.fused[masked], self.policy.fusion_frames - 1)
        if donor.usable_at is not None:  # the person has been deciding since then
            case.usable_at = min(donor.usable_at, case.usable_at or donor.usable_at)
        if donor.evidence.liveness is not None:
            case.evidence.liveness = max(case.evidence.liveness or 0.0, donor.evidence.liveness)
        donor.verdict = Verdict("pending", ("continued",))  # never acted on: the new track decides
        self.machine.forget(donor_id, self.clock())
        self.splits += 1
        log.info("a new track continues track %d (lost while the lane was behind)", donor_id)

    def _decide(self, track: Track, case: Case) -> None:
        t0 = time.perf_counter()
        verdict = self.policy.decide(case.evidence)
        self.latency.add("decide", (time.perf_counter() - t0) * 1000.0)
        if verdict.decision == "pending":
            return
        case.verdict = verdict
        self._act(track.id, case, verdict)

    def _ended(self, track: Track) -> None:
        case = self.cases.pop(track.id, None)
        if case is None or case.verdict is not None:
            return
        if case.usable_at is None:
            return  # never usable or never facing this gate: not ours to decide
        case.evidence.out_of_time = True
        verdict = self.policy.decide(case.evidence)
        if verdict.decision == "pending":
            self.machine.forget(track.id, self.clock())
            return
        case.verdict = verdict
        self._act(track.id, case, verdict)

    # ---- acting ---------------------------------------------------------------------------------
    def _repeat(self, verdict: Verdict, now: float) -> bool:
        """The same person granted again within one passage window: one person, one grant."""
        if verdict.decision != "grant" or verdict.person_id is None:
            return False
        timing = self.policy.cfg.timing
        last = self._granted_at.get(verdict.person_id)
        return last is not None and now - last < timing.grant_timeout_s + timing.denied_hold_s

    def _act(self, track_id: int, case: Case, verdict: Verdict) -> None:
        now = self.clock()
        if self._repeat(verdict, now):
            self.repeats += 1
            self.machine.forget(track_id, now)
            log.info("track %d is a person granted moments ago: no second grant", track_id)
            return
        if verdict.decision == "grant" and verdict.person_id is not None:
            window = self.policy.cfg.timing.grant_timeout_s + self.policy.cfg.timing.denied_hold_s
            self._granted_at = {p: t for p, t in self._granted_at.items() if now - t < window}
            self._granted_at[verdict.person_id] = now
        gate_said = "deny"
        t0 = time.perf_counter()
        record = self._record(track_id, case, verdict, "opening" if verdict.decision == "grant" else "deny")
        data = record.to_json()
        data["direction"] = self.policy.cfg.direction
        if verdict.decision == "grant" and not self._record_first("passage.granted", data):
            # a gate that cannot record what it does does not open: the person is denied
            verdict = Verdict("deny", ("not_recorded", *verdict.reasons), verdict.alarms, verdict.person_id)
            case.verdict = verdict
            record.decision, record.reasons, record.gate = "deny", list(verdict.reasons), "not recorded"
            data.update(decision="deny", reasons=list(verdict.reasons), gate="not recorded")
            self._granted_at.pop(verdict.person_id or "", None)
        if verdict.decision == "grant":
            credential = None
            if case.hit is not None and case.hit.credential and case.hit.credential.isdigit():
                credential = int(case.hit.credential)
            result = self.gate.grant(self.policy.cfg.direction, credential=credential)
            gate_said = "opened" if result.accepted else f"refused: {result.reason}"
            record.gate = gate_said
            if not result.accepted:
                refused = "gate_outcome_unknown" if result.outcome_unknown else "gate_refused"
                verdict = Verdict("deny", (refused, *verdict.reasons), verdict.alarms, verdict.person_id)
                case.verdict = verdict
                record.decision, record.reasons = "deny", list(verdict.reasons)
                data.update(decision="deny", reasons=list(verdict.reasons), gate=gate_said)
                self._granted_at.pop(verdict.person_id or "", None)
        else:
            self.gate.deny()
        self.latency.add("gate", (time.perf_counter() - t0) * 1000.0)
        if case.usable_at is not None:  # first usable frame → gate command (the event's is → decision)
            self.latency.add("decision", (self.clock() - case.usable_at) * 1000.0)
        self.passages.append(record)
        if verdict.decision == "grant":
            recorded = self.machine.granted(track_id, verdict.person_id, now, data)
            self._apply([a for a in recorded if a.event != "passage.granted"])  # committed before opening
        else:
            self._apply(self.machine.denied(track_id, verdict.person_id, now, data))
        for alarm in verdict.alarms:
            self._publish(f"alarm.{alarm}", {"track_id": track_id, "person_id": verdict.person_id})

    def _record(self, track_id: int, case: Case, verdict: Verdict, gate: str) -> PassageRecord:
        ev, point = case.evidence, verdict.point
        latency_ms = (self.clock() - case.usable_at) * 1000.0 if case.usable_at is not None else None
        return PassageRecord(
            track_id=track_id,
            person_id=verdict.person_id,
            name=case.hit.name if case.hit is not None and verdict.person_id else None,
            decision=verdict.decision,
            reasons=list(verdict.reasons),
            alarms=list(verdict.alarms),
            similarity=ev.match.similarity if ev.match is not None else None,
            masked_match=ev.match is not None and ev.match.masked,
            match_threshold=point.threshold if ev.match is not None and point is not None else None,
            runner_up=ev.match.runner_up if ev.match is not None else None,
            frames=ev.match.frames if ev.match is not None else None,
            operating_point=point.to_json() if point is not None else None,
            mask_state=ev.mask_state,
            mask_score=ev.mask_score if ev.mask_state is not None else None,
            liveness=ev.liveness,
            temperature_c=ev.temperature_c,
            latency_ms=latency_ms,
            gate=gate,
        )

    def _record_first(self, kind: str, payload: dict[str, Any]) -> bool:
        """Commit the grant's event before the gate opens; False if it could not be recorded."""
        payload.setdefault("lane", self.lane)
        try:
            self.events.publish(kind, payload)
        except Exception:
            log.exception(
                "passage of track %d could not be recorded: the gate stays shut", payload["track_id"]
            )
            return False
        return True

    def _apply(self, actions: list[Action]) -> None:
        for a in actions:
            if a.kind == "event" and a.event is not None:
                self._publish(a.event, dict(a.data))
            # "open"/"close": the gate driver already opened on grant and re-locks by itself after its pulse

    def _on_gate_event(self, ev: GateEvent, now: float) -> None:
        if ev.kind in ("entered", "exited"):
            self._apply(self.machine.passage(now))
        elif ev.kind in ("tailgating", "forced"):
            self._publish(f"alarm.{ev.kind}", {"direction": ev.direction, "detail": ev.detail})
        elif ev.kind in ("fail_state", "link_down", "link_up", "outcome_unknown", "outcome_confirmed"):
            self._publish(f"gate.{ev.kind}", {"detail": ev.detail})

    def _publish(self, kind: str, payload: dict[str, Any]) -> None:
        payload.setdefault("lane", self.lane)
        try:
            self.events.publish(kind, payload)
        except Exception:  # the outbox must not stop the gate; its own errors are logged there
            log.exception("event %s could not be recorded", kind)
