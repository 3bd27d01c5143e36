"""The passage state machine of one lane: idle → deciding → granted → passed / timed out; denied.

It turns decisions and gate passage reports into gate commands and events. One grant lets one person
through: a second passage on the same grant raises a tailgating alarm. Time is passed in, never read,
so every transition is tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class State(str, Enum):
    IDLE = "idle"
    DECIDING = "deciding"
    GRANTED = "granted"
    PASSED = "passed"
    TIMED_OUT = "timed_out"
    DENIED = "denied"


@dataclass(frozen=True)
class Action:
    """What the daemon must do: ``open``/``close`` the gate, or publish an event of ``kind``."""

    kind: str  # "open" | "close" | "event"
    event: str | None = (
        None  # passage.granted, passage.denied, passage.passed, passage.timeout, alarm.tailgating
    )
    data: dict[str, object] = field(default_factory=dict)


@dataclass
class Grant:
    track_id: int
    person_id: str | None
    since: float
    passages: int = 0


class PassageMachine:
    def __init__(self, grant_timeout_s: float, denied_hold_s: float):
        self.grant_timeout_s = grant_timeout_s
        self.denied_hold_s = denied_hold_s
        self.state = State.IDLE
        self.grant: Grant | None = None
        self._deciding: set[int] = set()
        self._since = 0.0
        self._last_grant: Grant | None = None  # kept after passage, to catch the person who follows
        self._queued: list[Grant] = []  # people granted while the gate was already open for someone

    def _enter(self, state: State, now: float) -> None:
        self.state, self._since = state, now

    def deciding(self, track_id: int, now: float) -> None:
        """A person is being decided (shown as ``deciding`` unless a grant is open)."""
        self._deciding.add(track_id)
        if self.state in (State.IDLE, State.PASSED, State.TIMED_OUT):
            self._enter(State.DECIDING, now)

    def forget(self, track_id: int, now: float) -> None:
        """The person left before any decision."""
        self._deciding.discard(track_id)
        if self.state is State.DECIDING and not self._deciding:
            self._enter(State.IDLE, now)

    def granted(
        self, track_id: int, person_id: str | None, now: float, data: dict[str, object]
    ) -> list[Action]:
        self._deciding.discard(track_id)
        actions = [Action("event", "passage.granted", {"track_id": track_id, "person_id": person_id, **data})]
        if self.grant is None:
            actions.insert(0, Action("open", data={"track_id": track_id}))
        else:
            # a grant is already open: this person goes next, one passage each
            actions.append(
                Action("event", "passage.queued", {"track_id": track_id, "after": self.grant.track_id})
            )
        if self.grant is None:
            self.grant = Grant(track_id, person_id, now)
        else:
            self._queued.append(Grant(track_id, person_id, now))
        self._enter(State.GRANTED, now)
        return actions

    def denied(
        self, track_id: int, person_id: str | None, now: float, data: dict[str, object]
    ) -> list[Action]:
        self._deciding.discard(track_id)
        if self.state is not State.GRANTED:
            self._enter(State.DENIED, now)
        return [Action("event", "passage.denied", {"track_id": track_id, "person_id": person_id, **data})]

    def passage(self, now: float) -> list[Action]:
        """The gate (or its sensor) reports one person through."""
        if self.grant is None:
            last = self._last_grant
            if last is not None and now - last.since <= self.grant_timeout_s + self.denied_hold_s:
                last.passages += 1
                return [
                    Action(
                        "event",
                        "alarm.tailgating",
                        {"track_id": last.track_id, "person_id": last.person_id, "passages": last.passages},
                    )
                ]
            return [Action("event", "alarm.forced_passage", {})]
        g = self.grant
        g.passages += 1
        actions = [
            Action(
                "event",
                "passage.passed",
                {"track_id": g.track_id, "person_id": g.person_id, "seconds": round(now - g.since, 3)},
            )
        ]
        self._last_grant = g
        if self._queued:
            self.grant = self._queued.pop(0)
            self.grant.since = now
            return actions
        self.grant = None
        self._enter(State.PASSED, now)
        actions.append(Action("close"))
        return actions

    def tick(self, now: float) -> list[Action]:
        """Timeouts: an unused grant closes the gate; ``denied`` and ``passed`` fall back to idle."""
        if self.grant is not None and now - self.grant.since >= self.grant_timeout_s:
            g = self.grant
            self._queued.clear()
            self.grant = None
            self._enter(State.TIMED_OUT, now)
            return [
                Action("close"),
                Action("event", "passage.timeout", {"track_id": g.track_id, "person_id": g.person_id}),
            ]
        if (
            self.state in (State.DENIED, State.PASSED, State.TIMED_OUT)
            and now - self._since >= self.denied_hold_s
        ):
            self._enter(State.DECIDING if self._deciding else State.IDLE, now)
        return []

    def reset(self, now: float) -> list[Action]:
        """Mode change or fault: drop any open grant and close the gate."""
        had = self.grant is not None
        self.grant = None
        self._queued.clear()
        self._deciding.clear()
        self._enter(State.IDLE, now)
        return [Action("close")] if had else []
