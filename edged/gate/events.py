"""What a gate driver reports: passage events, alarms and its health."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["in", "out"]
GateMode = Literal["normal", "free_passage", "locked"]
DIRECTIONS: tuple[Direction, ...] = ("in", "out")

EventKind = Literal[
    "entered",  # a granted person passed inwards
    "exited",  # a granted person passed outwards
    "timeout",  # a grant expired with nobody passing
    "tailgating",  # a second passage on one grant, before the gate re-locked
    "forced",  # a passage while the gate was locked and nobody was granted
    "passage",  # a passage in free-passage mode (no grant needed)
    "fail_state",  # the gate went to its fail state (stop, lost heartbeat)
    "link_down",  # the serial peer stopped answering (debounced)
    "link_up",  # the serial peer answers again (debounced)
    "outcome_unknown",  # a command got no reply: the outputs are forced off, grants refused meanwhile
    "outcome_confirmed",  # the forced-off outputs are confirmed by the peer
    "feedback",  # reader mode: LED or buzzer command from the panel
]


@dataclass(frozen=True)
class GateEvent:
    kind: EventKind
    direction: Direction | None = None
    grant_id: int | None = None
    detail: str = ""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class GateHealth:
    ok: bool
    driver: str
    mode: GateMode
    link_up: bool
    fail_state_active: bool
    reconnects: int = 0
    errors: int = 0
    last_error: str = ""
    pending_grants: int = 0
    extra: dict[str, object] = field(default_factory=dict)
