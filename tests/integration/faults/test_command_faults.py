"""The ``commands`` fault scenarios against the real daemon and a real mosquitto: hostile messages, a junk
flood, bad enrolment arguments, a dead command thread and a broker outage. Each must pass."""

from __future__ import annotations

from pathlib import Path

from edged.faults import run_all


def test_command_fault_scenarios_pass(tmp_path: Path, models_dir: Path) -> None:
    report = run_all(tmp_path, only=["commands"])
    failed = [(r["name"], r["observed"]) for r in report["results"] if not r["ok"]]
    names = {r["name"] for r in report["results"]}
    assert names >= {"command_thread_survives", "junk_flood", "enroll_bad_args", "broker_reconnect"}
    assert not failed, failed
