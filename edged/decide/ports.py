"""What the lane controller needs from the parts around it, as small protocols (so each side can change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edged.decide.config import PersonRights
from edged.vision.faces import Face


@dataclass(frozen=True)
class IdentityHit:
    person_id: str
    similarity: float
    name: str | None = None
    credential: str | None = None
    rights: PersonRights | None = None
    runner_up: float | None = None  # similarity of the best other person; None when nobody else is enrolled


class IdentitySearch(Protocol):
    def search(self, embedding: np.ndarray) -> IdentityHit | None:
        """The best-matching enrolled person (whatever the score), or ``None`` for an empty gallery."""

    def gallery_size(self) -> int:
        """How many people are enrolled (the N of the 1:N search that sets the threshold)."""


class ThermalProbe(Protocol):
    def measure(self, face: Face, rgb_timestamp: float) -> float | None:
        """Body temperature estimate (°C) for this face from the thermal frame nearest in time, if any."""


class EventSink(Protocol):
    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Record one event durably; must not block on the network."""
