"""The fault-injection suite behind ``edged bench faults``: the daemon and its parts, driven against real
peers (mosquitto, pymodbus and libosdp on ptys) through each failure a gate must survive.

Each group lives in its own module and lists its scenarios in ``SCENARIOS``; a scenario is a plain
function that takes a scratch folder and returns what it observed. ``ok`` is decided by the scenario from
what it observed (relay state, events published against received, commands answered), never assumed.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# One module per group of faults; each defines ``SCENARIOS: list[Scenario]``.
GROUP_MODULES = (
    "edged.faults.gate_faults",
    "edged.faults.command_faults",
    "edged.faults.outbox_faults",
    "edged.faults.hostile_faults",
)


@dataclass(frozen=True)
class Outcome:
    """What one scenario saw: ``ok`` and the observations that decided it."""

    ok: bool
    observed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str
    run: Callable[[Path], Outcome]


def all_scenarios() -> list[Scenario]:
    scenarios: list[Scenario] = []
    for name in GROUP_MODULES:
        scenarios.extend(importlib.import_module(name).SCENARIOS)
    return scenarios


def run_scenario(scenario: Scenario, workdir: Path) -> dict[str, Any]:
    """Run one scenario in its own folder; an exception fails it with its traceback's last line."""
    folder = workdir / scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        outcome = scenario.run(folder)
    except Exception as exc:  # a crashing scenario is reported as failed, never hides the others
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        outcome = Outcome(False, {"error": last})
    return {
        "name": scenario.name,
        "group": scenario.group,
        "ok": outcome.ok,
        "seconds": round(time.monotonic() - t0, 2),
        "observed": outcome.observed,
    }


def run_all(workdir: Path, only: list[str] | None = None) -> dict[str, Any]:
    chosen = [s for s in all_scenarios() if not only or s.name in only or s.group in only]
    results = [run_scenario(s, workdir) for s in chosen]
    passed = sum(1 for r in results if r["ok"])
    return {
        "scenarios": len(results),
        "groups": sorted({r["group"] for r in results}),
        "passed": passed,
        "failed": len(results) - passed,
        "results": results,
    }
