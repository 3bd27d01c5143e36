"""Fault scenarios: (to be filled by its owner)."""

from __future__ import annotations

from edged.faults import Scenario

SCENARIOS: list[Scenario] = []
