"""Passage-sensor inputs as the drivers read them: parsing an input report and finding rising edges."""

from __future__ import annotations

from collections.abc import Mapping

from edged.gate.events import Direction


def report_states(report: object, sensors: Mapping[Direction, int]) -> dict[Direction, bool] | None:
    """States of the wired sensors from an OSDP input status report (one byte per input, non-zero = active).

    ``None`` when the report is not bytes; inputs beyond a short report read as inactive.
    """
    if not isinstance(report, (bytes, bytearray)):
        return None
    return {direction: number < len(report) and report[number] != 0 for direction, number in sensors.items()}


def rising_edges(
    previous: Mapping[Direction, bool] | None, current: Mapping[Direction, bool]
) -> list[Direction]:
    """Directions whose sensor went from inactive to active; none against an unknown baseline."""
    if previous is None:
        return []
    return [d for d, on in current.items() if on and not previous.get(d, False)]
