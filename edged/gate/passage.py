"""One grant admits one passage: the bookkeeping behind passage events and the tailgating alarm.

Pure logic with the clock passed in, so every rule is tested without threads or hardware.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from edged.gate.events import Direction, GateEvent, GateMode


@dataclass
class _Grant:
    grant_id: int
    direction: Direction
    expires_at: float  # unused after this: timeout
    open_until: float  # the gate re-locks then
    used_at: float | None = None


class PassageGuard:
    """Pairs sensor passages with grants; alarms on the ones that have no grant of their own."""

    def __init__(self, passage_timeout_s: float, settle_s: float = 0.5) -> None:
        """``settle_s``: sensors report a passage a little after the gate re-locks; the alarm covers it."""
        self._timeout_s = passage_timeout_s
        self._settle_s = settle_s
        self._pending: deque[_Grant] = deque()
        self._used: deque[_Grant] = deque()
        self._next_id = 1

    @property
    def pending(self) -> int:
        return len(self._pending)

    def grant(self, direction: Direction, pulse_s: float, now: float) -> int:
        grant_id = self._next_id
        self._next_id += 1
        self._pending.append(
            _Grant(grant_id, direction, expires_at=now + self._timeout_s, open_until=now + max(pulse_s, 0.0))
        )
        return grant_id

    def passage(self, direction: Direction, mode: GateMode, now: float) -> GateEvent:
        """A person went through in ``direction`` (a sensor edge)."""
        self._drop_old_used(now)
        if mode == "free_passage":
            return GateEvent("passage", direction, detail="free passage")
        for grant in self._pending:
            if grant.direction == direction and grant.expires_at > now:
                self._pending.remove(grant)
                grant.used_at = now
                grant.open_until = max(grant.open_until, now)
                self._used.append(grant)
                return GateEvent("entered" if direction == "in" else "exited", direction, grant.grant_id)
        for grant in reversed(self._used):
            if grant.direction == direction and now <= grant.open_until + self._settle_s:
                return GateEvent(
                    "tailgating", direction, grant.grant_id, detail="second passage on one grant"
                )
        return GateEvent("forced", direction, detail="passage without a grant while locked")

    def expire(self, now: float) -> list[GateEvent]:
        """Timeouts of grants nobody used."""
        expired = [g for g in self._pending if g.expires_at <= now]
        self._pending = deque(g for g in self._pending if g.expires_at > now)
        events = [GateEvent("timeout", g.direction, g.grant_id, detail="nobody passed") for g in expired]
        self._drop_old_used(now)
        return events

    def cancel_all(self) -> list[int]:
        """Forget pending grants (mode change, fail state); returns their ids."""
        ids = [g.grant_id for g in self._pending]
        self._pending.clear()
        return ids

    def _drop_old_used(self, now: float) -> None:
        while self._used and now > self._used[0].open_until + self._settle_s + self._timeout_s:
            self._used.popleft()
