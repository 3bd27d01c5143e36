"""The gate group of ``edged bench faults``: lost Modbus reply, late OSDP open, gate_fault debounce."""

from __future__ import annotations

from pathlib import Path

from edged.faults import run_all


def test_gate_fault_scenarios_pass(tmp_path: Path) -> None:
    report = run_all(tmp_path, only=["gate"])
    names = {r["name"]: r for r in report["results"]}
    assert set(names) == {"modbus_lost_reply", "osdp_late_open", "gate_fault_debounce"}
    failed = {name: r["observed"] for name, r in names.items() if not r["ok"]}
    assert not failed, failed
