"""The lane's events as the versioned payloads of ``edged.events``: committed to the durable outbox,
from where the MQTT link publishes them (and keeps them while the broker is away)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, get_args

from edged.events.outbox import OutboxError
from edged.events.payloads import (
    BODY_TYPES,
    AlarmBody,
    AuditBody,
    Body,
    DenyReason,
    Identity,
    Liveness,
    MaskResult,
    OperatingPointBody,
    PassageBody,
    StatusBody,
    Temperature,
)
from edged.events.stream import EventStream, event_topic

log = logging.getLogger(__name__)

DENY_REASONS = frozenset(get_args(DenyReason))
GATE_REASONS = {"gate_refused": "gate_fault"}  # the lane's word for a grant the gate driver refused
# the mask classifier's classes → the passage event's mask states
MASK_STATES: dict[str, Literal["none", "correct", "incorrect"]] = {
    "no_mask": "none",
    "mask": "correct",
    "incorrect": "incorrect",
}
ALARMS = {
    "alarm.tailgating": "tailgating",
    "alarm.forced": "forced_entry",
    "alarm.forced_passage": "forced_entry",
    "alarm.fever": "fever",
    "alarm.spoof": "spoof",
    "alarm.no_mask": "no_mask",
    "alarm.incorrect_mask": "incorrect_mask",
    "alarm.low_quality": "low_quality",
}


# Sends one (topic, payload) to the broker without the outbox; True if it was taken.
DirectSend = Callable[[str, bytes], bool]


class OutboxSink:
    """``EventSink`` over an :class:`EventStream`: one payload per lane event, nothing held in memory.

    When the outbox cannot be written, ``publish`` raises (so the lane knows its passage is not recorded)
    after sending alarms and statuses straight to the broker through ``direct``, under the sequence
    number the failed write left unused."""

    def __init__(self, stream: EventStream, mode: str = "access", direct: DirectSend | None = None) -> None:
        self.stream = stream
        self.mode = mode
        self.direct = direct
        self.components: dict[str, str] = {}
        self.unmapped: dict[str, int] = {}
        self.sent_directly = 0

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        if kind in ("storage.failing", "storage.ok"):
            failing = kind == "storage.failing"
            reason = str(payload.get("reason") or "")
            self.components["storage"] = f"failing: {reason}"[:200] if failing else "ok"
            alarm = AlarmBody(
                alarm="storage_failure",
                severity="critical",
                active=failing,
                detail=(
                    "events cannot be recorded, the gate stays shut: " + reason
                    if failing
                    else "recording again"
                )[:1024],
            )
            failed: OutboxError | None = None
            for item in (alarm, self._status()):
                try:
                    self._emit(item)
                except OutboxError as exc:
                    failed = failed or exc
            if failed is not None:
                raise failed
            return
        body = self.to_body(kind, payload)
        if body is None:
            self.unmapped[kind] = self.unmapped.get(kind, 0) + 1
            return
        self._emit(body)

    def _emit(self, body: Body) -> None:
        try:
            self.stream.emit(body)
        except OutboxError as exc:
            if self.direct is not None and exc.seq is not None and isinstance(body, (AlarmBody, StatusBody)):
                type_ = BODY_TYPES[type(body)]
                event = self.stream.envelope(body, exc.seq)
                if self.direct(event_topic(type_), event.model_dump_json().encode()):
                    self.stream.outbox.sent_instead(type_)
                    self.sent_directly += 1
            raise

    def to_body(self, kind: str, p: dict[str, Any]) -> Body | None:
        lane = str(p.get("lane") or "lane")
        if kind in ("passage.granted", "passage.denied", "passage.timeout"):
            return self._passage(kind, p, lane)
        if kind in ALARMS:
            return AlarmBody(alarm=ALARMS[kind], lane=lane, detail=_detail(p))
        if kind in ("gate.fail_state", "gate.link_down"):
            self.components["gate"] = kind.split(".", 1)[1]
            return AlarmBody(alarm="gate_fault", severity="critical", lane=lane, detail=_detail(p))
        if kind == "gate.link_up":
            self.components["gate"] = "ok"
            return AlarmBody(alarm="gate_fault", active=False, lane=lane, detail=_detail(p))
        if kind == "gate.outcome_unknown":
            self.components["gate"] = "outcome_unknown"
            return AlarmBody(alarm="gate_fault", severity="critical", lane=lane, detail=_detail(p))
        if kind == "gate.outcome_confirmed":
            if self.components.get("gate") != "outcome_unknown":
                return self._status()  # a link fault reported meanwhile stays raised until link_up
            self.components["gate"] = "ok"
            return AlarmBody(alarm="gate_fault", active=False, lane=lane, detail=_detail(p))
        if kind == "camera.status":
            self.components[f"camera.{p.get('camera')}"] = f"{p.get('state')}: {p.get('reason')}"
            return self._status()
        if kind == "config.rejected":
            errors = p.get("errors") or []
            self.components["config"] = "rejected: " + (errors[0] if errors else "invalid")[:200]
            return self._status()
        if kind == "config.reloaded":
            self.mode = str(p.get("mode", self.mode))
            self.components["config"] = "reloaded"
            return self._status()
        if kind == "console.audit":
            return AuditBody.model_validate({k: v for k, v in p.items() if k != "lane"})
        if kind == "daemon.status":
            return self._periodic(p)
        if kind in ("daemon.started", "daemon.stopping"):
            self.mode = str(p.get("mode", self.mode))
            self.components["daemon"] = kind.split(".", 1)[1]
            return self._status()
        return None  # local bookkeeping (passage.passed, passage.queued): not part of the event stream

    def _status(self) -> StatusBody:
        bad = [
            k for k, v in self.components.items() if not v.startswith(("online", "ok", "reloaded", "started"))
        ]
        health = "ok" if not bad else "degraded"
        if any(
            self.components.get(k, "").startswith(("offline", "fail_state", "failing"))
            for k in ("camera.rgb", "gate", "storage")
        ):
            health = "failing"
        gate = self.components.get("gate", "ok")
        return StatusBody(
            health=health,
            components=dict(self.components),
            gate_state="fault" if gate not in ("ok",) else "closed",
            mode=self.mode[:32],
        )

    def _periodic(self, p: dict[str, Any]) -> StatusBody:
        cams = p.get("cameras", {})
        for name, c in cams.items():
            if c["state"] == "online":
                self.components[f"camera.{name}"] = f"online: {c['dropped']} frames dropped"
            else:  # keep the reason it is not delivering
                self.components[f"camera.{name}"] = f"{c['state']}: {c.get('reason', 'unknown')}"[:200]
        base = self._status()
        fps = {name: float(c["fps"]) for name, c in cams.items()}
        return base.model_copy(update={"fps": fps})

    @staticmethod
    def _passage(kind: str, p: dict[str, Any], lane: str) -> PassageBody:
        person = p.get("person_id")
        identity = Identity(person_id=person, display_name=p.get("name")) if person else None
        temp = p.get("temperature_c")
        temperature = None
        if isinstance(temp, (int, float)) and 20.0 <= temp <= 50.0:
            temperature = Temperature(
                celsius=float(temp), site="inner_canthus", fever="fever" in p.get("reasons", ())
            )
        live = p.get("liveness")
        liveness = (
            Liveness(live="spoof" not in p.get("reasons", ()), score=float(live))
            if live is not None
            else None
        )
        reasons = [GATE_REASONS.get(r, r) for r in p.get("reasons", ())]
        reasons = [r for r in reasons if r in DENY_REASONS]
        if kind == "passage.timeout":
            reasons = ["timeout"]
        granted = kind == "passage.granted"
        mode_grant = any(str(r).startswith("mode_") for r in p.get("reasons", ()))
        latency = p.get("latency_ms")
        score = p.get("similarity")
        state = MASK_STATES.get(p.get("mask_state") or "")
        point = p.get("operating_point")
        return PassageBody(
            decision="granted" if granted else "denied",
            reasons=[] if granted else reasons,
            granted_by=_granted_by(p, mode_grant) if granted else None,
            identity=identity,
            score=score,
            match_path=None if score is None else ("masked" if p.get("masked_match") else "plain"),
            threshold=p.get("match_threshold") if score is not None else None,
            runner_up=p.get("runner_up") if score is not None else None,
            frames=p.get("frames") if score is not None else None,
            operating_point=OperatingPointBody.model_validate(point) if isinstance(point, dict) else None,
            mask=MaskResult(state=state, score=p.get("mask_score")) if state else None,
            temperature=temperature,
            liveness=liveness,
            lane=lane,
            direction=p.get("direction", "unknown"),
            latency_ms={"decision": round(float(latency), 2)} if isinstance(latency, (int, float)) else {},
        )


def _granted_by(p: dict[str, Any], mode_grant: bool) -> Literal["face", "remote", "free_mode"]:
    if p.get("remote"):
        return "remote"
    return "free_mode" if mode_grant else "face"


def _detail(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "lane" and v not in (None, ""))[:1024]
